"""The foundation's main job on a 3-host lab, asserted as a user sees it.

Order matters: bad inventories are tried on the fresh lab first (nothing may change), then the
main job converges it, a second run changes nothing, and --check --diff reports no drift until
a host is edited by hand.
"""

import base64
import json
import os
import re
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.conftest import (
    KEELSON,
    KUBE_VERSION,
    LAB,
    ROOT,
    Run,
    assert_records_hold_no_secret,
    docker_exec,
    keelson,
    lab_secrets,
    lab_up,
)

NODES = ("node1", "node2", "node3")
ETCDCTL = "set -a; . /etc/etcd/etcdctl.env; set +a; etcdctl "


def copy_inventory(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def edit_hosts(inv: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    hosts = inv / "hosts.yml"
    document = yaml.safe_load(hosts.read_text())
    edit(document)
    hosts.write_text(yaml.safe_dump(document))


def add_even_etcd(doc: dict[str, Any]) -> None:
    doc["all"]["children"]["etcd"]["hosts"] = {"node1": {}, "node2": {}}


def add_unreachable_host(doc: dict[str, Any]) -> None:
    doc["all"]["hosts"]["node9"] = {"ansible_host": "172.31.251.99"}
    doc["all"]["children"]["kube_node"]["hosts"]["node9"] = {}


def assert_untouched() -> None:
    """Nothing the main job installs is on any host yet."""
    for node in NODES:
        assert docker_exec(node, "test", "-e", "/usr/sbin/chronyd").returncode != 0, node
        assert docker_exec(node, "test", "-e", "/etc/sysctl.d/90-keelson.conf").returncode != 0


def one_error_line(run: Run) -> str:
    lines = run.err.strip().splitlines()
    assert len(lines) == 1, run.err
    assert lines[0].startswith("keelson: error: ")
    assert "Traceback" not in run.err
    return lines[0]


def test_duplicate_host_is_refused(lab: Path, tmp_path: Path) -> None:
    inv = copy_inventory(lab, tmp_path / "inv")
    text = (inv / "hosts.yml").read_text()
    (inv / "hosts.yml").write_text(
        text.replace(
            "    node2:\n", "    node1:\n      ansible_host: 172.31.251.12\n    node2:\n", 1
        )
    )
    run = keelson("deploy", "-i", str(inv))
    assert run.code == 3
    assert "duplicate mapping key 'node1'" in one_error_line(run)
    assert_untouched()


def test_even_etcd_group_is_refused(lab: Path, tmp_path: Path) -> None:
    inv = copy_inventory(lab, tmp_path / "inv")
    edit_hosts(inv, add_even_etcd)
    run = keelson("deploy", "-i", str(inv))
    assert run.code == 3
    assert "etcd" in one_error_line(run)
    assert_untouched()


def test_misspelled_variable_is_refused_with_a_suggestion(lab: Path, tmp_path: Path) -> None:
    inv = copy_inventory(lab, tmp_path / "inv")
    with (inv / "group_vars" / "all.yml").open("a") as f:
        f.write("common_ntp_severs: [ntp.example.org]\n")
    run = keelson("deploy", "-i", str(inv))
    assert run.code == 3
    line = one_error_line(run)
    assert "common_ntp_severs" in line
    assert "common_ntp_servers" in line
    assert_untouched()


def edit_group_vars(inv: Path, old: str, new: str) -> None:
    all_vars = inv / "group_vars" / "all.yml"
    text = all_vars.read_text()
    assert old in text, text
    all_vars.write_text(text.replace(old, new))


def set_kube_version(inv: Path) -> None:
    edit_group_vars(inv, f"kube_version: {KUBE_VERSION}", "kube_version: v1.29.9")


def overlap_networks(inv: Path) -> None:
    edit_group_vars(inv, "kube_pod_cidr: 10.244.0.0/16", "kube_pod_cidr: 10.96.0.0/16")


def add_workers_to_etcd(inv: Path) -> None:
    edit_hosts(inv, lambda doc: doc["all"]["children"]["etcd"]["hosts"].update(node2={}, node3={}))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (set_kube_version, "kube_version v1.29.9 is not in the bundle"),
        (overlap_networks, "kube_pod_cidr 10.96.0.0/16 and kube_service_cidr 10.96.0.0/12 overlap"),
        (add_workers_to_etcd, "node2: a worker (kube_node) in the etcd group"),
    ],
    ids=["version-not-in-bundle", "overlapping-networks", "worker-in-etcd"],
)
def test_bad_kubernetes_settings_are_refused_before_any_change(
    lab: Path, tmp_path: Path, edit: Callable[[Path], None], message: str
) -> None:
    inv = copy_inventory(lab, tmp_path / "inv")
    edit(inv)
    run = keelson("deploy", "-i", str(inv))
    assert run.code == 3
    assert message in one_error_line(run)
    assert_untouched()


def test_unreachable_host_stops_the_run_before_any_change(lab: Path, tmp_path: Path) -> None:
    inv = copy_inventory(lab, tmp_path / "inv")
    edit_hosts(inv, add_unreachable_host)
    run = keelson("deploy", "-i", str(inv))
    assert run.code == 5, run.out + run.err
    assert "node9 unreachable" in one_error_line(run)
    stats = run.record["stats"]
    assert isinstance(stats, dict)
    assert sum(stats["changed"].values()) == 0
    assert_untouched()


def test_a_changed_host_key_stops_the_run_naming_the_host(lab: Path, tmp_path: Path) -> None:
    """known_hosts holds node1's key for node2's address: as if node2 were replaced, or someone
    answered in its place. The run stops before any change, in one line naming node2."""
    inv = copy_inventory(lab, tmp_path / "inv")
    group_vars = inv / "group_vars" / "all.yml"
    settings = yaml.safe_load(group_vars.read_text())
    known_hosts = Path(
        re.findall(r"UserKnownHostsFile=(\S+)", settings["ansible_ssh_common_args"])[0]
    )
    lines = dict(line.split(" ", 1) for line in known_hosts.read_text().splitlines() if line)
    addresses = {
        name: spec["ansible_host"]
        for name, spec in yaml.safe_load((inv / "hosts.yml").read_text())["all"]["hosts"].items()
    }
    lines[addresses["node2"]] = lines[addresses["node1"]]
    forged = tmp_path / "known_hosts"
    forged.write_text("".join(f"{address} {key}\n" for address, key in lines.items()))
    settings["ansible_ssh_common_args"] = settings["ansible_ssh_common_args"].replace(
        str(known_hosts), str(forged)
    )
    group_vars.write_text(yaml.safe_dump(settings))
    run = keelson("deploy", "-i", str(inv))
    assert run.code == 5, run.out + run.err
    assert one_error_line(run).startswith(
        "keelson: error: host node2: its SSH host key is not in known_hosts or differs"
    )
    assert_untouched()


