"""The preflight role's Kubernetes rules: refused before any host changes."""

from __future__ import annotations

import json
from typing import Any

from role_plugins import load_filter_plugin

plugin = load_filter_plugin("preflight")

GROUPS = {
    "all": ["node1", "node2", "node3"],
    "etcd": ["node1"],
    "kube_control_plane": ["node1"],
    "kube_node": ["node2", "node3"],
}
GOOD = {
    "kube_version": "v1.36.3",
    "kube_pod_cidr": "10.244.0.0/16",
    "kube_service_cidr": "10.96.0.0/12",
}


def everywhere(settings: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Host variables where every host has SETTINGS (group_vars/all.yml)."""
    return {host: dict(settings) for host in ["node1", "node2", "node3", "node4"]}


def problems(settings: dict[str, Any], groups: dict[str, list[str]] = GROUPS) -> list[str]:
    result: list[str] = plugin.kubernetes_problems(
        everywhere(settings), groups, ["v1.36.3", "v1.37.2"], "M"
    )
    return result


def test_good_settings_have_no_problems() -> None:
    assert problems(GOOD) == []


def test_a_version_the_bundle_lacks_is_refused_naming_what_it_has() -> None:
    [line] = problems({**GOOD, "kube_version": "v1.35.0"})
    assert "v1.35.0 is not in the bundle" in line
    assert "v1.36.3, v1.37.2" in line


def test_no_manifest_says_to_build_the_bundle() -> None:
    [line] = plugin.kubernetes_problems(everywhere(GOOD), GROUPS, None, "/x/manifest.json")
    assert "/x/manifest.json does not exist" in line and "keelson bundle build" in line


def test_malformed_version_and_networks_are_named() -> None:
    lines = problems({"kube_version": "1.36", "kube_pod_cidr": "10.244.0.1/16"})
    assert any("kube_version is '1.36'" in line for line in lines)
    assert any("kube_pod_cidr is '10.244.0.1/16'" in line for line in lines)
    assert any("kube_service_cidr is ''" in line for line in lines)


def test_overlapping_pod_and_service_networks_are_refused() -> None:
    [line] = problems({**GOOD, "kube_pod_cidr": "10.96.0.0/16"})
    assert "overlap" in line and "10.96.0.0/16" in line and "10.96.0.0/12" in line


def test_a_worker_in_etcd_is_refused_but_control_planes_and_dedicated_hosts_are_fine() -> None:
    groups = {**GROUPS, "etcd": ["node1", "node2", "node4"]}
    [line] = problems(GOOD, groups)
    assert line.startswith("node2: a worker (kube_node) in the etcd group")


def test_every_kubernetes_host_is_read_and_a_host_that_differs_is_named() -> None:
    hostvars = everywhere(GOOD)
    hostvars["node3"]["kube_version"] = "v1.37.2"  # a host_vars file, say: both are in the bundle
    hostvars["node2"]["kube_service_cidr"] = "{{ undefined }}"
    hostvars["node2"] = _Failing(hostvars["node2"], "kube_service_cidr")
    lines = plugin.kubernetes_problems(hostvars, GROUPS, ["v1.36.3", "v1.37.2"], "M")
    assert lines[:2] == [
        "kube_version differs between Kubernetes hosts ('v1.36.3' on node1, node2; 'v1.37.2' on"
        " node3): it is one setting of the whole cluster; set it once, in group_vars/all.yml",
        "kube_service_cidr differs between Kubernetes hosts ('10.96.0.0/12' on node1, node3;"
        " '(cannot be resolved: boom)' on node2): it is one setting of the whole cluster; set it"
        " once, in group_vars/all.yml",
    ], lines
    assert len(lines) == 2, lines


class _Failing(dict[str, Any]):
    """Host variables where reading one name fails as a broken template does."""

    def __init__(self, data: dict[str, Any], failing: str) -> None:
        super().__init__(data)
        self._failing = failing

    def get(self, key: str, default: Any = None) -> Any:
        if key == self._failing:
            raise RuntimeError("boom")
        return super().get(key, default)


def test_an_inventory_without_kubernetes_hosts_is_not_checked() -> None:
    assert plugin.kubernetes_problems({}, {"etcd": ["a"]}, None) == []


def test_bundle_versions_come_from_the_kubelet_entries() -> None:
    manifest = {
        "files": [
            {"component": "kubernetes", "version": "v1.37.2", "path": "dl/v1.37.2/kubelet"},
            {"component": "kubernetes", "version": "v1.36.3", "path": "dl/v1.36.3/kubeadm"},
            {"component": "etcd", "version": "v3.6.16", "path": "etcd.tar.gz"},
        ]
    }
    assert plugin.bundle_kubernetes_versions(json.dumps(manifest)) == ["v1.37.2"]
    assert plugin.bundle_kubernetes_versions("") is None
