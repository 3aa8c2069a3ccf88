"""The etcd_backup role on a real etcd member (host1) and a backup store (host2)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import testinfra

STORE_DIR = "/srv/etcd-backups"
PROM = "/var/lib/prometheus/node-exporter/keelson_etcd_backup.prom"


def _host(name: str) -> Any:
    inventory_file = os.environ.get("MOLECULE_INVENTORY_FILE")
    if not inventory_file:
        pytest.skip("needs the hosts of `molecule test -s etcd_backup`")
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={Path(inventory_file).parent}")


@pytest.fixture(scope="module")
def member() -> Any:
    return _host("etcd_backup-host1")


@pytest.fixture(scope="module")
def store() -> Any:
    return _host("etcd_backup-host2")


MEMBER = "etcd_backup-host1"
SSH = (
    "ssh -i /etc/keelson/etcd-backup.key -o BatchMode=yes "
    "-o UserKnownHostsFile=/etc/keelson/etcd-backup.known_hosts -o StrictHostKeyChecking=yes "
    "etcd-backup@{address} "
)


def _names(store: Any) -> list[str]:
    listing = store.check_output(f"ls -1 {STORE_DIR}/{MEMBER}").split()
    return sorted(n.removesuffix(".json") for n in listing if n.endswith(".json"))


def _ssh(member: Any, request: str) -> Any:
    """REQUEST over the member's own key to the store, as its backup job connects."""
    config = json.loads(member.file("/etc/keelson/etcd-backup.json").content_string)
    return member.run(SSH.format(address=config["store"]["host"]) + request)


def test_secrets_and_configuration_are_root_only(member: Any) -> None:
    for path in (
        "/etc/keelson/etcd-backup.key",
        "/etc/keelson/etcd-backup.json",
        "/etc/keelson/etcd-backup.secret",
    ):
        f = member.file(path)
        assert f.user == "root" and f.mode == 0o600, path
    assert member.file("/usr/local/sbin/keelson-etcd-backup").mode == 0o755


def test_timer_is_enabled_and_waiting(member: Any) -> None:
    timer = member.service("keelson-etcd-backup.timer")
    assert timer.is_enabled and timer.is_running


def test_store_authorizes_only_the_member_from_its_address(member: Any, store: Any) -> None:
    keys = store.file("/var/lib/etcd-backup/.ssh/authorized_keys")
    assert keys.user == "etcd-backup" and keys.mode == 0o600
    lines = [line for line in keys.content_string.splitlines() if line and line[0] != "#"]
    public = member.check_output("ssh-keygen -y -f /etc/keelson/etcd-backup.key").split()[1]
    assert len(lines) == 1
    forced = (
        'command="/usr/local/sbin/keelson-etcd-backup --config /etc/keelson/etcd-backup-store.json'
        f' serve {MEMBER}",restrict,from="'
    )
    assert lines[0].startswith(forced) and public in lines[0]
    assert store.file(STORE_DIR).user == "etcd-backup" and store.file(STORE_DIR).mode == 0o700
    # The store never holds the key that encrypts and authenticates the snapshots.
    assert not store.file("/etc/keelson/etcd-backup.secret").exists


def test_a_members_key_gets_no_shell_and_deletes_nothing(member: Any, store: Any) -> None:
    member.run_expect([0], "systemctl start keelson-etcd-backup.service")
    before = store.check_output(f"ls -1 {STORE_DIR}/{MEMBER}")
    for request in ("id", f"rm -rf {STORE_DIR}", "sh -c id", f"put ../x/{_names(store)[-1]}.json"):
        refused = _ssh(member, request)
        assert refused.rc != 0, request
        assert "this key may only put, list and get" in refused.stderr or "not a" in refused.stderr
    # Nor over a file it already stored: the store never overwrites.
    again = _ssh(member, f"put {_names(store)[-1]}.json < /dev/null")
    assert again.rc != 0 and "never overwrites" in again.stderr
    assert store.check_output(f"ls -1 {STORE_DIR}/{MEMBER}") == before


def test_the_scheduled_job_stores_a_verified_snapshot(member: Any, store: Any) -> None:
    before = set(_names(store))
    member.run_expect([0], "set -a; . /etc/etcd/etcdctl.env; etcdctl put /verify/key molecule")
    member.run_expect([0], "systemctl start keelson-etcd-backup.service")
    new = sorted(set(_names(store)) - before)
    assert len(new) == 1, new
    name = new[0]
    # Encrypted at rest (openssl's salted format, not gzip), with authenticated metadata.
    stored = f"{STORE_DIR}/{MEMBER}/{name}"
    assert store.check_output(f"head -c 8 {stored}.db.gz.enc") == "Salted__"
    assert store.file(f"{stored}.db.gz.enc").mode == 0o600
    meta = json.loads(store.file(f"{stored}.json").content_string)
    assert meta["members"][0]["name"] == MEMBER
    assert len(meta["hmac"]) == 64 and meta["kubernetes_pki"] is None
    assert meta["etcd_version"].startswith("3.")
    assert "keelson_etcd_backup_last_success_timestamp_seconds" in member.file(PROM).content_string
    # fetch brings it back from the store and checks it against etcd's own view.
    fetched = json.loads(member.check_output(f"keelson-etcd-backup fetch {name} /tmp/fetched"))
    assert fetched["revision"] == meta["revision"]
    assert member.file(f"/tmp/fetched/{name}.db").exists


def test_a_failed_backup_fails_the_unit_and_leaves_etcd_alone(member: Any, store: Any) -> None:
    before = _names(store)
    member.run_expect([0], "systemctl stop etcd")
    try:
        failed = member.run("systemctl start keelson-etcd-backup.service")
        assert failed.rc != 0
        assert (
            member.run("systemctl is-failed keelson-etcd-backup.service").stdout.strip() == "failed"
        )
        assert (
            "keelson_etcd_backup_last_failure_timestamp_seconds" in member.file(PROM).content_string
        )
        assert not member.service("etcd").is_running  # the job never starts etcd
        assert _names(store) == before
    finally:
        member.run_expect([0], "systemctl start etcd")
        member.run("systemctl reset-failed keelson-etcd-backup.service")
