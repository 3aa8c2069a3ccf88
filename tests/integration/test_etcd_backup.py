"""etcd backups, the restore runbook and an HA control plane on a lab of their own: 3
control-plane hosts that are the etcd members (etcd 3.6 from the bundle, served by the lab's
files mirror) and a 4th host, a worker and the backup store.

Order matters: the cluster converges, TLS is checked, the role's operations run under the API
servers (a restart refused while a member is down, a rolling restart, a replaced member), the
upgrade runbook takes the cluster from the first pinned Kubernetes release to the last (refusals
first; a budget that stops a drain, a killed run resumed; a Service and the API polled
throughout), kubelet serving renewals are approved, kubeadm's certificates are checked and
renewed with the API answering, a second deploy changes nothing, backups are taken (also while a
member is killed), corrupt snapshots are refused with the cluster untouched, then 10,000 keys go
through a backup, changes and a restore (API servers stopped and started around it), retention
prunes the store, and last the API keeps answering with a control-plane host down.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import tempfile
import textwrap
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

import pytest
import yaml
from cryptography import x509

from keelson import prober
from keelson.bundle import spec as bundle_spec
from tests.integration.conftest import (
    BUNDLE,
    KEELSON,
    KUBE_VERSION,
    ROOT,
    assert_records_hold_no_secret,
    keelson,
    lab_secrets,
)

LAB = "etcdtest"
SUBNET = "172.31.247.0/24"
MEMBERS = ("node1", "node2", "node3")
STORE = "node4"
# etcd runs on control-plane hosts: three of them for three members, node4 the store (a worker).
LAB_LAYOUT = ("--name", LAB, "--nodes", "4", "--control-planes", "3", "--subnet", SUBNET)
STORE_DIR = "/srv/etcd-backups"
# Run on the store in a member's directory: metadata for a planted file, copied from a real
# snapshot's with the name and checksum changed (all the store could forge without the key).
PLANT = (
    '-c "import hashlib, json, sys; m = json.load(open(sys.argv[1])); n = sys.argv[2]; '
    "m['name'] = n; m['sha256'] = hashlib.sha256(open(n + '.db.gz.enc', 'rb').read()).hexdigest(); "
    "json.dump(m, open(n + '.json', 'w'))\""
)
ETCDCTL = "set -a; . /etc/etcd/etcdctl.env; set +a; "

pytestmark = pytest.mark.usefixtures("etcd_lab")


def sh(node: str, script: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        ["docker", "exec", f"keelson-{LAB}-{node}", "sh", "-c", script],
        capture_output=True,
        text=True,
        check=False,
    )
    if check:
        assert proc.returncode == 0, f"{node}: {script}\n{proc.stdout}\n{proc.stderr}"
    return proc


def etcdctl(node: str, args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return sh(node, ETCDCTL + "etcdctl " + args, check)


# The etcd JSON gateway over TLS with the member's admin certificate: thousands of keys through
# one connection, where one etcdctl process per key would take minutes; puts go 100 to a
# transaction (etcd allows 128 operations in one): one commit each, not one per key.
_KV = textwrap.dedent(
    """
    import base64, http.client, json, ssl, sys
    ctx = ssl.create_default_context(cafile="/etc/etcd/pki/ca.crt")
    ctx.load_cert_chain("/etc/etcd/pki/admin.crt", "/etc/etcd/pki/admin.key")
    conn = http.client.HTTPSConnection("127.0.0.1", 2379, context=ctx)
    b64 = lambda s: base64.b64encode(s.encode()).decode()
    def call(path, body):
        conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        reply = conn.getresponse()
        data = json.loads(reply.read())
        assert reply.status == 200, data
        return data
    op = sys.argv[1]
    if op == "put":
        count, prefix, tag = int(sys.argv[2]), sys.argv[3], sys.argv[4]
        for start in range(0, count, 100):
            put = lambda i: {"key": b64(f"{prefix}{i:05d}"), "value": b64(f"{tag}-{i}-" + "x" * 40)}
            puts = [{"request_put": put(i)} for i in range(start, min(start + 100, count))]
            assert call("/v3/kv/txn", {"success": puts}).get("succeeded"), start
    elif op == "dump":
        data = call("/v3/kv/range", {"key": b64("\\0"), "range_end": b64("\\0")})
        # Values stay base64: Kubernetes stores protobuf under /registry.
        kvs = {base64.b64decode(kv["key"]).decode(): kv.get("value", "")
               for kv in data.get("kvs", [])}
        print(json.dumps({"revision": int(data["header"]["revision"]), "kvs": kvs}))
    """
)


def kv(node: str, *args: str) -> str:
    proc = subprocess.run(
        ["docker", "exec", "-i", f"keelson-{LAB}-{node}", "python3", "-", *args],
        input=_KV,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def dump(node: str = "node1") -> tuple[int, dict[str, str]]:
    """Revision and every key outside the API servers' with its (base64) value. The API servers
    of the lab's cluster keep writing under /registry (leases, events) right after a restore too,
    and their compactor writes compact_rev_key every five minutes (once between a snapshot and
    the dump after it, in one run): their keys cannot equal the snapshot's; everything else must,
    key for key."""
    data = json.loads(kv(node, "dump"))
    kvs = {
        k: v
        for k, v in data["kvs"].items()
        if not k.startswith("/registry/") and k != "compact_rev_key"
    }
    return data["revision"], kvs


def store_names(member: str = "*") -> list[str]:
    """Snapshots on the store, of every member's directory or of one."""
    listing = sh(STORE, f"cd {STORE_DIR} && ls -1 {member}/ 2>/dev/null || true").stdout.split()
    return sorted(n.removesuffix(".json") for n in listing if n.endswith(".json"))


def stored(name: str) -> str:
    """The path on the store of snapshot NAME's files, without suffix."""
    found = sh(STORE, f"ls -1 {STORE_DIR}/*/{name}.json").stdout.split()
    assert len(found) == 1, found
    return found[0].removesuffix(".json")


