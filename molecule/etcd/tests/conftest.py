"""Helpers for the etcd scenario: reach every member, run etcdctl as admin, run converge.yml."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import scenario_helpers
import testinfra
import yaml
from cryptography import x509
from scenario_helpers import Run, run_playbook

SCENARIO = Path(__file__).resolve().parents[1]
CONVERGE = SCENARIO / "converge.yml"
MEMBERS = ("etcd-host1", "etcd-host2", "etcd-host3")
CONFIG = "/etc/etcd/etcd.conf.yml"
PKI = "/etc/etcd/pki"


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
    return scenario_helpers.main_pid(host, "etcd")


@pytest.fixture(scope="session")
def members() -> dict[str, Any]:
    """Every etcd member by inventory name."""
    return {
        name: testinfra.get_host(f"ansible://{name}", ansible_inventory=inventory())
        for name in MEMBERS
    }


@pytest.fixture(scope="session")
def converge() -> Callable[..., Run]:
    """Run converge.yml on the scenario's hosts, with extra variables, through mitogen's
    strategy as `keelson deploy` does."""

    def run(**extra_vars: Any) -> Run:
        arguments = ["-e", json.dumps(extra_vars)] if extra_vars else []
        return run_playbook(
            ["-i", inventory(), *arguments, str(CONVERGE)],
            os.environ,
            timeout=900,
            mitogen_hosts=MEMBERS,
        )

    return run
