"""Helpers for the preflight scenario: run ansible-playbook the way a user does."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

SCENARIO = Path(__file__).resolve().parents[1]
PROJECT = SCENARIO.parents[1]
VALIDATE_INVENTORY = PROJECT / "playbooks" / "validate-inventory.yml"
CONVERGE = SCENARIO / "converge.yml"


class Run:
    """Result of one ansible-playbook run; text is the output with whitespace collapsed."""

    def __init__(self, process: subprocess.CompletedProcess[str]) -> None:
        self.rc = process.returncode
        self.output = process.stdout
        self.text = " ".join(process.stdout.split())

    def __repr__(self) -> str:
        return f"rc={self.rc}\n{self.output}"


def _ansible_playbook() -> str:
    beside_python = Path(sys.executable).parent / "ansible-playbook"
    found = str(beside_python) if beside_python.exists() else shutil.which("ansible-playbook")
    assert found, "ansible-playbook not found"
    return found


def run_playbook(args: list[str], env: Mapping[str, str]) -> Run:
    plain = {"ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0", "PY_COLORS": "0"}
    process = subprocess.run(
        [_ansible_playbook(), *args],
        env={**env, **plain},
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
        check=False,
    )
    return Run(process)


@pytest.fixture
def validate_inventory() -> Callable[[Path], Run]:
    """Run playbooks/validate-inventory.yml as `keelson inventory validate` does: the project's
    ansible.cfg and nothing from molecule's environment."""

    def run(inventory: Path) -> Run:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "MOLECULE_"))}
        env["ANSIBLE_CONFIG"] = str(PROJECT / "ansible.cfg")
        return run_playbook(["-i", str(inventory), str(VALIDATE_INVENTORY)], env)

    return run


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