def main_pids() -> dict[str, str]:
    return {
        n: sh(n, "systemctl show --property MainPID --value etcd").stdout.strip() for n in MEMBERS
    }


def wait_healthy(timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ok = etcdctl("node2", "endpoint health --cluster", check=False)
        if ok.returncode == 0 and ok.stdout.count("is healthy") == 3:
            return
        time.sleep(2)
    raise AssertionError("etcd cluster did not become healthy")


@pytest.fixture(scope="module")
def etcd_lab() -> Iterator[Path]:
    """A fresh, converged lab; KEELSON_REUSE_LAB=1 takes a running one as it is (and with
    KEELSON_KEEP_LAB=1 it stays afterwards), for quick iterations on these tests."""
    inv = ROOT / "inventories" / LAB
    if not (os.environ.get("KEELSON_REUSE_LAB") and (inv / "hosts.yml").exists()):
        # Every pinned Kubernetes release: the upgrade goes from the first to the last.
        bundle = keelson("bundle", "build", "--only", BUNDLE)
        assert bundle.code == 0, bundle.out + bundle.err
        keelson("lab", "down", "--name", LAB)
        up = keelson("lab", "up", *LAB_LAYOUT)
        assert up.code == 0, up.err
        push = keelson("images", "push", "--lab", LAB)
        assert push.code == 0, push.out[-3000:] + push.err
        deploy = keelson("deploy", "-i", str(inv))
        assert deploy.code == 0, deploy.out[-3000:] + deploy.err
    yield inv
    if not os.environ.get("KEELSON_KEEP_LAB"):
        keelson("lab", "down", "--name", LAB)


def test_cluster_runs_the_bundle_etcd_over_tls_only(etcd_lab: Path) -> None:
    for node in MEMBERS:
        assert "etcd Version: 3.6." in sh(node, "etcd --version").stdout
        assert "is healthy" in etcdctl(node, "endpoint health").stdout
        # The CA but no client certificate: the TLS handshake is refused.
        refused = sh(
            node,
            "curl -sS --cacert /etc/etcd/pki/ca.crt https://127.0.0.1:2379/version",
            check=False,
        )
        assert refused.returncode != 0, refused.stdout
    members = json.loads(etcdctl("node1", "member list -w json").stdout)["members"]
    assert sorted(m["name"] for m in members) == list(MEMBERS)


# Operations on the running HA cluster, in order (each leaves the next its starting point): a
# restart refused while a member is down, the pending restarts rolled one member at a time (with
# renewed certificates) once it is back, a replaced member refused and then joined. Each run is
# `keelson deploy --tags etcd` with settings an operator would change in group_vars.
RESTART_MARKER = "/run/keelson-etcd-restart-pending"


@contextlib.contextmanager
def etcd_settings(inv: Path, **settings: object) -> Iterator[None]:
    """SETTINGS in the inventory's group_vars/etcd.yml for the runs inside the block."""
    path = inv / "group_vars" / "etcd.yml"
    assert not path.exists(), path
    path.write_text(yaml.safe_dump(settings))
    try:
        yield
    finally:
        path.unlink()


def etcd_config(node: str) -> dict[str, object]:
    config: dict[str, object] = yaml.safe_load(sh(node, "cat /etc/etcd/etcd.conf.yml").stdout)
    return config


def server_certificate(node: str) -> x509.Certificate:
    pem = sh(node, "cat /etc/etcd/pki/server.crt").stdout.encode()
    return x509.load_pem_x509_certificate(pem)


def member_ids() -> dict[str, str]:
    listed = json.loads(etcdctl("node1", "member list -w json").stdout)["members"]
    return {member["name"]: f"{member['ID']:x}" for member in listed}


def test_a_restart_is_refused_while_a_member_is_down(etcd_lab: Path) -> None:
    running = {n: p for n, p in main_pids().items() if n != "node3"}
    sh("node3", "systemctl stop etcd")
    try:
        # A changed heartbeat; one health check is enough to refuse (retries only wait longer).
        settings = {"etcd_health_check_retries": 1, "etcd_health_check_delay": 1}
        with etcd_settings(etcd_lab, etcd_heartbeat_interval=150, **settings):
            run = keelson("deploy", "-i", str(etcd_lab), "--tags", "etcd")
        assert run.code != 0, run.out[-3000:]
        assert (
            "Not restarting etcd on node1: the etcd cluster is not healthy, unhealthy members:"
            " node3 (https://" in run.err + run.out
        ), run.out[-3000:] + run.err
        assert "TASK [keelson.platform.etcd : Restart etcd on node1]" not in run.ansible_output
        # The other two members kept running, untouched; the third stayed down.
        assert {n: p for n, p in main_pids().items() if n != "node3"} == running
        assert sh("node3", "systemctl is-active etcd", check=False).stdout.strip() != "active"
        # Every member has the new setting on disk and remembers that it must restart.
        for node in MEMBERS:
            assert etcd_config(node)["heartbeat-interval"] == 150, node
            sh(node, f"test -f {RESTART_MARKER}")
    finally:
        sh("node3", "systemctl start etcd")
        wait_healthy()


def test_pending_restarts_roll_one_member_at_a_time_with_renewed_certificates(
    etcd_lab: Path,
) -> None:
    """The next run restarts every member that remembers a pending restart, in turn, each only
    while all three are healthy, and waits for health again before the next one. With a renewal
    window longer than their remaining life, every certificate is re-issued for the same key."""
    before = main_pids()
    certificates = {n: server_certificate(n) for n in MEMBERS}
    with etcd_settings(etcd_lab, etcd_cert_validity_days=800, etcd_cert_renew_days=370):
        run = keelson("deploy", "-i", str(etcd_lab), "--tags", "etcd")
    assert run.code == 0, run.out[-3000:] + run.err
    steps = []
    for name in MEMBERS:
        steps += [
            f"Check that the whole cluster is healthy before restarting {name}",
            f"Restart etcd on {name}",
            f"Wait until the whole cluster is healthy after restarting {name}",
            f"Clear the pending restart of {name}",
        ]
    output = run.ansible_output
    positions = [output.find(f"TASK [keelson.platform.etcd : {step}]") for step in steps]
    assert -1 not in positions, steps[positions.index(-1)]
    assert positions == sorted(positions)
    after = main_pids()
    for node in MEMBERS:
        assert after[node] != before[node], node
        assert etcd_config(node)["heartbeat-interval"] == 100, node
        sh(node, f"test ! -e {RESTART_MARKER}")
        renewed, old = server_certificate(node), certificates[node]
        assert renewed.serial_number != old.serial_number, node
        assert renewed.public_key() == old.public_key(), node
        assert renewed.not_valid_after_utc - datetime.now(UTC) > timedelta(days=790), node
    assert etcdctl("node1", "endpoint health --cluster").stdout.count("is healthy") == 3


def test_a_replaced_member_is_refused_then_joins_the_running_cluster(etcd_lab: Path) -> None:
    """node3 loses its data: the role refuses to start it under its old identity; once it is
    removed from the cluster, the role adds it back (member add, initial-cluster-state
    existing) and it serves the cluster's keys."""
    key, value = f"/keelson/replaced/{uuid.uuid4()}", uuid.uuid4().hex
    etcdctl("node1", f"put {key} {value}")
    old_id = member_ids()["node3"]
    sh("node3", "systemctl stop etcd && rm -rf /var/lib/etcd/member")

    refused = keelson("deploy", "-i", str(etcd_lab), "--tags", "etcd")
    assert refused.code != 0, refused.out[-3000:]
    assert (
        f"node3 has no etcd data but is a member of the cluster (ID {old_id}) that ran before"
        in refused.err + refused.out
    ), refused.out[-3000:] + refused.err
    assert sh("node3", "systemctl is-active etcd", check=False).stdout.strip() != "active"

    etcdctl("node1", f"member remove {old_id}")
    joined = keelson("deploy", "-i", str(etcd_lab), "--tags", "etcd")
    assert joined.code == 0, joined.out[-3000:] + joined.err
    added = "TASK [keelson.platform.etcd : Add to the cluster the new member node3]"
    assert added in joined.ansible_output
    assert etcd_config("node3")["initial-cluster-state"] == "existing"
    ids = member_ids()
    assert sorted(ids) == list(MEMBERS)
    assert ids["node3"] != old_id
    got = etcdctl("node3", f"get --print-value-only {key}")
    assert got.stdout.strip() == value
    wait_healthy()


# The upgrade runbook on the same HA cluster, before its destructive tests: from the release it
# was deployed with to the last one pinned, with a Deployment whose budget allows one pod down
# and a prober polling the API (through the worker's node-local endpoint) and its Service.
UPGRADE_TO = [b.version for b in bundle_spec.load().builds if b.component == "kubernetes"][-1]
WEB = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web}}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      tolerations: [{key: node-role.kubernetes.io/control-plane, effect: NoSchedule}]
      topologySpreadConstraints:
        - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: ScheduleAnyway,
           labelSelector: {matchLabels: {app: web}}}
      terminationGracePeriodSeconds: 15
      containers:
        - name: web
          image: IMAGE
          ports: [{containerPort: 8080}]
          readinessProbe: {httpGet: {path: /healthz, port: 8080}, periodSeconds: 1}
          # Out of the Service's endpoints on every node before the process stops.
          lifecycle: {preStop: {sleep: {seconds: 5}}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web}