def test_main_job_converges_and_every_host_serves_metrics(lab: Path) -> None:
    run = keelson("deploy", "-i", str(lab))
    assert run.code == 0, run.out[-3000:] + run.err
    assert run.record["strategy"] == "mitogen_linear"
    for node in NODES:
        assert any(line.startswith(node) for line in run.out.splitlines()), "recap row missing"
    for i, node in enumerate(NODES, start=1):
        with urllib.request.urlopen(f"http://172.31.251.{10 + i}:9100/metrics", timeout=5) as r:
            body = r.read().decode()
        assert "node_exporter_build_info" in body, node
        assert f'nodename="{node}"' in body


def test_runtime_and_etcd_come_from_the_bundle(lab: Path) -> None:
    pins = yaml.safe_load((ROOT / "versions.yml").read_text())["components"]
    for node in NODES:
        containerd = docker_exec(node, "containerd", "--version").stdout
        assert f" {pins['containerd']['version']}" in containerd, containerd
        crictl = docker_exec(node, "crictl", "--version").stdout
        assert pins["crictl"]["version"] in crictl, crictl
        # crictl reaches containerd 2 over the CRI socket the role configured.
        assert docker_exec(node, "crictl", "info").returncode == 0, node
    etcd = docker_exec("node1", "etcd", "--version").stdout
    assert f"etcd Version: {pins['etcd']['version'].removeprefix('v')}" in etcd, etcd


