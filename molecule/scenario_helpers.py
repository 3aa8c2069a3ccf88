"""Helpers shared by the scenarios' testinfra tests (importable through pytest's `pythonpath`
in pyproject.toml): run ansible-playbook as a user does, and check a unit's sandbox."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import testinfra

PROJECT = Path(__file__).resolve().parents[1]
# Plain text output, whatever the caller's environment asks for.
# The sandbox every service unit of keelson's roles puts in force, as `systemctl show` reports it
# (each scenario adds its unit's user and own settings).
SANDBOX = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectControlGroups": "yes",
    "RestrictNamespaces": "yes",
    "CapabilityBoundingSet": "",
}
_PLAIN = {"ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0", "PY_COLORS": "0"}


class Run:
    """Result of one ansible-playbook run; text is the output with whitespace collapsed."""

    def __init__(self, process: subprocess.CompletedProcess[str]) -> None:
        self.rc = process.returncode
        self.output = process.stdout
        self.text = " ".join(process.stdout.split())

    def changed(self, host: str) -> int:
        match = re.search(rf"^{host}\s+:.*\bchanged=(\d+)", self.output, re.MULTILINE)
        assert match, self
        return int(match.group(1))

    def __repr__(self) -> str:
        return f"rc={self.rc}\n{self.output}"


def _ansible_playbook() -> str:
    beside_python = Path(sys.executable).parent / "ansible-playbook"
    found = str(beside_python) if beside_python.exists() else shutil.which("ansible-playbook")
    assert found, "ansible-playbook not found"
    return found


def run_playbook(args: list[str], env: Mapping[str, str], timeout: int = 600) -> Run:
    """ansible-playbook ARGS from the project directory, stdout and stderr together."""
    process = subprocess.run(
        [_ansible_playbook(), *args],
        env={**env, **_PLAIN},
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Run(process)


def main_pid(host: Any, unit: str) -> int:
    return int(host.check_output(f"systemctl show --property MainPID --value {unit}"))


def assert_runs_unprivileged(host: Any, unit: str, user: str) -> None:
    """The unit's main process: no new privileges, no effective capabilities, runs as USER."""
    status = dict(
        line.split(":\t", 1)
        for line in host.file(f"/proc/{main_pid(host, unit)}/status").content_string.splitlines()
        if ":\t" in line
    )
    assert status["NoNewPrivs"] == "1"
    assert int(status["CapEff"], 16) == 0, status["CapEff"]
    assert host.user(user).uid == int(status["Uid"].split()[0])


def molecule_inventory() -> str:
    """Molecule's inventory directory (generated hosts plus molecule.yml's groups and vars);
    outside `molecule test` the calling test is skipped: it needs the scenario's hosts."""
    inventory_file = os.environ.get("MOLECULE_INVENTORY_FILE")
    if not inventory_file:
        pytest.skip("needs the hosts of its molecule scenario (`molecule test -s NAME`)")
    return str(Path(inventory_file).parent)


def molecule_host(name: str) -> Any:
    """The testinfra host NAME of the running scenario."""
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={molecule_inventory()}")
