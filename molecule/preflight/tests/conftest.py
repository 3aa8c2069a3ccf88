"""Helpers for the preflight scenario: run ansible-playbook the way a user does."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from scenario_helpers import Run, run_playbook

SCENARIO = Path(__file__).resolve().parents[1]
CONVERGE = SCENARIO / "converge.yml"


@pytest.fixture
def on_molecule_hosts() -> Callable[..., Run]:
    """Run a playbook (converge.yml by default) on the scenario's hosts with molecule's config."""
    inventory = os.environ.get("MOLECULE_INVENTORY_FILE")
    if not inventory:
        pytest.skip("needs the hosts of `molecule test -s preflight`")

    def run(*args: str, playbook: Path = CONVERGE, inventories: tuple[Path, ...] = ()) -> Run:
        extra = [arg for path in inventories for arg in ("-i", str(path))]
        return run_playbook(["-i", inventory, *extra, *args, str(playbook)], os.environ)

    return run


@pytest.fixture
def listener_on_9100(host: Any) -> Iterator[Callable[[str], None]]:
    """Start a TCP listener on port 9100 of the host under a given program name."""
    units: list[str] = []

    def start(program: str) -> None:
        path = f"/usr/local/bin/{program}"
        host.run_test("cp /usr/bin/python3 %s", path)
        unit = f"preflight-test-{len(units)}"
        units.append(unit)
        host.run_test("systemd-run --unit %s %s -m http.server 9100", unit, path)
        host.run_test(
            "for i in $(seq 50); do ss -Hltn 'sport = :9100' | grep -q . && exit 0;"
            " sleep 0.1; done; exit 1"
        )

    yield start
    for unit in units:
        host.run("systemctl stop %s", unit)
    host.run("rm -f /usr/local/bin/python3-foreign /usr/local/bin/prometheus-node-exporter")
    assert not host.socket("tcp://0.0.0.0:9100").is_listening