spec:
  minAvailable: 2
  selector: {matchLabels: {app: web}}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
"""


@dataclass
class Upgrade:
    """`keelson upgrade --yes` running in the background, its output in a file (a pipe nobody
    reads would fill up and stop it)."""

    proc: subprocess.Popen[str]
    log: IO[str]

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read()


def upgrade(inv: Path, target: str, *args: str) -> Upgrade:
    log = tempfile.TemporaryFile("w+")  # noqa: SIM115 (read back by Upgrade.output)
    proc = subprocess.Popen(
        [*KEELSON, "upgrade", "-i", str(inv), "--to", target, "--yes", *args],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "KEELSON_ROOT": str(ROOT)},
        start_new_session=True,
    )
    return Upgrade(proc, log)


def web_running(inv: Path) -> None:
    registry = sh("node2", "grep -o '[0-9.]*:5000' /etc/kubernetes/kubeadm-config.yaml").stdout
    manifest = WEB.replace("IMAGE", f"{registry.split()[0]}/service/hello:0.1.0")
    sh("node1", f"cat <<'EOF' | {KUBECTL} apply -f -\n{manifest}\nEOF")
    retry("node1", KUBECTL + "rollout status deployment/web --timeout=10s", 240)


def test_an_upgrade_is_refused_before_any_change(etcd_lab: Path) -> None:
    web_running(etcd_lab)
    before = sh("node1", KUBECTL + "get nodes -o jsonpath='{.items[*].status.nodeInfo}'").stdout
    major, minor, _ = KUBE_VERSION.lstrip("v").split(".")
    refusals = {
        f"v{major}.{int(minor) + 2}.0": "skips a minor release",
        f"v{major}.{int(minor) - 1}.0": "a downgrade is refused",
        UPGRADE_TO: f"the inventory's kube_version is {KUBE_VERSION}",
    }
    for target, reason in refusals.items():
        run = keelson("upgrade", "-i", str(etcd_lab), "--to", target, "--yes")
        assert run.code == 3, run.out + run.err
        refusal = [line for line in run.err.splitlines() if "refused" in line]
        assert len(refusal) == 1 and reason in refusal[0], run.err
    # A budget that allows no disruption: the plan names it and the node it would stop at.
    sh("node1", KUBECTL + 'patch pdb web --type=merge -p \'{"spec": {"minAvailable": 3}}\'')
    try:
        plan = keelson("upgrade", "-i", str(etcd_lab), "--to", UPGRADE_TO, "--plan")
        assert plan.code == 3, plan.out + plan.err
        assert "PodDisruptionBudget default/web" in plan.err, plan.out + plan.err
    finally:
        sh("node1", KUBECTL + 'patch pdb web --type=merge -p \'{"spec": {"minAvailable": 2}}\'')
    # keelson deploy with the target in the inventory refuses to swap kubelets under the nodes.
    all_yml = etcd_lab / "group_vars" / "all.yml"
    deployed = all_yml.read_text()
    all_yml.write_text(
        deployed.replace(f"kube_version: {KUBE_VERSION}", f"kube_version: {UPGRADE_TO}")
    )
    try:
        deploy = keelson("deploy", "-i", str(etcd_lab))
    finally:
        all_yml.write_text(deployed)
    assert deploy.code != 0, deploy.out[-2000:]
    assert f"node4: runs Kubernetes {KUBE_VERSION} and the inventory's kube_version is" in (
        deploy.out + deploy.err
    ), deploy.out[-3000:] + deploy.err
    assert deploy.record["stats"]["changed"] == {}  # type: ignore[index]
    after = sh("node1", KUBECTL + "get nodes -o jsonpath='{.items[*].status.nodeInfo}'").stdout
    assert after == before
    assert "true" not in sh("node1", KUBECTL + "get nodes -o jsonpath='{.items[*].spec}'").stdout


GATE = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: gate}
spec:
  replicas: 1
  selector: {matchLabels: {app: gate}}
  template:
    metadata: {labels: {app: gate}}
    spec:
      nodeSelector: {kubernetes.io/hostname: node4}
      containers: [{name: gate, image: IMAGE}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: gate}
spec: {minAvailable: 1, selector: {matchLabels: {app: gate}}}
"""