def kubectl(lab: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """The bundle's kubectl on the controller with the kubeconfig the deploy fetched."""
    return subprocess.run(
        [*KEELSON, "kubectl", "-i", str(lab), "--", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )


def kubectl_json(lab: Path, *args: str) -> Any:
    proc = kubectl(lab, *args, "--output=json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def node_readiness(lab: Path) -> dict[str, str]:
    """Node name -> status of its Ready condition."""
    return {
        n["metadata"]["name"]: next(
            c["status"] for c in n["status"]["conditions"] if c["type"] == "Ready"
        )
        for n in kubectl_json(lab, "get", "nodes")["items"]
    }


def test_every_node_is_ready_and_kube_system_runs(lab: Path) -> None:
    nodes = kubectl_json(lab, "get", "nodes")["items"]
    assert sorted(n["metadata"]["name"] for n in nodes) == list(NODES)
    for node in nodes:
        ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
        assert ready[0]["status"] == "True", (node["metadata"]["name"], ready)
        assert node["status"]["nodeInfo"]["kubeletVersion"] == KUBE_VERSION
    pods = kubectl_json(lab, "get", "pods", "--all-namespaces")["items"]
    system = [p for p in pods if p["metadata"]["namespace"] in ("kube-system", "kube-flannel")]
    names = " ".join(p["metadata"]["name"] for p in system)
    for expected in ("kube-apiserver-node1", "coredns", "kube-proxy", "kube-flannel-ds"):
        assert expected in names, names
    not_running = {p["metadata"]["name"]: p["status"]["phase"] for p in system}
    assert {n: ph for n, ph in not_running.items() if ph != "Running"} == {}


PROMETHEUS = "http://172.31.251.11:9090"
# What the monitoring host (node1) scrapes, by job and inventory host: every layer, from the first
# deploy (docs/monitoring.md). CoreDNS's pods are found through the API (their number varies).
SCRAPED = {
    ("prometheus", "node1"),
    ("alertmanager", "node1"),
    ("etcd", "node1"),
    ("apiserver", "node1"),
    ("kube-controller-manager", "node1"),
    ("kube-scheduler", "node1"),
    *(
        (job, node)
        for job in ("node", "kubelet", "cadvisor", "kube-proxy", "haproxy")
        for node in NODES
    ),
}


def prometheus_targets() -> list[dict[str, Any]]:
    """Prometheus's active targets, asked from another host as a person's browser would."""
    answer = docker_exec("node2", "curl", "-sf", "http://node1:9090/api/v1/targets?state=active")
    assert answer.returncode == 0, answer.stderr
    return list(json.loads(answer.stdout)["data"]["activeTargets"])


def query(expression: str) -> list[dict[str, Any]]:
    """The result of an instant query, asked from another host."""
    answer = docker_exec(
        "node2",
        "curl",
        "-sf",
        "http://node1:9090/api/v1/query",
        "--data-urlencode",
        f"query={expression}",
    )
    assert answer.returncode == 0, answer.stderr
    return list(json.loads(answer.stdout)["data"]["result"])


def test_prometheus_scrapes_every_layer_of_the_cluster(lab: Path) -> None:
    """Every target up through the Prometheus HTTP API: hosts, etcd over TLS with a client
    certificate, the API server, controller-manager and scheduler with a read-only token, the
    kubelets and their cAdvisor, kube-proxy, the node-local HAProxies, CoreDNS and
    kube-state-metrics (through the API server's proxy). Its credentials are readable by the
    prometheus user only."""
    # Right after the deploy: the last targets (kube-state-metrics' pod) may not be scraped yet.
    deadline = time.monotonic() + 180
    while True:
        targets = prometheus_targets()
        health = {(t["labels"]["job"], t["labels"].get("host", "")): t for t in targets}
        down = {
            key: t.get("lastError") or t["health"]
            for key, t in health.items()
            if t["health"] != "up"
        }
        pods = [t for t in targets if t["labels"]["job"] in ("coredns", "kube-state-metrics")]
        missing = SCRAPED - set(health)
        if not missing and not down and len(pods) == 3:
            break
        assert time.monotonic() < deadline, {
            "missing": sorted(missing),
            "down": down,
            "pods": pods,
        }
        time.sleep(3)
    assert sorted(t["labels"]["job"] for t in pods) == ["coredns", "coredns", "kube-state-metrics"]
    assert set(health) - SCRAPED <= {(t["labels"]["job"], t["labels"]["host"]) for t in pods}, (
        health.keys()
    )
    # kube-state-metrics reports the cluster's objects, with their own labels.
    coredns = query('kube_deployment_status_replicas_available{deployment="coredns"}')
    assert [(r["metric"]["namespace"], r["value"][1]) for r in coredns] == [("kube-system", "2")]
    for path in (
        "/etc/prometheus/kubernetes/token",
        "/etc/prometheus/etcd/prometheus-etcd-client.key",
    ):
        mode = docker_exec("node1", "stat", "-c", "%U %a", path).stdout.strip()
        assert mode == "prometheus 600", (path, mode)
    # What on-call sees from the controller: the URLs, every target up.
    seen = keelson("monitoring", "-i", str(lab))
    assert f"Prometheus: {PROMETHEUS}/ ready" in seen.out, seen.out + seen.err
    assert "Alertmanager: http://172.31.251.11:9093/ui/ ready" in seen.out, seen.out
    assert f"targets: {len(targets)} up, 0 down" in seen.out, seen.out
    # The token reads metrics and nothing else.
    token = docker_exec("node1", "cat", "/etc/prometheus/kubernetes/token").stdout.strip()
    secrets = docker_exec(
        "node2",
        "curl",
        "-sk",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-H",
        f"Authorization: Bearer {token}",
        "https://node1:6443/api/v1/namespaces/kube-system/secrets",
    )
    assert secrets.stdout == "403", secrets.stdout


# The lab's alert receiver (`lab up --monitoring`): what Alertmanager delivered, as it got it.
RECEIVER = "http://172.31.251.4:8080/alerts"
BROWSER = (
    "chromium",
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,4400",
    # Lets the page's scripts fetch from the API and render before the DOM or picture is taken.
    "--virtual-time-budget=10000",
)
ARTIFACTS = ROOT / ".keelson" / "artifacts"


def browse(url: str, profile: Path, *what: str) -> str:
    shown = subprocess.run(
        [*BROWSER, f"--user-data-dir={profile}", *what, url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr[-2000:]
    return shown.stdout


def test_a_browser_on_the_controller_shows_every_target_up(lab: Path, tmp_path: Path) -> None:
    """Debian's chromium, headless on the controller, loads Prometheus's target page as on-call
    would: each scrape pool shows all its targets up. The screenshot is kept in the suite's
    artifacts (.keelson/artifacts/prometheus-targets.png)."""
    page = f"{PROMETHEUS}/targets"
    text = re.sub(r"(\s*<[^>]+>\s*)+", " | ", browse(page, tmp_path / "profile", "--dump-dom"))
    pools = {
        name: (int(up), int(total))
        for name, up, total in re.findall(r"\| ([\w-]+) \| Show config \| (\d+) / (\d+) up", text)
    }
    jobs: dict[str, int] = {}
    for target in prometheus_targets():
        jobs[target["labels"]["job"]] = jobs.get(target["labels"]["job"], 0) + 1
    assert pools == {job: (n, n) for job, n in jobs.items()}, text[:4000]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "prometheus-targets.png"
    shot.unlink(missing_ok=True)
    browse(page, tmp_path / "profile", f"--screenshot={shot}")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 20_000, shot.stat()


def receiver_alerts() -> list[tuple[str, str, str]]:
    """(alertname, host, status) of every alert the lab's receiver got, in order."""
    with urllib.request.urlopen(RECEIVER, timeout=10) as answer:
        bodies = json.load(answer)
    return [
        (a["labels"]["alertname"], a["labels"].get("host", ""), a["status"])
        for body in bodies
        for a in body["alerts"]
    ]


def wait_delivered(wanted: set[tuple[str, str, str]], after: int, timeout: float) -> float:
    """Seconds until every WANTED alert reached the receiver (among those after the first
    AFTER)."""
    started = time.monotonic()
    while not wanted <= set(receiver_alerts()[after:]):
        assert time.monotonic() - started < timeout, (wanted, receiver_alerts()[after:])
        time.sleep(5)
    return time.monotonic() - started


BACKUP_METRICS = "/var/lib/prometheus/node-exporter/keelson_etcd_backup.prom"


@dataclass
class AlertFaults:
    """The two faults of the alerts' test: node_exporter stopped on node3, and on node1 (the
    etcd member) a last good backup 4 hours old where the backup job writes it, its timer
    stopped meanwhile."""

    after: int  # alerts the receiver had got before them
    kept: subprocess.CompletedProcess[str]  # node1's backup metrics as they were
    repaired: bool = False

    def repair(self) -> None:
        """Put both back (once)."""
        if self.repaired:
            return
        self.repaired = True
        docker_exec("node3", "systemctl", "start", "prometheus-node-exporter")
        if self.kept.returncode == 0:
            subprocess.run(
                ["docker", "exec", "-i", f"keelson-{LAB}-node1", "sh", "-c",
                 f"cat > {BACKUP_METRICS}"],
                input=self.kept.stdout,
                text=True,
                check=True,
            )  # fmt: skip
        else:
            docker_exec("node1", "rm", "-f", BACKUP_METRICS)
        docker_exec("node1", "systemctl", "start", "keelson-etcd-backup.timer")


@pytest.fixture(scope="module")
def alert_faults(lab: Path) -> Iterator[AlertFaults]:
    """The alerts' faults, made by the first test that asks for them (before tests whose runs
    leave node3's node_exporter and node1's backup timer and metrics alone: their tags or limits
    do not reach them, and the alerts' `for:` runs meanwhile) and put back by
    test_alerts_reach_the_lab_receiver_and_resolve, or at the end of the module if it did not."""
    faults = AlertFaults(len(receiver_alerts()), docker_exec("node1", "cat", BACKUP_METRICS))
    try:
        stale = int(time.time()) - 4 * 3600
        assert (
            docker_exec("node1", "systemctl", "stop", "keelson-etcd-backup.timer").returncode == 0
        )
        fake = (
            f"echo 'keelson_etcd_backup_last_success_timestamp_seconds {stale}'"
            f" > {BACKUP_METRICS}.t"
            f" && mv {BACKUP_METRICS}.t {BACKUP_METRICS}"
        )
        assert docker_exec("node1", "sh", "-c", fake).returncode == 0
        assert docker_exec("node3", "systemctl", "stop", "prometheus-node-exporter").returncode == 0
        yield faults
    finally:
        faults.repair()


WORKLOAD = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: hello, labels: {app: hello}}
spec:
  replicas: 2
  selector: {matchLabels: {app: hello}}
  template:
    metadata: {labels: {app: hello}}
    spec:
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            - labelSelector: {matchLabels: {app: hello}}
              topologyKey: kubernetes.io/hostname
      containers:
        - name: hello
          image: IMAGE
          ports: [{containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: hello}
spec:
  selector: {app: hello}
  ports: [{port: 80, targetPort: 8080}]
"""
FETCH = "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).status)"
RESOLVE = "import socket, sys; print(socket.gethostbyname(sys.argv[1]))"


# The alerts' faults start here: the tests from here to the alerts' test run while the alerts wait
# out their `for:` (alert_faults).
@pytest.mark.usefixtures("alert_faults")
def test_pods_on_two_workers_reach_each_other_a_service_and_dns(lab: Path) -> None:
    group_vars = yaml.safe_load((lab / "group_vars" / "all.yml").read_text())
    registry = group_vars["kube_image_repository"].rsplit("/", 1)[0]
    image = f"{registry}/service/hello:0.1.0"
    applied = kubectl(lab, "apply", "-f", "-", stdin=WORKLOAD.replace("IMAGE", image))
    assert applied.returncode == 0, applied.stderr
    rollout = kubectl(lab, "rollout", "status", "deployment/hello", "--timeout=180s")
    assert rollout.returncode == 0, rollout.stdout + rollout.stderr
    pods = kubectl_json(lab, "get", "pods", "--selector=app=hello")["items"]
    placed = {p["spec"]["nodeName"]: p for p in pods}
    assert sorted(placed) == ["node2", "node3"], placed.keys()
    client, server = placed["node2"]["metadata"]["name"], placed["node3"]
    service_ip = kubectl_json(lab, "get", "service", "hello")["spec"]["clusterIP"]

    def in_client(*script: str) -> str:
        proc = kubectl(lab, "exec", client, "--", "python3", "-c", *script)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout.strip()

    # Pod to pod across nodes, through the VXLAN overlay.
    assert in_client(FETCH, f"http://{server['status']['podIP']}:8080/healthz") == "200"
    # A ClusterIP service from a pod on another node.
    assert in_client(FETCH, f"http://{service_ip}/healthz") == "200"
    # Cluster DNS resolves the service's name to its ClusterIP.
    assert in_client(RESOLVE, "hello.default.svc.cluster.local") == service_ip
    assert in_client(FETCH, "http://hello/healthz") == "200"


CANARY = "keelson-canary-9f2c"
PRIVILEGED_POD = """
apiVersion: v1
kind: Pod
metadata: {name: privileged}
spec:
  hostNetwork: true
  containers: [{name: c, image: registry.invalid/c:1, securityContext: {privileged: true}}]
"""
BASELINE_POD = """
apiVersion: v1
kind: Pod
metadata: {name: baseline}
spec:
  containers: [{name: c, image: registry.invalid/c:1}]
"""


def anonymous_status(node: str, url: str) -> str:
    """The HTTP status of a request without credentials from NODE."""
    return docker_exec(node, "curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", url).stdout


def apiserver_args(node: str = "node1") -> list[str]:
    """The command line of the API server process running on NODE (not its mirror pod in the
    API, which the kubelet replaces a moment after the restart: read too early, it still shows
    the old command line, as a clean-clone run of session 17 did)."""
    cmdline = docker_exec(node, "sh", "-c", "cat /proc/$(pgrep -xn kube-apiserver)/cmdline")
    assert cmdline.returncode == 0, cmdline.stderr
    return cmdline.stdout.rstrip("\0").split("\0")


def apiserver_container(node: str) -> str:
    return docker_exec(node, "crictl", "ps", "--name", "^kube-apiserver$", "-q").stdout.strip()


def test_the_api_server_is_hardened(lab: Path) -> None:
    """Secrets are ciphertext in etcd; anonymous requests are refused but for the health
    endpoints, by the API server and by a kubelet; the audit log names a Secret's creation
    without its content; Pod Security refuses a privileged pod and warns about a baseline one;
    profiling is off; the key is 0600 on the controller and on the host."""
    created = kubectl(
        lab, "create", "secret", "generic", "canary", f"--from-literal=token={CANARY}"
    )
    assert created.returncode == 0, created.stderr
    stored = subprocess.run(
        ["docker", "exec", f"keelson-{LAB}-node1", "sh", "-c",
         ETCDCTL + "get --print-value-only /registry/secrets/default/canary"],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout  # fmt: skip
    assert stored.startswith(b"k8s:enc:secretbox:v1:key-"), stored[:80]
    assert CANARY.encode() not in stored

    assert (
        anonymous_status("node2", "https://node1:6443/api/v1/namespaces/default/secrets") == "401"
    )
    assert anonymous_status("node2", "https://node1:6443/version") == "401"
    assert anonymous_status("node2", "https://node1:6443/readyz") == "200"
    assert anonymous_status("node1", "https://node2:10250/pods") == "401"

    audit = docker_exec("node1", "cat", "/var/log/kubernetes/audit/audit.log").stdout
    events = [json.loads(line) for line in audit.splitlines() if '"canary"' in line]
    creates = [
        e for e in events if e["verb"] == "create" and e["objectRef"]["resource"] == "secrets"
    ]
    assert [e["level"] for e in creates] == ["Metadata"], events
    encoded = base64.b64encode(CANARY.encode()).decode()
    assert CANARY not in audit and encoded not in audit

    refused = kubectl(lab, "apply", "--dry-run=server", "-f", "-", stdin=PRIVILEGED_POD)
    assert refused.returncode != 0
    assert 'violates PodSecurity "baseline:latest"' in refused.stderr, refused.stderr
    warned = kubectl(lab, "apply", "--dry-run=server", "-f", "-", stdin=BASELINE_POD)
    assert warned.returncode == 0, warned.stderr
    assert 'would violate PodSecurity "restricted:latest"' in warned.stderr, warned.stderr

    profiling = kubectl(lab, "get", "--raw", "/debug/pprof/")
    assert profiling.returncode != 0 and "NotFound" in profiling.stderr, profiling.stderr
    args = apiserver_args()
    assert "--kubelet-certificate-authority=/etc/kubernetes/pki/ca.crt" in args, args
    for component in ("kube-controller-manager", "kube-scheduler"):
        manifest = docker_exec("node1", "cat", f"/etc/kubernetes/manifests/{component}.yaml").stdout
        assert "--profiling=false" in manifest, component

    key = lab / "credentials" / "kubernetes" / "encryption-config.yaml"
    assert key.stat().st_mode & 0o777 == 0o600
    on_host = "/etc/kubernetes/apiserver/encryption-config.yaml"
    assert docker_exec("node1", "stat", "-c", "%a", on_host).stdout.strip() == "600"


def test_the_components_metrics_are_reachable_from_another_host_and_need_credentials(
    lab: Path,
) -> None:
    """What the monitoring hosts scrape (docs/monitoring.md): the controller manager's and the
    scheduler's secure ports on the node's address (kubeadm's default is 127.0.0.1), their
    health anonymous and their metrics for an authorized client only; kube-proxy's metrics."""
    for port in (10257, 10259):  # kube-controller-manager, kube-scheduler
        assert anonymous_status("node2", f"https://node1:{port}/healthz") == "200", port
        assert anonymous_status("node2", f"https://node1:{port}/metrics") in ("401", "403"), port
    for node in ("node1", "node2"):
        metrics = docker_exec("node3", "curl", "-sf", f"http://{node}:10249/metrics")
        assert metrics.returncode == 0 and "kubeproxy_sync_proxy_rules" in metrics.stdout, node


def test_a_controller_without_the_secrets_key_is_refused_before_any_change(lab: Path) -> None:
    """A controller that lost the encryption key (a fresh checkout), or holds another one (a stale
    copy), would leave every Secret unreadable: the deploy refuses, naming the file, and the
    API server's key stays as it was."""
    key = lab / "credentials" / "kubernetes" / "encryption-config.yaml"
    original = key.read_text()
    on_host = "sha256sum /etc/kubernetes/apiserver/encryption-config.yaml"
    before = docker_exec("node1", "sh", "-c", on_host).stdout
    other = re.sub(r"secret: \S+", "secret: " + base64.b64encode(b"k" * 32).decode(), original)
    try:
        key.unlink()
        lost = keelson("deploy", "-i", str(lab), "--tags", "kube_control_plane")
        key.write_text(other)
        stale = keelson("deploy", "-i", str(lab), "--tags", "kube_control_plane")
    finally:
        key.write_text(original)
        key.chmod(0o600)
    assert lost.code == 4, lost.out[-2000:] + lost.err
    assert lost.err.count("\n") == 1, lost.err
    assert f"encrypt Secrets with a key and this controller has no {key}" in lost.err, lost.err
    assert stale.code == 4, stale.out[-2000:] + stale.err
    assert f"encrypts Secrets with a key that {key} does not list" in stale.err, stale.err
    assert "keelson credentials restore" in stale.err
    assert docker_exec("node1", "sh", "-c", on_host).stdout == before
    for run in (lost, stale):
        assert run.record["stats"]["changed"] == {}, run.record["stats"]  # type: ignore[index]


def kubelet_started(node: str) -> float:
    """When the kubelet of NODE started, in seconds of the machine's monotonic clock (the lab
    hosts share it, so two hosts' times compare)."""
    show = docker_exec(
        node, "systemctl", "show", "kubelet", "--property=ExecMainStartTimestampMonotonic"
    )
    return int(show.stdout.strip().split("=", 1)[1]) / 1e6


def test_changed_settings_roll_to_the_running_kubelets_and_api_server(lab: Path) -> None:
    """Settings changed in the inventory reach the running cluster one host at a time: the
    kubelets restart node1, node2, node3 in turn (each node Ready before the next), then kubeadm's
    stored configuration and the API server's static pod are written again and the API server
    restarts with them."""
    # In files of their own: `lab up` owns group_vars/all.yml (and would put it back).
    settings = {
        "kube_node_max_pods": 100,
        "kube_control_plane_audit_log": {"max_age_days": 30, "max_backups": 5, "max_size_mb": 100},
    }
    for group in ("kube_control_plane", "kube_node"):
        (lab / "group_vars" / f"{group}.yml").write_text(yaml.safe_dump(settings))
    running = apiserver_container("node1")
    before = [kubelet_started(n) for n in NODES]
    run = keelson("deploy", "-i", str(lab), "--tags", "kube_node,kube_control_plane")
    assert run.code == 0, run.out[-3000:] + run.err
    after = [kubelet_started(n) for n in NODES]
    assert all(a > b for a, b in zip(after, before, strict=True)), (before, after)
    # One at a time: each restart came after the one before had its node Ready again.
    assert after[0] + 1 < after[1] and after[1] + 1 < after[2], after
    for node in kubectl_json(lab, "get", "nodes")["items"]:
        assert node["status"]["capacity"]["pods"] == "100", node["metadata"]["name"]
    assert node_readiness(lab) == dict.fromkeys(NODES, "True")
    assert apiserver_container("node1") not in ("", running)
    assert "--audit-log-maxbackup=5" in apiserver_args()
    # The old API server exited on SIGTERM: the kubelet did not have to kill it after its grace
    # period (with its watches open it used to wait for that, 30 s of every restart).
    containerd = docker_exec("node1", "journalctl", "-u", "containerd", "--no-pager", "-o", "cat")
    assert f'Stop container \\"{running}\\" with signal terminated' in containerd.stdout
    assert f'Kill container \\"{running}\\"' not in containerd.stdout
    stored = kubectl_json(lab, "get", "configmap", "--namespace=kube-system", "kubeadm-config")
    extra_args = yaml.safe_load(stored["data"]["ClusterConfiguration"])["apiServer"]["extraArgs"]
    assert {"name": "audit-log-maxbackup", "value": "5"} in extra_args, extra_args


def test_second_run_with_plain_ansible_changes_nothing(lab: Path) -> None:
    """The deploy ran with mitogen's strategy; plain Ansible (what users of the roles without
    keelson run) must find the same hosts converged. The roles with a molecule scenario are
    converged twice with plain Ansible there (idempotence); these two need a whole cluster, so
    their plain re-run is here (the preflight and the roles' own preflights run too)."""
    run = keelson(
        "deploy",
        "-i",
        str(lab),
        "--tags",
        "kube_control_plane,network_flannel",
        env={"KEELSON_MITOGEN": "0"},
    )
    assert run.code == 0, run.err
    assert run.record["strategy"] == "keelson_linear"
    stats = run.record["stats"]
    assert isinstance(stats, dict)
    assert stats["changed"] == {}, stats["changed"]
    assert sorted(stats["ok"]) == list(NODES)


def test_the_kubelet_configuration_in_force_is_the_roles(lab: Path) -> None:
    """Anonymous access opened by hand on node2, twice: in kubeadm's copy of the configuration
    (not read: nothing changes) and in a drop-in of its own (drift: --check names it, a run
    removes it). An anonymous request to the kubelet is refused before and after. And a kubelet
    left running an older program than its link's (a run killed before the restart) is drift the
    run restarts."""
    anonymous = ["curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", "https://node2:10250/pods"]
    assert docker_exec("node1", *anonymous).stdout == "401"
    edit = docker_exec(
        "node2",
        "sh",
        "-c",
        f"sed -i '/anonymous:/,/enabled:/s/enabled: false/enabled: true/' {KUBEADM_KUBELET_CONFIG}"
        f" && grep -A1 'anonymous:' {KUBEADM_KUBELET_CONFIG}",
    )
    assert "enabled: true" in edit.stdout, edit.stdout + edit.stderr
    dropin = "/etc/systemd/system/kubelet.service.d/20-anonymous.conf"
    planted = subprocess.run(
        ["docker", "exec", "-i", f"keelson-{LAB}-node2", "sh", "-c", f"cat > {dropin}"],
        input=ANONYMOUS_DROPIN,
        capture_output=True,
        text=True,
        check=False,
    )
    assert planted.returncode == 0, planted.stderr
    # And what a run killed between linking a new kubelet and restarting it leaves: the kubelet
    # running another file than the link's (here a copy; the link is put back as it was).
    docker_exec("node2", "sh", "-ec", KILLED_RUN_KUBELET)
    assert kubelet_program("node2") == "/tmp/kubelet.killed-run"

    drift = keelson("deploy", "-i", str(lab), "--check", "--diff", "--limit", "node2")
    assert drift.code == 10, drift.out + drift.err
    assert (
        "drift: node2: kube_node : Write the kubelet's directories, configuration, unit and"
        f" drop-in: {dropin}" in drift.out
    ), drift.out
    assert "drift: node2: kube_node : Restart the kubelet for a new binary" in drift.out
    fix = keelson("deploy", "-i", str(lab), "--limit", "node2", "--tags", "kube_node")
    assert fix.code == 0, fix.out[-3000:] + fix.err
    assert docker_exec("node2", "test", "-e", dropin).returncode != 0
    linked = docker_exec("node2", "readlink", "-f", "/usr/local/bin/kubelet").stdout.strip()
    assert kubelet_program("node2") == linked
    docker_exec("node2", "rm", "/tmp/kubelet.killed-run")
    # The kubelet restarted (the handler) with kubeadm's edited copy still on disk: it reads the
    # role's file, so anonymous access stays off.
    assert "enabled: true" in docker_exec("node2", "cat", KUBEADM_KUBELET_CONFIG).stdout
    assert kubelet_anonymous_enabled(lab, "node2") is False
    assert docker_exec("node1", *anonymous).stdout == "401"


def test_alerts_reach_the_lab_receiver_and_resolve(alert_faults: AlertFaults) -> None:
    """node_exporter stopped on node3, and a last good backup 4 hours old on node1 (the faults
    of alert_faults, made before the tests above): NodeExporterDown (for: 2m) and
    KeelsonEtcdBackupTooOld reach the lab's alert receiver through Alertmanager, and their
    resolution does once both are put back."""
    firing = {
        ("NodeExporterDown", "node3", "firing"),
        ("KeelsonEtcdBackupTooOld", "", "firing"),
    }
    try:
        wait_delivered(firing, alert_faults.after, timeout=300)
    finally:
        alert_faults.repair()
    resolved = {
        ("NodeExporterDown", "node3", "resolved"),
        ("KeelsonEtcdBackupTooOld", "", "resolved"),
    }
    wait_delivered(resolved, alert_faults.after, timeout=180)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The collection keelson.platform built from this checkout and installed by ansible-galaxy,
    and the keelson package installed (not editable) beside it, in a directory outside the
    checkout: what a site that installs keelson gets."""
    place = tmp_path_factory.mktemp("installed")
    galaxy = str(Path(KEELSON[0]).parent / "ansible-galaxy")
    build = [galaxy, "collection", "build", "--output-path", str(place), str(ROOT)]
    subprocess.run(build, cwd=place, check=True, capture_output=True)
    (tarball,) = place.glob("keelson-platform-*.tar.gz")
    install = [galaxy, "collection", "install", "-p", str(place / "collections"), str(tarball)]
    subprocess.run(install, cwd=place, check=True, capture_output=True)
    pip = [KEELSON[0], "-m", "pip", "install", "-q", "--no-deps"]
    subprocess.run([*pip, "--target", str(place / "site"), str(ROOT)], check=True)
    return place


def test_the_built_collection_serves_a_playbook_outside_the_tree(
    lab: Path, installed: Path
) -> None:
    """A site's own playbook uses two roles of the installed collection by their full names,
    with plain ansible-playbook and Ansible's defaults: the hosts keelson converged from the
    checkout are converged for the collection's roles too (nothing changes)."""
    playbook = installed / "site-playbook.yml"
    playbook.write_text(
        yaml.safe_dump(
            [
                {
                    "name": "The site's own play, with two roles of keelson.platform",
                    "hosts": "all",
                    "roles": ["keelson.platform.common", "keelson.platform.node_exporter"],
                }
            ]
        )
    )
    env = {
        "PATH": f"{Path(KEELSON[0]).parent}:/usr/bin:/bin",
        "HOME": str(Path.home()),
        "ANSIBLE_COLLECTIONS_PATH": str(installed / "collections"),
        "ANSIBLE_NOCOLOR": "1",
    }
    # The hosts file, as the README says: the directory's credentials/ is not an inventory.
    hosts = str(lab / "hosts.yml")
    play = subprocess.run(
        [str(Path(KEELSON[0]).parent / "ansible-playbook"), "-i", hosts, str(playbook)],
        cwd=installed,
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert play.returncode == 0, play.stdout[-3000:] + play.stderr
    recap = re.findall(r"^(node\d)\s+: ok=(\d+)\s+changed=(\d+)", play.stdout, re.M)
    assert sorted(host for host, _, _ in recap) == list(NODES), play.stdout[-2000:]
    assert all(int(ok) > 10 and changed == "0" for _, ok, changed in recap), recap


def test_the_cli_runs_from_the_installed_package_and_collection(lab: Path, installed: Path) -> None:
    """keelson installed as a package (not this checkout) runs the installed collection's
    playbooks from a directory outside any checkout, keeping its run records in the user's
    state directory."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("KEELSON_", "ANSIBLE_"))},
        "PYTHONPATH": str(installed / "site"),
        "ANSIBLE_COLLECTIONS_PATH": str(installed / "collections"),
        "XDG_STATE_HOME": str(installed / "state"),
    }
    where = subprocess.run(
        [KEELSON[0], "-c", "import keelson; print(keelson.__file__)"],
        cwd=installed, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert where.stdout.startswith(str(installed / "site")), where.stdout
    proc = subprocess.run(
        [*KEELSON, "deploy", "-i", str(lab), "--tags", "node_exporter"],
        cwd=installed, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    run = Run(proc.returncode, proc.stdout, proc.stderr)
    assert run.code == 0, run.out[-3000:] + run.err
    assert run.run_dir.is_relative_to(installed / "state" / "keelson" / "runs"), run.run_dir
    stats = run.record["stats"]
    assert isinstance(stats, dict)
    assert sorted(stats["ok"]) == list(NODES)
    assert stats["changed"] == {}, stats["changed"]
    collection = installed / "collections" / "ansible_collections" / "keelson" / "platform"
    assert run.record["project"] == str(collection.resolve())


def test_check_diff_reports_no_drift_then_finds_a_hand_edit(lab: Path) -> None:
    clean = keelson("deploy", "-i", str(lab), "--check", "--diff")
    assert clean.code == 0, clean.err
    assert "no drift" in clean.out

    docker_exec(
        "node2", "sh", "-c", "echo 'server rogue.example.org iburst' >> /etc/chrony/chrony.conf"
    )
    # A base package removed by hand (its configuration files stay: dpkg's "config-files"
    # state, which keelson.platform.apt's fast path must not take for installed).
    docker_exec("node2", "apt-get", "remove", "--yes", "--quiet", "logrotate")
    # The whole cluster was just found clean: the operator checks the edited host again.
    drift = keelson("deploy", "-i", str(lab), "--check", "--diff", "--limit", "node2")
    assert drift.code == 10, drift.out + drift.err
    assert (
        "drift: node2: common : Configure chrony's NTP servers and chronyd's command line options:"
        " /etc/chrony/chrony.conf"
    ) in drift.out
    assert "drift: node2: common : Install base packages" in drift.out
    assert one_error_line(drift).startswith(
        "keelson: error: drift: 3 task results would change on node2"
    )
    assert "drift: node2: common : Restart chrony" in drift.out  # the handler it would notify
    assert "-server rogue.example.org iburst" in drift.out
    # --check changed nothing: the hand edit is still there until a real run reverts it.
    assert "rogue" in docker_exec("node2", "cat", "/etc/chrony/chrony.conf").stdout
    fix = keelson("deploy", "-i", str(lab), "--limit", "node2", "--tags", "common")
    assert fix.code == 0, fix.err
    assert "rogue" not in docker_exec("node2", "cat", "/etc/chrony/chrony.conf").stdout
    status = docker_exec(
        "node2", "dpkg-query", "--show", "--showformat=${db:Status-Status}", "logrotate"
    )
    assert status.stdout == "installed"


KUBEADM_KUBELET_CONFIG = "/var/lib/kubelet/config.yaml"
# A drop-in an operator might add to open the kubelet to anonymous requests.
ANONYMOUS_DROPIN = """\
[Service]
ExecStart=
ExecStart=/usr/local/bin/kubelet --config=/var/lib/kubelet/config.yaml --anonymous-auth=true \\
    --kubeconfig=/etc/kubernetes/kubelet.conf
"""


def kubelet_anonymous_enabled(lab: Path, node: str) -> bool:
    """What the running kubelet of NODE reports (its /configz), not what a file says."""
    raw = keelson(
        "kubectl", "-i", str(lab), "--", "get", "--raw", f"/api/v1/nodes/{node}/proxy/configz"
    )
    assert raw.code == 0, raw.err
    return bool(json.loads(raw.out)["kubeletconfig"]["authentication"]["anonymous"]["enabled"])


KILLED_RUN_KUBELET = """
linked=$(readlink /usr/local/bin/kubelet)
cp "$(readlink -f /usr/local/bin/kubelet)" /tmp/kubelet.killed-run
ln -sfn /tmp/kubelet.killed-run /usr/local/bin/kubelet
systemctl restart kubelet
# A simple unit's restart returns once systemd has forked, maybe before the exec that resolves
# the link (CI run 31 put the link back first): wait for the exec.
for _ in $(seq 100); do
  pid=$(systemctl show --property=MainPID --value kubelet)
  [ "$(readlink "/proc/$pid/exe")" = /tmp/kubelet.killed-run ] && break
  sleep 0.1
done
ln -sfn "$linked" /usr/local/bin/kubelet
"""


def kubelet_program(node: str) -> str:
    """The file the running kubelet of NODE executes."""
    pid = docker_exec(node, "systemctl", "show", "--property=MainPID", "--value", "kubelet")
    return docker_exec(node, "readlink", f"/proc/{pid.stdout.strip()}/exe").stdout.strip()


def test_a_check_limited_to_the_backup_store_runs_and_finds_no_drift(lab: Path) -> None:
    """node2 is the etcd backup store, whose authorized keys come from the members' tasks: a run
    limited to it leaves them as they are, says so, and checks the rest (it once failed on the
    members' missing facts)."""
    check = keelson("deploy", "-i", str(lab), "--check", "--diff", "--limit", "node2")
    assert check.code == 0, check.out[-3000:] + check.err
    assert "no drift" in check.out
    said = "etcd_backup : Say that the members' keys were left as they are  ok=1"
    assert said in check.out, check.out


def test_lab_up_again_changes_nothing(lab: Path) -> None:
    before = {p: p.stat().st_mtime_ns for p in lab.rglob("*") if p.is_file()}
    ids = [docker_exec(n, "cat", "/etc/machine-id").stdout for n in NODES]
    again = lab_up(3)
    assert again.code == 0, again.err
    assert "creating" not in again.out
    assert {p: p.stat().st_mtime_ns for p in lab.rglob("*") if p.is_file()} == before
    assert [docker_exec(n, "cat", "/etc/machine-id").stdout for n in NODES] == ids


def test_a_host_lost_mid_run_stops_it_naming_the_host_and_only_it_changes_after(
    lab: Path,
) -> None:
    """A worker killed while a deploy runs: the run stops at the next task on that host (every
    play is any_errors_fatal; every host waits for its own node), not at the end of some wait on
    the others. Brought back, it is the only host the next deploy may change."""
    deploy = subprocess.Popen(
        [*KEELSON, "deploy", "-i", str(lab)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert deploy.stdout is not None
    for line in deploy.stdout:
        if "PLAY Container runtime" in line:
            break
    killed = time.monotonic()
    subprocess.run(["docker", "kill", f"keelson-{LAB}-node3"], check=True, capture_output=True)
    out, err = deploy.communicate(timeout=600)
    took = time.monotonic() - killed
    assert deploy.returncode == 5, out[-3000:] + err
    assert "host node3 unreachable" in one_error_line(Run(deploy.returncode, out, err))
    # Noticed at node3's next task (SSH keepalives give up after 30 s), long before any
    # timeout of a wait on the other hosts (300 s).
    assert took < 120, f"the run went on {took:.0f}s after node3 was killed"

    assert changed_hosts(lab, 3, "deploy", "-i", str(lab)) <= {"node3"}
    assert node_readiness(lab) == dict.fromkeys(NODES, "True")


def changed_hosts(lab: Path, nodes: int, *command: str) -> set[str]:
    """`lab up` with NODES hosts (starting any that stopped), then a keelson COMMAND that must
    succeed: the hosts it changed."""
    up = lab_up(nodes)
    assert up.code == 0, up.err
    run = keelson(*command)
    assert run.code == 0, run.out[-3000:] + run.err
    stats = run.record["stats"]
    assert isinstance(stats, dict)
    return set(stats["changed"])


# What a kubeadm join that stopped halfway leaves (its TLS bootstrap never finished): the
# cluster's CA, the bootstrap kubeconfig, and a kubelet kubeconfig the cluster does not accept.
HALF_JOINED_KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:6444", certificate-authority: /etc/kubernetes/pki/ca.crt}
users:
- {name: u, user: {token: abcdef.0123456789abcdef}}
contexts:
- {name: c, context: {cluster: c, user: u}}
current-context: c
"""


def test_scale_adds_a_worker_and_changes_nothing_on_the_others(lab: Path) -> None:
    """node4 holds what a join that stopped halfway left: it is not taken as joined (kubeadm's
    files are there, the record that the join finished is not); the cluster does not know the
    node, so the leftovers are reset and node4 joins. No other host changes but the monitoring
    host's Prometheus, which scrapes node4 from then on."""
    up = lab_up(4)
    assert up.code == 0, up.err
    ca = docker_exec("node1", "cat", "/etc/kubernetes/pki/ca.crt").stdout
    for path, content in [
        ("/etc/kubernetes/pki/ca.crt", ca),
        ("/etc/kubernetes/bootstrap-kubelet.conf", HALF_JOINED_KUBECONFIG),
        ("/etc/kubernetes/kubelet.conf", HALF_JOINED_KUBECONFIG),
    ]:
        planted = subprocess.run(
            [
                "docker",
                "exec",
                "-i",
                f"keelson-{LAB}-node4",
                "sh",
                "-c",
                f"mkdir -p $(dirname {path}) && cat > {path}",
            ],
            input=content,
            capture_output=True,
            text=True,
            check=False,
        )
        assert planted.returncode == 0, planted.stderr
    scale = keelson("scale", "-i", str(lab))
    assert scale.code == 0, scale.out[-3000:] + scale.err
    changed: dict[str, list[str]] = {}
    for task in json.loads((scale.run_dir / "tasks.json").read_text()):
        for host, outcome in task["outcomes"].items():
            if outcome == "changed":
                changed.setdefault(host, []).append(task["task"])
    # node4 joins; the monitoring host (node1) only adds node4's targets to Prometheus.
    assert set(changed) == {"node1", "node4"}, changed
    assert changed["node1"] == [
        "prometheus : Write the configuration (checked by promtool)",
        "prometheus : Reload Prometheus",
    ]
    scraped = {(t["labels"]["job"], t["labels"].get("host")) for t in prometheus_targets()}
    assert {("node", "node4"), ("kubelet", "node4"), ("haproxy", "node4")} <= scraped
    assert node_readiness(lab) == {**dict.fromkeys(NODES, "True"), "node4": "True"}
    done = docker_exec("node4", "cat", "/etc/kubernetes/keelson-kubeadm-done").stdout
    assert done == "kubeadm join finished\n"


def test_remove_node_drains_deletes_and_resets_the_worker(lab: Path) -> None:
    refused = keelson("remove-node", "-i", str(lab), "--node", "node1", "--yes")
    assert refused.code == 2 and "control-plane" in refused.err
    run = keelson("remove-node", "-i", str(lab), "--node", "node4", "--yes")
    assert run.code == 0, run.out[-3000:] + run.err
    names = [n["metadata"]["name"] for n in kubectl_json(lab, "get", "nodes")["items"]]
    assert names == list(NODES)
    assert docker_exec("node4", "systemctl", "is-active", "kubelet").stdout.strip() != "active"
    for gone in ("/etc/kubernetes/kubelet.conf", "/etc/kubernetes/keelson-kubeadm-done"):
        assert docker_exec("node4", "test", "-e", gone).returncode != 0, gone


def test_no_run_record_holds_a_secret(lab: Path) -> None:
    """Every run so far (refusals, deploys, check, scale, remove-node): no join token, certificate
    key, private key or admin client key in any output, event or artifact."""
    assert_records_hold_no_secret(lab_secrets(LAB, [*NODES, "node4"], lab))


def test_reset_backs_up_etcd_then_wipes_every_host(lab: Path) -> None:
    """The last test of the cluster: `keelson reset` takes an etcd backup to the store before it
    deletes anything (the snapshot holds every key the cluster had), then resets every host and
    empties /registry. Its records hold no secret of the cluster it wiped."""
    secrets = lab_secrets(LAB, [*NODES, "node4"], lab)
    registry = "get --prefix --keys-only /registry"
    keys = docker_exec("node1", "sh", "-c", ETCDCTL + registry).stdout.split()
    assert "/registry/secrets/default/canary" in keys
    # etcd is not Kubernetes': a key outside /registry and the member's process stay.
    docker_exec("node1", "sh", "-c", ETCDCTL + "put /keelson-test/survivor kept")
    etcd_pid = docker_exec("node1", "systemctl", "show", "--property", "MainPID", "etcd").stdout
    store = "find /srv/etcd-backups -type f"
    before = set(docker_exec("node2", "sh", "-c", store).stdout.split())
    run = keelson("reset", "-i", str(lab), "--yes")
    assert run.code == 0, run.out[-3000:] + run.err
    new = sorted(set(docker_exec("node2", "sh", "-c", store).stdout.split()) - before)
    metadata = [n for n in new if n.endswith(".json")]
    assert len(metadata) == 1 and f"{metadata[0][:-5]}.db.gz.enc" in new, new
    taken = json.loads(docker_exec("node2", "cat", metadata[0]).stdout)
    assert taken["total_keys"] >= len(keys), taken
    assert docker_exec("node1", "sh", "-c", ETCDCTL + registry).stdout.strip() == ""
    kept = docker_exec(
        "node1", "sh", "-c", ETCDCTL + "get --print-value-only /keelson-test/survivor"
    )
    assert kept.stdout.strip() == "kept"  # kubeadm reset once emptied /var/lib/etcd
    assert (
        docker_exec("node1", "systemctl", "show", "--property", "MainPID", "etcd").stdout
        == etcd_pid
    )
    for node in NODES:
        assert docker_exec(node, "test", "-e", "/etc/kubernetes/kubelet.conf").returncode != 0
    assert not (lab / "credentials" / "admin.conf").exists()
    assert_records_hold_no_secret(secrets)


@pytest.mark.parametrize("lab_name", ["itest-down"])
def test_lab_down_removes_what_it_made_and_nothing_else(lab_name: str) -> None:
    up = keelson("lab", "up", "--name", lab_name, "--nodes", "1", "--subnet", "172.31.252.0/24")
    assert up.code == 0, up.err
    bystander = f"keelson-{lab_name}-bystander"
    subprocess.run(["docker", "volume", "create", bystander], check=True, capture_output=True)
    try:
        down = keelson("lab", "down", "--name", lab_name)
        assert down.code == 0, down.err
        label = f"label=io.keelson.lab={lab_name}"
        for kind in ("container", "volume", "network"):
            left = subprocess.run(
                ["docker", kind, "ls", "-q", "--filter", label]
                + (["--all"] if kind == "container" else []),
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            assert left.strip() == "", f"{kind} left behind"
        assert (
            subprocess.run(
                ["docker", "volume", "inspect", bystander], capture_output=True, check=False
            ).returncode
            == 0
        )
        assert not (Path(__file__).resolve().parents[2] / "inventories" / lab_name).exists()
    finally:
        subprocess.run(["docker", "volume", "rm", bystander], capture_output=True, check=False)
