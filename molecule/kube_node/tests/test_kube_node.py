"""kube_node on host1 with the real Kubernetes binaries of the bundle, served by host2."""

from __future__ import annotations

import time
from typing import Any

import pytest
import yaml
from scenario_helpers import molecule_host

VERSION = "v1.36.3"


@pytest.fixture(scope="module")
def host() -> Any:
    return molecule_host("kube_node-host1")


def test_binaries_are_the_bundles_release_linked_per_version(host: Any) -> None:
    for binary in ("kubeadm", "kubelet", "kubectl"):
        link = host.file(f"/usr/local/bin/{binary}")
        assert link.linked_to == f"/var/cache/keelson/bundle/kubernetes-{VERSION}/{binary}"
    assert host.check_output("kubelet --version") == f"Kubernetes {VERSION}"
    assert VERSION in host.check_output("kubeadm version -o short")


def test_kubelet_configuration_is_secure_and_uses_containerd_and_systemd(host: Any) -> None:
    config = yaml.safe_load(host.file("/etc/kubernetes/kubelet-config.yaml").content_string)
    assert config["authentication"]["anonymous"]["enabled"] is False
    assert config["authentication"]["webhook"]["enabled"] is True
    assert config["authorization"]["mode"] == "Webhook"
    assert config["cgroupDriver"] == "systemd"
    assert config["containerRuntimeEndpoint"] == "unix:///run/containerd/containerd.sock"
    assert config["rotateCertificates"] is True and config["serverTLSBootstrap"] is True
    assert config["readOnlyPort"] == 0
    assert config["clusterDNS"] == ["10.96.0.10"]
    # kube_node_kubelet_config_extra is merged in, recursively.
    assert config["failCgroupV1"] is False
    assert config["systemReserved"] == {"memory": "256Mi"}
    # Pods get the upstream nameservers, not the host's Docker resolver.
    assert config["resolvConf"] == "/etc/kubernetes/resolv.conf"
    assert "nameserver 192.0.2.53" in host.file("/etc/kubernetes/resolv.conf").content_string


def test_kubelet_is_enabled_and_waits_for_kubeadm(host: Any) -> None:
    assert host.service("kubelet").is_enabled
    unit = host.check_output("systemctl cat kubelet")
    assert "--config=/etc/kubernetes/kubelet-config.yaml" in unit
    assert "--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf" in unit
    assert not host.file("/etc/kubernetes/kubelet.conf").exists


def test_load_balancer_forwards_to_the_api_servers(host: Any) -> None:
    assert host.socket("tcp://127.0.0.1:6444").is_listening
    # The stand-in API server on host1:6443 answers /hostname over TLS: its name comes back.
    body = host.check_output(f"{CURL} https://127.0.0.1:6444/hostname")
    assert body == "host1"


def test_load_balancer_exports_its_metrics_to_another_host_and_nothing_else() -> None:
    # What Prometheus's haproxy job scrapes (docs/monitoring.md): the API servers' backend, from
    # another host; any other path is refused (no stats page, no runtime API over HTTP).
    other = molecule_host("kube_node-host2")
    metrics = other.check_output("curl -sf --max-time 5 http://kube_node-host1:8405/metrics")
    assert 'haproxy_backend_active_servers{proxy="kube-apiserver"} 1' in metrics
    status = "curl -s -o /dev/null -w '%{http_code}' --max-time 5 http://kube_node-host1:8405/stats"
    assert other.check_output(status) == "404"


# The stand-in's certificate is self-signed: curl does not verify it (-k).
CURL = "curl -skf --max-time 5"
FAKE_APISERVER = "python3 /etc/fake-apiserver/server.py 6443"


def _haproxy_log_once_it_says(host: Any, text: str, since: int, seconds: float = 20) -> str:
    """HAProxy's journal since the host's time SINCE, once it holds TEXT (or SECONDS passed)."""
    deadline = time.monotonic() + seconds
    while True:
        log = host.check_output(f"journalctl -u haproxy --no-pager --since @{since}")
        if text in log or time.monotonic() > deadline:
            return log
        time.sleep(1)


DOWN = "Server kube-apiserver/apiserver1 is DOWN"
UP = "Server kube-apiserver/apiserver1 is UP"


def _taken_out_and_back_in(
    host: Any, take_out: str, bring_back: str, direct: str | None = None
) -> str:
    """Run TAKE_OUT on host1: HAProxy must log the stand-in DOWN and refuse requests (while the
    stand-in itself still answers DIRECT, when given); then BRING_BACK: it must log it UP and
    forward again. Returns the log of the way out."""
    # Only what HAProxy logs from now on counts: earlier lines prove nothing.
    out_at = int(host.check_output("date +%s"))
    host.run_test(take_out)
    try:
        # Health checks every 2 s (every second once failing), two failures: down within seconds.
        log = _haproxy_log_once_it_says(host, DOWN, since=out_at)
        assert DOWN in log, log
        assert host.run(f"{CURL} https://127.0.0.1:6444/hostname").rc != 0
        if direct:
            assert host.check_output(f"{CURL} {direct}") == "host1"
    finally:
        back_at = int(host.check_output("date +%s"))
        host.run_test(bring_back)
    # Two passed checks put it back in: the API answers through the load balancer again.
    back = _haproxy_log_once_it_says(host, UP, since=back_at)
    assert UP in back, back
    assert host.check_output(f"{CURL} https://127.0.0.1:6444/hostname") == "host1"
    return log


def test_an_api_server_that_stops_is_taken_out_and_back_in(host: Any) -> None:
    # The same unit name again, so that the test can run twice on the same hosts.
    _taken_out_and_back_in(
        host, "systemctl stop fake-apiserver", f"systemd-run --unit fake-apiserver {FAKE_APISERVER}"
    )


def test_an_api_server_that_is_not_ready_is_taken_out_though_it_accepts_connections(
    host: Any,
) -> None:
    """The health check asks /readyz over TLS: a TCP check would keep this server in."""
    log = _taken_out_and_back_in(
        host,
        "rm /etc/fake-apiserver/ready",
        "touch /etc/fake-apiserver/ready",
        # Out of the load balancer, the stand-in still accepts connections and answers.
        direct="https://127.0.0.1:6443/hostname",
    )
    assert "code: 500" in log, log