def gate_manifest() -> str:
    registry = sh("node2", "grep -o '[0-9.]*:5000' /etc/kubernetes/kubeadm-config.yaml").stdout
    return GATE.replace("IMAGE", f"{registry.split()[0]}/service/hello:0.1.0")


def wait_for_label(node: str, run: subprocess.Popen[str], timeout: float = 900) -> bool:
    """True once the upgrade RUN cordoned NODE (its label), False if RUN ended first."""
    label = (
        KUBECTL
        + f"get node {node} -o jsonpath='{{.metadata.labels.keelson\\.io/upgrade-cordoned}}'"
    )
    deadline = time.monotonic() + timeout
    while run.poll() is None and time.monotonic() < deadline:
        if sh("node1", label, check=False).stdout.strip() == "true":
            return True
        time.sleep(1)
    return False


def changed_hosts_per_play(run_dir: Path) -> dict[str, set[str]]:
    changed: dict[str, set[str]] = {}
    for path in run_dir.glob("artifacts/*/job_events/*.json"):
        event = json.loads(path.read_text())
        data = event.get("event_data") or {}
        if event["event"] == "runner_on_ok" and (data.get("res") or {}).get("changed"):
            changed.setdefault(data["play"], set()).add(data["host"])
    return changed


def test_the_upgrade_rolls_every_node_keeps_the_service_and_resumes_after_a_kill(
    etcd_lab: Path,
) -> None:
    web_running(etcd_lab)
    all_yml = etcd_lab / "group_vars" / "all.yml"
    all_yml.write_text(
        all_yml.read_text().replace(f"kube_version: {KUBE_VERSION}", f"kube_version: {UPGRADE_TO}")
    )
    service_ip = sh("node1", KUBECTL + "get service web -o jsonpath='{.spec.clusterIP}'").stdout
    polling = prober.Prober(
        ["docker", "exec", "-i", f"keelson-{LAB}-{STORE}"],
        {"web": f"http://{service_ip}/healthz", "api": "https://127.0.0.1:6444/readyz"},
    )
    polling.start()
    try:
        # 1. A budget that appears after the plan (a pod on node4 no eviction may take) stops
        # the worker's drain: the run ends naming it, node4 schedulable again.
        first = upgrade(etcd_lab, UPGRADE_TO, "--drain-timeout", "20")
        assert wait_for_label("node1", first.proc), first.output()[-3000:]
        sh("node1", f"cat <<'EOF' | {KUBECTL} apply -f -\n{gate_manifest()}\nEOF")
        retry("node1", KUBECTL + "rollout status deployment/gate --timeout=10s", 120)
        first.proc.wait(timeout=900)
        out = first.output()
        assert first.proc.returncode == 4, out[-3000:]
        stopped = [line for line in out.splitlines() if "the drain stopped" in line]
        assert stopped and "PodDisruptionBudget default/gate (pods gate-" in stopped[0], out[-3000:]
        assert "node4: the drain stopped after 20 s" in stopped[0], stopped
        node4 = json.loads(sh("node1", KUBECTL + "get node node4 -o json").stdout)
        assert not node4["spec"].get("unschedulable"), node4["spec"]
        assert "keelson.io/upgrade-cordoned" not in node4["metadata"]["labels"]
        sh("node1", KUBECTL + "delete deployment/gate pdb/gate")
        # 2. Killed during the worker's step (cordoned by the upgrade, its pods being evicted).
        second = upgrade(etcd_lab, UPGRADE_TO)
        assert wait_for_label(STORE, second.proc), second.output()[-3000:]
        os.killpg(second.proc.pid, 9)
        second.proc.wait()
        # 3. Run again: it continues.
        again = keelson("upgrade", "-i", str(etcd_lab), "--to", UPGRADE_TO, "--yes")
    finally:
        disruption = polling.stop()
    assert again.code == 0, again.out[-3000:] + again.err
    # The service answered throughout the three runs; the API through node4's node-local
    # endpoint is reported (goal: 0 s).
    assert disruption["web"]["requests"] > 1000, disruption
    assert disruption["web"]["failures"] == 0, disruption["web"]
    record = again.record["upgrade"]  # type: ignore[index]
    print(json.dumps({"test prober": disruption, "last run": record["disruption"]}, indent=1))
    # The re-run continued with the worker: the control planes were left alone.
    assert [step["nodes"] for step in record["steps"]] == [[STORE]], record["steps"]
    changed = changed_hosts_per_play(again.run_dir)
    assert "Upgrade the control planes, one host at a time" not in changed, changed
    # A backup of its own, verified, on the store.
    assert record["backup"]["name"] in " ".join(store_names()), record["backup"]
    # Every node and component at the target.
    nodes = json.loads(sh("node1", KUBECTL + "get nodes -o json").stdout)["items"]
    kubelets = {n["metadata"]["name"]: n["status"]["nodeInfo"]["kubeletVersion"] for n in nodes}
    assert set(kubelets.values()) == {UPGRADE_TO}, kubelets
    assert all(not n["spec"].get("unschedulable") for n in nodes)
    pods = json.loads(sh("node1", KUBECTL + "get pods -n kube-system -o json").stdout)["items"]
    for pod in pods:
        name = pod["metadata"]["name"]
        if name.startswith(("kube-apiserver", "kube-controller", "kube-scheduler", "kube-proxy")):
            assert pod["spec"]["containers"][0]["image"].endswith(f":{UPGRADE_TO}"), name
    for node in (*MEMBERS, STORE):
        assert UPGRADE_TO in sh(node, "kubeadm version -o short").stdout
    # Every API server back in every node-local load balancer.
    for node in (*MEMBERS, STORE):
        state = sh(
            node, "echo 'show servers state kube-apiserver' | socat - /run/haproxy/admin.sock"
        )
        admin = [line.split()[6] for line in state.stdout.splitlines()[2:] if line.strip()]
        assert admin == ["0", "0", "0"], state.stdout
    # keelson deploy keeps the upgraded cluster as it is: test_second_run_changes_nothing.


