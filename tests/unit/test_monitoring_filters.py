import pytest
from role_plugins import load_filter_plugin

from keelson.bundle.recipes import RECIPES

plugin = load_filter_plugin("monitoring")

HOSTVARS = {
    "node1": {"ansible_facts": {"default_ipv4": {"address": "10.0.0.1"}}, "ansible_host": "n1"},
    "node2": {"ansible_host": "10.0.0.2"},
    "node3": {"monitoring_address": "fd00::3", "ansible_facts": {"default_ipv4": {"address": "x"}}},
}


def test_every_host_of_a_job_is_a_target_at_its_address_labelled_with_its_name() -> None:
    [node] = plugin.keelson_scrape_configs(
        [{"job": "node", "hosts": ["node1", "node2", "node3", "node1"], "port": 9100}], HOSTVARS
    )
    assert node == {
        "job_name": "node",
        "static_configs": [
            {"targets": ["10.0.0.1:9100"], "labels": {"host": "node1"}},
            {"targets": ["10.0.0.2:9100"], "labels": {"host": "node2"}},
            {"targets": ["[fd00::3]:9100"], "labels": {"host": "node3"}},
        ],
    }


def test_settings_pass_through_and_a_job_without_hosts_is_left_out() -> None:
    configs = plugin.keelson_scrape_configs(
        [
            {"job": "etcd", "hosts": [], "port": 2381},
            {
                "job": "kubelet",
                "hosts": ["node2"],
                "port": 10250,
                "scheme": "https",
                "tls_config": {"ca_file": "/etc/prometheus/ca.crt"},
                "metrics_path": "",
            },
        ],
        HOSTVARS,
    )
    assert [c["job_name"] for c in configs] == ["kubelet"]
    assert configs[0]["scheme"] == "https"
    assert configs[0]["tls_config"] == {"ca_file": "/etc/prometheus/ca.crt"}
    assert "metrics_path" not in configs[0]


@pytest.mark.parametrize(
    "jobs,message",
    [
        ([{"job": "node", "hosts": ["node9"], "port": 1}], "scrape job node: no such host node9"),
        ([{"job": "a", "hosts": [], "port": 1}, {"job": "a", "port": 2}], "listed twice"),
        ([{"job": "a", "hosts": ["node1"]}], "scrape job a has no port"),
        ([{"hosts": ["node1"], "port": 1}], "has no name"),
    ],
)
def test_a_wrong_job_is_named(jobs: list[dict[str, object]], message: str) -> None:
    with pytest.raises(plugin.MonitoringFilterError, match=message):
        plugin.keelson_scrape_configs(jobs, HOSTVARS)


def test_endpoints_of_peers_and_alertmanagers_bracket_ipv6() -> None:
    endpoints = plugin.keelson_monitoring_endpoints(["node2", "node3"], HOSTVARS, 9094)
    assert endpoints == ["10.0.0.2:9094", "[fd00::3]:9094"]


TLS = {"ca_file": "/etc/prometheus/kubernetes/ca.crt"}
AUTH = {"credentials_file": "/etc/prometheus/kubernetes/token"}


def test_pods_are_scraped_through_the_api_servers_proxy_labelled_with_their_node() -> None:
    coredns, ksm = plugin.keelson_pod_proxy_scrape_configs(
        [
            {"job": "coredns", "namespace": "kube-system", "selector": "k8s-app=kube-dns"}
            | {"port": "metrics", "pod_label": True},
            {"job": "kube-state-metrics", "namespace": "monitoring", "selector": "app=ksm"}
            | {"port": "http-metrics", "honor_labels": True},
        ],
        "10.0.0.1:6443",
        TLS,
        AUTH,
    )
    assert coredns["job_name"] == "coredns" and "honor_labels" not in coredns
    assert coredns["scheme"] == "https"
    assert coredns["tls_config"] == TLS and coredns["authorization"] == AUTH
    [sd] = coredns["kubernetes_sd_configs"]
    assert sd["api_server"] == "https://10.0.0.1:6443"
    assert sd["namespaces"] == {"names": ["kube-system"]}
    assert sd["selectors"] == [{"role": "pod", "label": "k8s-app=kube-dns"}]
    assert sd["tls_config"] == TLS and sd["authorization"] == AUTH
    keep, path, address, pod, host = coredns["relabel_configs"]
    assert keep["regex"] == "metrics;Running" and keep["action"] == "keep"
    assert path["replacement"] == "/api/v1/namespaces/kube-system/pods/${1}:${2}/proxy/metrics"
    assert address == {"target_label": "__address__", "replacement": "10.0.0.1:6443"}
    assert pod["target_label"] == "pod"
    assert host == {"source_labels": ["__meta_kubernetes_pod_node_name"], "target_label": "host"}
    # kube-state-metrics' own namespace and pod labels name the objects: kept, none added.
    assert ksm["honor_labels"] is True
    assert [r.get("target_label") for r in ksm["relabel_configs"]] == [
        None,
        "__metrics_path__",
        "__address__",
        "host",
    ]
    assert ksm["relabel_configs"][1]["replacement"].startswith("/api/v1/namespaces/monitoring/")


def test_a_pod_proxy_job_without_its_selector_is_refused() -> None:
    with pytest.raises(plugin.MonitoringFilterError, match="lacks selector"):
        plugin.keelson_pod_proxy_scrape_configs(
            [{"job": "x", "namespace": "n", "port": "p"}], "a:1", TLS, AUTH
        )


def _sd_mechanisms(config: object) -> set[str]:
    """Every `<name>_sd_configs` key anywhere in a scrape configuration."""
    if isinstance(config, dict):
        found = {k.removesuffix("_sd_configs") for k in config if k.endswith("_sd_configs")}
        return found.union(*(_sd_mechanisms(v) for v in config.values()))
    if isinstance(config, list):
        return set().union(*(_sd_mechanisms(v) for v in config))
    return set()


def test_the_bundles_prometheus_keeps_every_discovery_the_role_writes() -> None:
    """promtool (which validates the configuration) knows every mechanism whatever the server
    was built with: a mechanism the bundle's build tags leave out passes the check and stops
    Prometheus at its start (session 23: kubernetes_sd_configs with `remove_all_sd` alone)."""
    configs = plugin.keelson_scrape_configs(
        [{"job": "node", "hosts": ["node1"], "port": 9100}], HOSTVARS
    ) + plugin.keelson_pod_proxy_scrape_configs(
        [{"job": "coredns", "namespace": "kube-system", "selector": "a=b", "port": "metrics"}],
        "10.0.0.1:6443",
        TLS,
        AUTH,
    )
    written = _sd_mechanisms(configs)
    assert "kubernetes" in written
    tags = set(RECIPES["prometheus"].tags)
    if "remove_all_sd" in tags:
        # file and http are in upstream's plugins/minimum.go: never removed.
        kept = {"file", "http"} | {
            t[len("enable_") : -len("_sd")] for t in tags if t.startswith("enable_")
        }
        assert written <= kept, f"the bundle's Prometheus lacks {sorted(written - kept)}"
