"""Helpers for the etcd scenario: reach every member, run etcdctl as admin, run converge.yml."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import testinfra
import yaml
from cryptography import x509

SCENARIO = Path(__file__).resolve().parents[1]
PROJECT = SCENARIO.parents[1]
CONVERGE = SCENARIO / "converge.yml"
MEMBERS = ("etcd-host1", "etcd-host2", "etcd-host3")
CONFIG = "/etc/etcd/etcd.conf.yml"
PKI = "/etc/etcd/pki"


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


def inventory() -> str:
    """Molecule's inventory directory: the generated hosts plus molecule.yml's groups and vars."""
    inventory_file = os.environ.get("MOLECULE_INVENTORY_FILE")
    if not inventory_file:
        pytest.skip("needs the hosts of `molecule test -s etcd`")
    return str(Path(inventory_file).parent)


def journal(host: Any) -> str:
    return str(host.run("journalctl -u etcd --no-pager -n 40").stdout)


def etcdctl(host: Any, arguments: str) -> Any:
    """etcdctl as admin on host, with the environment file the role writes."""
    return host.run(f"set -a; . /etc/etcd/etcdctl.env; set +a; etcdctl {arguments}")


def etcd_config(host: Any) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load(host.file(CONFIG).content_string)
    return config


def client_url(host: Any) -> str:
    return str(etcd_config(host)["advertise-client-urls"])


def certificate(host: Any, name: str) -> x509.Certificate:
    """The member's certificate name (peer, server or admin)."""
    return x509.load_pem_x509_certificate(host.file(f"{PKI}/{name}.crt").content)


def main_pid(host: Any) -> int:
    return int(host.check_output("systemctl show --property MainPID --value etcd"))


@pytest.fixture(scope="session")
def members() -> dict[str, Any]:
    """Every etcd member by inventory name."""
    return {
        name: testinfra.get_host(f"ansible://{name}", ansible_inventory=inventory())
        for name in MEMBERS
    }


def _ansible_playbook() -> str:
    beside_python = Path(sys.executable).parent / "ansible-playbook"
    found = str(beside_python) if beside_python.exists() else shutil.which("ansible-playbook")
    assert found, "ansible-playbook not found"
    return found


@pytest.fixture(scope="session")
def converge() -> Callable[..., Run]:
    """Run converge.yml on the scenario's hosts as molecule does, with extra variables."""

    def run(**extra_vars: Any) -> Run:
        plain = {"ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0", "PY_COLORS": "0"}
        arguments = ["-e", json.dumps(extra_vars)] if extra_vars else []
        process = subprocess.run(
            [_ansible_playbook(), "-i", inventory(), *arguments, str(CONVERGE)],
            env={**os.environ, **plain},
            cwd=PROJECT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=900,
            check=False,
        )
        return Run(process)

    return run
