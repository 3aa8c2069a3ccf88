"""Operations on the running cluster through converge.yml, in order: a restart refused while a
member is down, the rolling restart (with renewed certificates) once it is back, and a replaced
member joining.

Runs after test_etcd.py (molecule passes test files sorted) and leaves a healthy 3-member cluster
with the scenario's settings, on which molecule's idempotence and check steps run next.
"""

import json
import uuid
from datetime import UTC, datetime, timedelta

from conftest import MEMBERS, certificate, etcd_config, etcdctl, journal, main_pid

testinfra_hosts = ["ansible://etcd-host1"]

MARKER = "/run/keelson-etcd-restart-pending"


def member_ids(host):
    listed = json.loads(etcdctl(host, "member list -w json").stdout)["members"]
    return {member["name"]: f"{member['ID']:x}" for member in listed}


def test_restart_refused_while_a_member_is_down(members, converge):
    running = {name: main_pid(members[name]) for name in ("etcd-host1", "etcd-host2")}
    members["etcd-host3"].run_test("systemctl stop etcd")
    try:
        result = converge(etcd_heartbeat_interval=150, etcd_health_check_retries=3)
        assert result.rc != 0, result
        assert (
            "Not restarting etcd on etcd-host1: the etcd cluster is not healthy, unhealthy"
            " members: etcd-host3 (https://" in result.text
        ), result
        assert "Restart etcd on etcd-host1" not in result.text, result
        # The first two members kept running, untouched; the third stayed down.
        for name, pid in running.items():
            assert members[name].service("etcd").is_running, journal(members[name])
            assert main_pid(members[name]) == pid, name
        assert not members["etcd-host3"].service("etcd").is_running
        # Every member has the new setting on disk and remembers that it must restart.
        for host in members.values():
            assert etcd_config(host)["heartbeat-interval"] == 150
            assert host.file(MARKER).exists
    finally:
        members["etcd-host3"].run_test("systemctl start etcd")


def test_pending_restarts_roll_one_member_at_a_time(members, converge):
    """The next run restarts every member that remembers a pending restart, in turn, each only
    while all three are healthy, and waits for health again before the next one. The run also
    renews certificates: with a renewal window longer than their remaining life, every
    certificate is re-issued for the same key."""
    before = {name: main_pid(host) for name, host in members.items()}
    certificates = {name: certificate(host, "server") for name, host in members.items()}
    result = converge(etcd_cert_validity_days=800, etcd_cert_renew_days=370)
    assert result.rc == 0, result
    steps = []
    for name in MEMBERS:
        steps += [
            f"Check that the whole cluster is healthy before restarting {name}",
            f"Restart etcd on {name}",
            f"Wait until the whole cluster is healthy after restarting {name}",
            f"Clear the pending restart of {name}",
        ]
    positions = [result.text.find(f"TASK [etcd : {step}]") for step in steps]
    assert -1 not in positions, (steps[positions.index(-1)], result)
    assert positions == sorted(positions), result
    for name, host in members.items():
        assert main_pid(host) != before[name], name
        assert etcd_config(host)["heartbeat-interval"] == 100
        assert not host.file(MARKER).exists
        renewed, old = certificate(host, "server"), certificates[name]
        assert renewed.serial_number != old.serial_number, name
        assert renewed.public_key() == old.public_key(), name
        assert renewed.not_valid_after_utc - datetime.now(UTC) > timedelta(days=790), name
    health = etcdctl(members["etcd-host1"], "endpoint health --cluster -w json")
    assert health.rc == 0, health.stderr
    assert len(json.loads(health.stdout)) == 3


def test_replaced_member_joins_the_running_cluster(members, converge):
    """etcd-host3 loses its data: the role refuses to start it under its old identity; once it is
    removed from the cluster, the role adds it back (member add, initial-cluster-state existing)."""
    first, third = members["etcd-host1"], members["etcd-host3"]
    key, value = f"/keelson/molecule/{uuid.uuid4()}", uuid.uuid4().hex
    assert etcdctl(first, f"put {key} {value}").rc == 0
    old_id = member_ids(first)["etcd-host3"]
    third.run_test("systemctl stop etcd")
    third.run_test("rm -rf /var/lib/etcd/member")

    refused = converge()
    assert refused.rc != 0, refused
    assert (
        f"etcd-host3 has no etcd data but is a member of the cluster (ID {old_id}) that ran before"
        in refused.text
    ), refused
    assert not third.service("etcd").is_running

    assert etcdctl(first, f"member remove {old_id}").rc == 0
    joined = converge()
    assert joined.rc == 0, joined
    assert "TASK [etcd : Add to the cluster the new member etcd-host3]" in joined.text, joined
    assert third.service("etcd").is_running, journal(third)
    config = etcd_config(third)
    assert config["initial-cluster-state"] == "existing"
    ids = member_ids(first)
    assert sorted(ids) == list(MEMBERS)
    assert ids["etcd-host3"] != old_id
    got = etcdctl(third, f"get --print-value-only {key}")
    assert got.stdout.strip() == value, got.stderr
    # The next run changes nothing (the joined member keeps its bootstrap settings, the renewed
    # certificates are valid for the default window): molecule's idempotence and check steps run
    # after this verify step (molecule.yml's test_sequence) and prove it.
