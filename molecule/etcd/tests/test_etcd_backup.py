"""The etcd_backup role on the scenario's three etcd members and a backup store (host4)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import MEMBERS, etcdctl
from scenario_helpers import molecule_host

# The etcd tests' `host` fixture covers the members; these tests name their hosts.
testinfra_hosts = [f"ansible://{name}" for name in MEMBERS]

STORE_DIR = "/srv/etcd-backups"
PROM = "/var/lib/prometheus/node-exporter/keelson_etcd_backup.prom"
SSH = (
    "ssh -i /etc/keelson/etcd-backup.key -o BatchMode=yes "
    "-o UserKnownHostsFile=/etc/keelson/etcd-backup.known_hosts -o StrictHostKeyChecking=yes "
    "etcd-backup@{address} "
)


@pytest.fixture(scope="module")
def leader(members: dict[str, Any]) -> str:
    """The member that takes the scheduled backups: the leader, by inventory name."""
    status = json.loads(etcdctl(members[MEMBERS[0]], "endpoint status --cluster -w json").stdout)
    leader_id = status[0]["Status"]["leader"]
    listed = json.loads(etcdctl(members[MEMBERS[0]], "member list -w json").stdout)["members"]
    return next(str(m["name"]) for m in listed if m["ID"] == leader_id)


@pytest.fixture(scope="module")
def member(members: dict[str, Any], leader: str) -> Any:
    return members[leader]


@pytest.fixture(scope="module")
def store() -> Any:
    return molecule_host("etcd-host4")


def _names(store: Any, member: str) -> list[str]:
    listing = store.check_output(f"ls -1 {STORE_DIR}/{member}").split()
    return sorted(n.removesuffix(".json") for n in listing if n.endswith(".json"))


def _ssh(member: Any, request: str) -> Any:
    """REQUEST over the member's own key to the store, as its backup job connects."""
    config = json.loads(member.file("/etc/keelson/etcd-backup.json").content_string)
    return member.run(SSH.format(address=config["store"]["host"]) + request)


def test_secrets_and_configuration_are_root_only(host: Any) -> None:
    for path in (
        "/etc/keelson/etcd-backup.key",
        "/etc/keelson/etcd-backup.json",
        "/etc/keelson/etcd-backup.secret",
    ):
        f = host.file(path)
        assert f.user == "root" and f.mode == 0o600, path
    assert host.file("/usr/local/sbin/keelson-etcd-backup").mode == 0o755


def test_timer_is_enabled_and_waiting(host: Any) -> None:
    timer = host.service("keelson-etcd-backup.timer")
    assert timer.is_enabled and timer.is_running


def test_store_authorizes_each_member_only_from_its_address(
    members: dict[str, Any], store: Any
) -> None:
    keys = store.file("/var/lib/etcd-backup/.ssh/authorized_keys")
    assert keys.user == "etcd-backup" and keys.mode == 0o600
    lines = [line for line in keys.content_string.splitlines() if line and line[0] != "#"]
    assert len(lines) == len(MEMBERS), lines
    program = "/usr/local/sbin/keelson-etcd-backup --config /etc/keelson/etcd-backup-store.json"
    for name, member in members.items():
        public = member.check_output("ssh-keygen -y -f /etc/keelson/etcd-backup.key").split()[1]
        address = member.interface("eth0").addresses[0]
        forced = f'command="{program} serve {name}",restrict,from="{address}" '
        # The member's key, only for its own directory and only from its own address.
        assert [line for line in lines if public in line] == [
            line for line in lines if line.startswith(forced)
        ], (name, lines)
        assert any(line.startswith(forced) for line in lines), (name, lines)
    assert store.file(STORE_DIR).user == "etcd-backup" and store.file(STORE_DIR).mode == 0o700
    # The store never holds the key that encrypts and authenticates the snapshots.
    assert not store.file("/etc/keelson/etcd-backup.secret").exists


def test_a_members_key_gets_no_shell_and_deletes_nothing(
    member: Any, leader: str, store: Any
) -> None:
    member.run_expect([0], "systemctl start keelson-etcd-backup.service")
    before = store.check_output(f"ls -1 {STORE_DIR}/{leader}")
    newest = _names(store, leader)[-1]
    for request in ("id", f"rm -rf {STORE_DIR}", "sh -c id", f"put ../x/{newest}.json"):
        refused = _ssh(member, request)
        assert refused.rc != 0, request
        assert "this key may only put, list and get" in refused.stderr or "not a" in refused.stderr
    # Nor over a file it already stored: the store never overwrites.
    again = _ssh(member, f"put {newest}.json < /dev/null")
    assert again.rc != 0 and "never overwrites" in again.stderr
    assert store.check_output(f"ls -1 {STORE_DIR}/{leader}") == before


def test_the_scheduled_job_stores_a_verified_snapshot_from_the_leader_only(
    members: dict[str, Any], member: Any, leader: str, store: Any
) -> None:
    before = set(_names(store, leader))
    assert etcdctl(member, "put /verify/key molecule").rc == 0
    for name, other in members.items():
        if name != leader:  # every member has the timer; only the leader stores a snapshot
            other.run_expect([0], "systemctl start keelson-etcd-backup.service")
            assert store.run(f"ls {STORE_DIR}/{name}").stdout.strip() == "", name
    assert set(_names(store, leader)) == before
    member.run_expect([0], "systemctl start keelson-etcd-backup.service")
    new = sorted(set(_names(store, leader)) - before)
    assert len(new) == 1, new
    name = new[0]
    # Encrypted at rest (openssl's salted format, not gzip), with authenticated metadata.
    stored = f"{STORE_DIR}/{leader}/{name}"
    assert store.check_output(f"head -c 8 {stored}.db.gz.enc") == "Salted__"
    assert store.file(f"{stored}.db.gz.enc").mode == 0o600
    meta = json.loads(store.file(f"{stored}.json").content_string)
    assert sorted(m["name"] for m in meta["members"]) == sorted(MEMBERS)
    assert len(meta["hmac"]) == 64 and meta["kubernetes_pki"] is None
    assert meta["etcd_version"].startswith("3.")
    assert "keelson_etcd_backup_last_success_timestamp_seconds" in member.file(PROM).content_string
    # fetch brings it back from the store and checks it against etcd's own view.
    fetched = json.loads(member.check_output(f"keelson-etcd-backup fetch {name} /tmp/fetched"))
    assert fetched["revision"] == meta["revision"]
    assert member.file(f"/tmp/fetched/{name}.db").exists


def test_a_store_that_is_down_fails_the_unit_and_leaves_etcd_alone(
    members: dict[str, Any], member: Any, leader: str, store: Any
) -> None:
    before = _names(store, leader)
    store.run_expect([0], "systemctl stop ssh")
    try:
        failed = member.run("systemctl start keelson-etcd-backup.service")
        assert failed.rc != 0
        assert (
            member.run("systemctl is-failed keelson-etcd-backup.service").stdout.strip() == "failed"
        )
        assert (
            "keelson_etcd_backup_last_failure_timestamp_seconds" in member.file(PROM).content_string
        )
        for name, other in members.items():
            assert other.service("etcd").is_running, name
        health = etcdctl(member, "endpoint health --cluster")  # etcdctl 3.4 reports on stderr
        assert (health.stdout + health.stderr).count("is healthy") == len(MEMBERS), health
    finally:
        store.run_expect([0], "systemctl start ssh")
        member.run("systemctl reset-failed keelson-etcd-backup.service")
    assert _names(store, leader) == before
