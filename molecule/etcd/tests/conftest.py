"""Helpers for the etcd scenario: reach every member, run etcdctl as admin."""

from __future__ import annotations

from typing import Any

import pytest
import testinfra
import yaml
from cryptography import x509
from scenario_helpers import molecule_inventory

MEMBERS = ("etcd-host1", "etcd-host2", "etcd-host3")
CONFIG = "/etc/etcd/etcd.conf.yml"
PKI = "/etc/etcd/pki"


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


@pytest.fixture(scope="session")
def members() -> dict[str, Any]:
    """Every etcd member by inventory name."""
    return {
        name: testinfra.get_host(f"ansible://{name}", ansible_inventory=molecule_inventory())
        for name in MEMBERS
    }