# A renewal as the kubelet asks for it: a kubernetes.io/kubelet-serving request made with the
# node's own credentials (its kubelet.conf). The control planes' keelson-csr-approve approves it;
# one that names another host's address stays pending.
RENEWAL = """
set -e
cd "$(mktemp -d)"
openssl ecparam -name prime256v1 -genkey -noout -out key.pem
openssl req -new -key key.pem -subj "/O=system:nodes/CN=system:node:node4" \\
    -addext "subjectAltName=DNS:node4,IP:$1" -out req.pem
kubectl --kubeconfig /etc/kubernetes/kubelet.conf create -o name -f - <<END
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata: {generateName: renewal-}
spec:
  signerName: kubernetes.io/kubelet-serving
  usages: [digital signature, server auth]
  request: $(base64 -w0 req.pem)
END
"""


def renewal_request(address: str) -> str:
    proc = subprocess.run(
        ["docker", "exec", "-i", f"keelson-{LAB}-{STORE}", "sh", "-s", address],
        input=RENEWAL,
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout.strip()


def test_kubelet_serving_renewals_the_node_asked_for_are_approved_and_others_are_not(
    etcd_lab: Path,
) -> None:
    internal = "{.status.addresses[?(@.type=='InternalIP')].address}"
    own = renewal_request(
        sh("node1", KUBECTL + f'get node {STORE} -o jsonpath="{internal}"').stdout
    )
    forged = renewal_request("172.31.247.11")
    try:
        timer = sh("node2", "systemctl is-enabled keelson-csr-approve.timer").stdout
        assert timer.strip() == "enabled"
        sh("node2", "systemctl start keelson-csr-approve.service")
        csrs = {
            c: json.loads(sh("node1", KUBECTL + f"get {c} -o json").stdout) for c in (own, forged)
        }
        assert [c["type"] for c in csrs[own]["status"]["conditions"]] == ["Approved"]
        assert retry("node1", KUBECTL + f"get {own} -o jsonpath='{{.status.certificate}}'")
        assert "conditions" not in csrs[forged].get("status", {}), csrs[forged]
        journal = sh("node2", "journalctl -u keelson-csr-approve.service --no-pager -n 20").stdout
        assert "addresses 172.31.247.11 are not node node4's" in journal, journal
    finally:
        sh("node1", KUBECTL + f"delete {own} {forged}", check=False)


# A certificate two days from expiry (node2's front-proxy client, issued here by its CA): `certs
# check` names it as due; `certs renew` renews every control plane's, one at a time, the API
# answering throughout through the worker's node-local endpoint.
SHORT_LIVED = """
set -e
cd /etc/kubernetes/pki
echo extendedKeyUsage=clientAuth > /tmp/ext
echo keyUsage=critical,digitalSignature,keyEncipherment >> /tmp/ext
openssl req -new -key front-proxy-client.key -subj /CN=front-proxy-client |
    openssl x509 -req -CA front-proxy-ca.crt -CAkey front-proxy-ca.key -days 2 \\
        -extfile /tmp/ext -out front-proxy-client.crt 2>/dev/null
"""


def not_after(node: str, path: str) -> str:
    return sh(node, f"openssl x509 -noout -enddate -in {path}").stdout.strip()


def test_certs_check_names_a_due_certificate_and_renew_keeps_the_api_answering(
    etcd_lab: Path,
) -> None:
    sh("node2", SHORT_LIVED)
    before = {n: not_after(n, "/etc/kubernetes/pki/apiserver.crt") for n in MEMBERS}
    check = keelson("certs", "check", "-i", str(etcd_lab))
    assert check.code == 1, check.out + check.err
    lines = check.out.splitlines()
    due = [line for line in lines if line.endswith("renew")]
    assert len(due) == 1 and "node2" in due[0] and "front-proxy-client.crt" in due[0], lines
    for expected in (
        "/etc/kubernetes/pki/apiserver.crt",
        "/etc/etcd/pki/server.crt",
        "/var/lib/kubelet/pki/kubelet-server-current.pem",
        "/etc/kubernetes/admin.conf",
    ):
        assert expected in check.out, check.out
    polling = prober.Prober(
        ["docker", "exec", "-i", f"keelson-{LAB}-{STORE}"], {"api": "https://127.0.0.1:6444/readyz"}
    )
    polling.start()
    try:
        renew = keelson("certs", "renew", "-i", str(etcd_lab), "--yes")
    finally:
        disruption = polling.stop()
    assert renew.code == 0, renew.out[-3000:] + renew.err
    assert disruption["api"]["requests"] > 100, disruption
    assert disruption["api"]["failures"] == 0, disruption["api"]
    after = {n: not_after(n, "/etc/kubernetes/pki/apiserver.crt") for n in MEMBERS}
    assert all(after[n] != before[n] for n in MEMBERS), (before, after)
    again = keelson("certs", "check", "-i", str(etcd_lab))
    assert again.code == 0, again.out[-3000:]
    assert keelson("kubectl", "-i", str(etcd_lab), "--", "get", "nodes").code == 0


def test_second_run_changes_nothing(etcd_lab: Path) -> None:
    """After the etcd operations, the upgrade and the certificate renewal: keelson deploy keeps
    the cluster as they left it."""
    again = keelson("deploy", "-i", str(etcd_lab))
    assert again.code == 0, again.err
    assert again.record["stats"]["changed"] == {}  # type: ignore[index]


def test_a_controller_without_the_members_ca_is_refused_before_any_change(etcd_lab: Path) -> None:
    """A fresh checkout, another operator, CI: the controller lacks the CA the members trust. The
    deploy refuses (one line saying how to restore credentials/) and creates no new CA."""
    pki = etcd_lab / "credentials" / "etcd-pki"
    aside = pki.with_name("etcd-pki.aside")
    trusted = {n: sh(n, "sha256sum /etc/etcd/pki/ca.crt").stdout for n in MEMBERS}
    pids = main_pids()
    pki.rename(aside)
    try:
        run = keelson("deploy", "-i", str(etcd_lab))
        assert run.code == 4, run.out[-2000:] + run.err
        assert run.err.count("\n") == 1, run.err
        assert re.search(
            r"node[123] trusts an etcd CA that this controller does not hold \(ca.crt missing\)",
            run.err,
        ), run.err
        assert f"Restore {pki} (the inventory's credentials/) from its backup" in run.err
        assert not (pki / "ca.key").exists() and not (pki / "ca.crt").exists()
        assert {n: sh(n, "sha256sum /etc/etcd/pki/ca.crt").stdout for n in MEMBERS} == trusted
        assert main_pids() == pids
    finally:
        if pki.exists():
            for leftover in sorted(pki.rglob("*"), reverse=True):
                leftover.rmdir() if leftover.is_dir() else leftover.unlink()
            pki.rmdir()
        aside.rename(pki)


def test_a_controller_without_the_backup_key_is_refused_before_any_change(
    etcd_lab: Path,
) -> None:
    """The backup key encrypts the snapshots: a controller that lost it is refused, and the
    members keep theirs (a new key would leave every snapshot unreadable)."""
    key = etcd_lab / "credentials" / "etcd-backup" / "backup.key"
    held = {n: sh(n, "sha256sum /etc/keelson/etcd-backup.secret").stdout for n in MEMBERS}
    aside = key.with_name("backup.key.aside")
    key.rename(aside)
    try:
        run = keelson("deploy", "-i", str(etcd_lab), "--tags", "etcd_backup")
        assert run.code == 4, run.out[-2000:] + run.err
        assert run.err.count("\n") == 1, run.err
        assert "hold 1 backup key(s) that this controller's" in run.err, run.err
        assert "keelson credentials restore" in run.err
        assert not key.exists()
        assert {
            n: sh(n, "sha256sum /etc/keelson/etcd-backup.secret").stdout for n in MEMBERS
        } == held
    finally:
        key.unlink(missing_ok=True)
        aside.rename(key)


def test_backup_lands_on_the_store_encrypted_with_the_kubernetes_pki(etcd_lab: Path) -> None:
    etcdctl("node1", "put /test/first value-in-clear")
    before = set(store_names())
    run = keelson("etcd", "backup", "-i", str(etcd_lab))
    assert run.code == 0, run.out[-2000:] + run.err
    new = sorted(set(store_names()) - before)
    assert len(new) == 1, new
    name = new[0]
    assert f"backup {name}:" in run.out
    path = stored(name)
    meta = json.loads(sh(STORE, f"cat {path}.json").stdout)
    assert meta["etcd_version"].startswith("3.6.")
    assert [m["name"] for m in meta["members"]] == list(MEMBERS)
    assert meta["revision"] > 0 and meta["total_keys"] > 0 and meta["cluster_id"]
    # In the taking member's own directory, only the backup user may read it, and it is
    # ciphertext: neither etcd's values nor the control plane's CA key are there in clear.
    assert path.split("/")[-2] == meta["taken_on"]
    for suffix in (".db.gz.enc", ".pki.tar.gz.enc"):
        assert sh(STORE, f"stat -c '%U %a' {path}{suffix}").stdout.split() == ["etcd-backup", "600"]
        assert sh(STORE, f"head -c 8 {path}{suffix}").stdout == "Salted__"
        assert sh(
            STORE, f"zcat -f {path}{suffix} | grep -c value-in-clear", check=False
        ).stdout.strip() in ("", "0")
    # The Kubernetes PKI came with it: fetched on another member, it is the control plane's own.
    got = json.loads(sh("node3", f"keelson-etcd-backup fetch --pki {name} /root/pki-check").stdout)
    try:
        listing = sh("node3", f"tar -tzf {got['kubernetes_pki_archive']}").stdout.split()
        assert (
            "pki/ca.key" in listing
            and "pki/sa.key" in listing
            and "pki/front-proxy-ca.key" in listing
        )
        archived = sh(
            "node3", f"tar -xzOf {got['kubernetes_pki_archive']} pki/ca.key | sha256sum"
        ).stdout
        assert archived == sh(meta["taken_on"], "sha256sum < /etc/kubernetes/pki/ca.key").stdout
    finally:
        sh("node3", "rm -rf /root/pki-check")
    listed = keelson("etcd", "snapshots", "-i", str(etcd_lab))
    assert listed.code == 0 and name in listed.out


def test_scheduled_backup_runs_on_the_leader_only_and_exports_metrics(etcd_lab: Path) -> None:
    before = set(store_names())
    for node in MEMBERS:
        sh(node, "systemctl start keelson-etcd-backup.service")
    assert len(set(store_names()) - before) == 1
    metrics = [
        sh(n, "cat /var/lib/prometheus/node-exporter/keelson_etcd_backup.prom", check=False)
        for n in MEMBERS
    ]
    assert any("keelson_etcd_backup_last_success_timestamp_seconds" in m.stdout for m in metrics)
    status = keelson("etcd", "status", "-i", str(etcd_lab))
    assert status.code == 0, status.out + status.err
    assert "3 of 3 members answer" in status.out and "last backup: etcd-" in status.out


def test_backup_still_succeeds_when_a_member_is_killed_during_the_run(etcd_lab: Path) -> None:
    before = set(store_names())
    backup = subprocess.Popen(
        [*KEELSON, "etcd", "backup", "-i", str(etcd_lab)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    time.sleep(1.0)
    subprocess.run(["docker", "kill", f"keelson-{LAB}-node1"], check=True, capture_output=True)
    out, _ = backup.communicate(timeout=300)
    try:
        assert backup.returncode == 0, out[-3000:]
        # The snapshot this run took, as it says; the members' own timer may add one beside it
        # when the run crosses its schedule (it did once, at 11:00).
        taken = re.search(r"^backup (\S+): revision", out, re.MULTILINE)
        assert taken, out[-3000:]
        new = sorted(set(store_names()) - before)
        assert taken.group(1) in new, (taken.group(1), new)
        meta = json.loads(sh(STORE, f"cat {stored(taken.group(1))}.json").stdout)
        assert meta["taken_on"] != "node1"  # node1 died first: another member took it
    finally:
        subprocess.run(["docker", "start", f"keelson-{LAB}-node1"], check=True, capture_output=True)
        up = keelson("lab", "up", *LAB_LAYOUT)
        assert up.code == 0, up.err
        wait_healthy()


@pytest.mark.parametrize("damage", ["truncated", "altered", "planted", "another key"])
def test_a_damaged_snapshot_is_refused_before_any_member_stops(etcd_lab: Path, damage: str) -> None:
    """Damage on the store (as root there: more than the store's user may do) or a member with
    another cluster's key: the restore refuses on every member before anything stops."""
    good = store_names()[-1]
    path = stored(good)
    planted = f"etcd-20200101T000000Z-r{good.rsplit('-r', 1)[1]}"
    snapshot, expected = {
        "truncated": (good, "altered or truncated"),
        "altered": (good, "altered or truncated"),
        "planted": (planted, "does not authenticate with the backup key"),
        "another key": (good, "which /etc/keelson/etcd-backup.secret does not hold"),
    }[damage]
    sh(STORE, f"cp -p {path}.db.gz.enc /root/good.db.gz.enc")
    sh(STORE, f"cp -p {path}.json /root/good.json")
    damage_cmd = {
        "truncated": f"truncate -s 300 {path}.db.gz.enc",
        "altered": f"printf 'X' | dd of={path}.db.gz.enc bs=1 seek=200 conv=notrunc 2>/dev/null",
        # A file of the store's own making, with metadata whose checksum matches it.
        "planted": f"cd $(dirname {path}) && head -c 5000 /dev/urandom > {planted}.db.gz.enc && "
        f"python3 {PLANT} {good}.json {planted}",
        "another key": "true",
    }[damage]
    sh(STORE, damage_cmd)
    if damage == "another key":
        for node in MEMBERS:
            sh(
                node,
                "cp -p /etc/keelson/etcd-backup.secret /root/secret.aside && "
                "head -c 32 /dev/urandom | base64 > /etc/keelson/etcd-backup.secret",
            )
    pids = main_pids()
    try:
        run = keelson("etcd", "restore", "-i", str(etcd_lab), "--snapshot", snapshot, "--yes")
        assert run.code != 0
        assert expected in run.err, run.err
        assert main_pids() == pids  # no member was stopped or restarted
        assert "is healthy" in etcdctl("node1", "endpoint health").stdout
    finally:
        sh(
            STORE,
            f"cp -p /root/good.db.gz.enc {path}.db.gz.enc && cp -p /root/good.json {path}.json",
        )
        sh(STORE, f"rm -f $(dirname {path})/{planted}.* /root/good.*")
        if damage == "another key":
            for node in MEMBERS:
                sh(node, "mv /root/secret.aside /etc/keelson/etcd-backup.secret")


def test_restore_brings_back_exactly_the_snapshot_with_a_higher_revision(
    etcd_lab: Path,
) -> None:
    kv("node1", "put", "10000", "/data/k", "v1")
    run = keelson("etcd", "backup", "-i", str(etcd_lab))
    assert run.code == 0, run.out[-2000:] + run.err
    name = re.findall(r"^backup (etcd-\S+):", run.out, re.MULTILINE)[-1]
    meta = json.loads(sh(STORE, f"cat {stored(name)}.json").stdout)
    revision_at_backup, expected = dump()
    # The API servers write on: the snapshot's revision is the backup's, at most the dump's.
    assert meta["revision"] <= revision_at_backup
    assert sum(k.startswith("/data/k") for k in expected) == 10000

    # After the backup: new keys, changed keys, deleted keys.
    kv("node1", "put", "500", "/data/after/", "late")
    kv("node1", "put", "2000", "/data/k", "v2")
    etcdctl("node1", "del --prefix /data/k00")
    highest_before, changed = dump()
    assert changed != expected

    restore = keelson("etcd", "restore", "-i", str(etcd_lab), "--snapshot", name, "--yes")
    assert restore.code == 0, restore.out[-3000:] + restore.err
    # Done means the cluster is back: the controller's kubectl (the first API server) answers at
    # once, and every node is Ready.
    nodes = keelson("kubectl", "-i", str(etcd_lab), "get", "nodes", "--no-headers")
    assert nodes.code == 0, nodes.out + nodes.err
    assert nodes.out.count(" Ready ") == 4, nodes.out

    revision, restored = dump("node2")
    assert restored == expected  # every key and value, nothing more
    assert revision > highest_before
    health = etcdctl("node3", "endpoint health --cluster")
    assert health.stdout.count("is healthy") == 3
    for node in MEMBERS:
        assert sh(node, "ls -d /var/lib/etcd.before-restore-*/member").returncode == 0
    # The role agrees with the restored cluster: nothing to change.
    again = keelson("deploy", "-i", str(etcd_lab), "--tags", "etcd")
    assert again.code == 0, again.err
    assert again.record["stats"]["changed"] == {}  # type: ignore[index]


def test_retention_runs_on_the_store_for_each_members_own_snapshots(etcd_lab: Path) -> None:
    """The store prunes after each upload, by its own configuration, in the uploading member's
    directory only; nothing else there is ever deleted."""
    others = {m: store_names(m) for m in ("node1", "node3")}
    newest = stored(store_names()[-1])
    # Old snapshots by name (copies of a real one) in node2's directory: two on 1 Nov, one each
    # on 2, 3, 9 and 16 Nov.
    old = [
        "etcd-20261101T010000Z-r1",
        "etcd-20261101T230000Z-r2",
        "etcd-20261102T120000Z-r3",
        "etcd-20261103T120000Z-r4",
        "etcd-20261109T120000Z-r5",
        "etcd-20261116T120000Z-r6",
    ]
    copies = " && ".join(
        f"cp {newest}.db.gz.enc {o}.db.gz.enc && cp {newest}.json {o}.json" for o in old
    )
    # An operator's file beside them is not a snapshot: retention never deletes it.
    sh(
        STORE,
        f"mkdir -p {STORE_DIR}/node2 && cd {STORE_DIR}/node2 && {copies} && echo {{}} > notes.json"
        f" && chown -R etcd-backup {STORE_DIR}/node2",
    )
    real = [n for n in store_names("node2") if n not in old and n != "notes"]
    # keep last 2, daily 3, weekly 3 -> the next backup (N) plus the newest other one; the
    # newest of the 3 newest days (today: N; 16 Nov; 9 Nov); the newest of the 3 newest ISO
    # weeks (this week: N; week of 16 Nov; week of 9 Nov).
    config = "/etc/keelson/etcd-backup-store.json"
    policy = "{'last': 2, 'daily': 3, 'weekly': 3}"
    sh(
        STORE,
        f'cp -p {config} /root/store.json && python3 -c "import json;'
        f" c = json.load(open('{config}')); c['retention'] = {policy};"
        f" json.dump(c, open('{config}', 'w'))\"",
    )
    try:
        sh("node2", "keelson-etcd-backup run")
    finally:
        sh(STORE, f"mv /root/store.json {config}")
    names = store_names("node2")
    taken = [n for n in names if n not in old and n not in real and n != "notes"]
    assert len(taken) == 1
    expected = {taken[0], "etcd-20261116T120000Z-r6", "etcd-20261109T120000Z-r5"}
    expected |= {real[-1]} if real else set()
    assert set(names) == expected | {"notes"}
    # No file of a pruned snapshot is left, nor a partial upload.
    files = sh(STORE, f"ls -1A {STORE_DIR}/node2").stdout.split()
    owners = {re.sub(r"\.(db\.gz\.enc|pki\.tar\.gz\.enc|json)$", "", f) for f in files}
    assert owners == expected | {"notes"}, files
    assert {m: store_names(m) for m in others} == others  # other members' snapshots untouched


# The same lab is an HA Kubernetes cluster: three control planes (node1-3) and a worker (node4).
KUBECTL = "kubectl --kubeconfig /etc/kubernetes/admin.conf "


def retry(node: str, script: str, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while True:
        proc = sh(node, script, check=False)
        if proc.returncode == 0:
            return proc.stdout
        if time.monotonic() > deadline:
            raise AssertionError(f"{node}: {script}\n{proc.stdout}\n{proc.stderr}")
        time.sleep(3)


def test_api_answers_and_schedules_with_a_control_plane_host_down(etcd_lab: Path) -> None:
    registry = sh("node2", "grep -o '[0-9.]*:5000' /etc/kubernetes/kubeadm-config.yaml").stdout
    image = f"{registry.split()[0]}/service/hello:0.1.0"
    subprocess.run(["docker", "stop", f"keelson-{LAB}-node1"], check=True, capture_output=True)
    try:
        # The worker's node-local endpoint still reaches an API server.
        assert retry("node4", "curl -sfk https://127.0.0.1:6444/readyz").strip() == "ok"
        # A control-plane host's kubectl goes through its own node-local endpoint too.
        nodes = retry("node2", KUBECTL + "get nodes --no-headers")
        assert "node4" in nodes
        # A new pod is scheduled (scheduler leadership moves off node1) and runs on the worker.
        retry("node2", KUBECTL + f"run ha-check --image={image} --restart=Never")
        retry("node2", KUBECTL + "wait --for=condition=Ready pod/ha-check --timeout=10s", 240)
        placed = sh("node2", KUBECTL + "get pod ha-check -o jsonpath='{.spec.nodeName}'").stdout
        assert placed == "node4"
    finally:
        subprocess.run(["docker", "start", f"keelson-{LAB}-node1"], check=True, capture_output=True)
        up = keelson("lab", "up", *LAB_LAYOUT)
        assert up.code == 0, up.err
        wait_healthy()


def test_no_run_record_holds_a_secret(etcd_lab: Path) -> None:
    """Every run on this lab (deploys with control-plane joins, backups, restores): no join
    token, certificate key, private key or admin client key in any record."""
    assert_records_hold_no_secret(lab_secrets(LAB, [*MEMBERS, STORE], etcd_lab))
