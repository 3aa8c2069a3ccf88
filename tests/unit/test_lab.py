"""Lab layout rules that do not need Docker."""

from pathlib import Path

import pytest
import yaml

from keelson import lab
from keelson.errors import LabError, UsageError
from keelson.lab import LabSpec, groups_for, validate


@pytest.mark.parametrize(
    ("nodes", "control_planes"),
    [(1, 1), (2, 1), (2, 2), (3, 1), (3, 3), (4, 1), (4, 2), (5, 3), (8, 5)],
)
def test_groups_keep_etcd_odd_on_control_planes_and_every_required_group_filled(
    nodes: int, control_planes: int
) -> None:
    groups = groups_for(nodes, control_planes)
    assert len(groups["etcd"]) % 2 == 1
    assert set(groups["etcd"]) <= set(groups["kube_control_plane"])
    assert len(groups["kube_control_plane"]) == control_planes
    for required in ("etcd", "kube_control_plane", "kube_node"):
        assert groups[required], required
    assert not set(groups["etcd_backup_store"]) & set(groups["etcd"])
    every = {h for members in groups.values() for h in members}
    assert every == {f"node{i}" for i in range(1, nodes + 1)}


def test_three_nodes_layout() -> None:
    groups = groups_for(3)
    assert groups["kube_control_plane"] == ["node1"]
    assert groups["kube_node"] == ["node2", "node3"]
    assert groups["etcd"] == ["node1"]  # workers never run etcd
    assert groups["etcd_backup_store"] == ["node2"]


def test_node1_runs_the_monitoring_stack_only_when_asked() -> None:
    assert groups_for(3)["monitoring"] == []
    assert groups_for(3, monitoring=True)["monitoring"] == ["node1"]
    assert groups_for(4, 3, monitoring=True)["monitoring"] == ["node1"]


def test_a_scale_out_leaves_the_backup_store_where_the_backups_are() -> None:
    for nodes, control_planes in [(3, 1), (4, 3), (3, 2)]:
        store = groups_for(nodes, control_planes)["etcd_backup_store"]
        assert groups_for(nodes + 1, control_planes)["etcd_backup_store"] == store


def test_ha_layout_puts_etcd_on_the_first_three_control_planes() -> None:
    groups = groups_for(6, 4)
    assert groups["kube_control_plane"] == ["node1", "node2", "node3", "node4"]
    assert groups["kube_node"] == ["node5", "node6"]
    assert groups["etcd"] == ["node1", "node2", "node3"]
    assert groups["etcd_backup_store"] == ["node5"]


def test_two_control_planes_keep_one_etcd_member() -> None:
    groups = groups_for(3, 2)
    assert groups["kube_control_plane"] == ["node1", "node2"]
    assert groups["kube_node"] == ["node3"]
    assert groups["etcd"] == ["node1"]


def test_a_lab_of_control_planes_only_schedules_on_node1() -> None:
    groups = groups_for(3, 3)
    assert groups["kube_control_plane"] == ["node1", "node2", "node3"]
    assert groups["kube_node"] == ["node1"]
    assert groups["etcd"] == ["node1", "node2", "node3"]
    assert groups["etcd_backup_store"] == []
    assert groups_for(1, 1)["kube_node"] == ["node1"]


def test_addresses_are_stable_and_inside_the_subnet() -> None:
    spec = LabSpec(name="t", nodes=3, subnet="10.9.8.0/24")
    assert [spec.address(i) for i in (1, 2, 3)] == ["10.9.8.11", "10.9.8.12", "10.9.8.13"]
    assert spec.container(2) == "keelson-t-node2"
    assert spec.network == "keelson-t"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (LabSpec(nodes=0), "between 1 and 20"),
        (LabSpec(subnet="not-a-net"), "is not a network"),
        (LabSpec(nodes=10, subnet="10.0.0.0/28"), "too small"),
        (LabSpec(nodes=3, control_planes=0), "--control-planes must be between 1 and"),
        (
            LabSpec(nodes=3, control_planes=4),
            r"--control-planes must be between 1 and --nodes \(3\)",
        ),
    ],
)
def test_bad_lab_specs_are_refused(spec: LabSpec, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        validate(spec)


def test_lab_registry_sits_at_dot_two_and_containerd_trusts_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = LabSpec(name="t", nodes=1, subnet="10.9.8.0/24")
    assert spec.registry == "10.9.8.2:5000"
    assert spec.registry_container == "keelson-t-registry"
    monkeypatch.setattr(lab.inventory, "inventory_dir", lambda name: tmp_path / name)
    inv = lab.write_inventory(spec, tmp_path / "key", tmp_path / "known_hosts")
    text = (inv / "group_vars" / "all.yml").read_text()
    assert yaml.safe_load(text)["containerd_registries"] == [
        {
            "name": "10.9.8.2:5000",
            "server": "http://10.9.8.2:5000",
            "mirrors": [{"url": "http://10.9.8.2:5000"}],
        }
    ]
    assert "\n  - name: 10.9.8.2:5000\n" in text  # lists indented, as yamllint wants


def test_a_monitoring_lab_sends_its_alerts_to_its_receiver_at_dot_four(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lab.inventory, "inventory_dir", lambda name: tmp_path / name)
    plain = LabSpec(name="t", nodes=2, subnet="10.9.8.0/24")
    found = yaml.safe_load(
        (
            lab.write_inventory(plain, tmp_path / "k", tmp_path / "h") / "group_vars/all.yml"
        ).read_text()
    )
    assert "alertmanager_receivers" not in found
    spec = LabSpec(name="t", nodes=2, subnet="10.9.8.0/24", monitoring=True)
    assert spec.alert_receiver == "http://10.9.8.4:8080"
    assert spec.alert_receiver_container == "keelson-t-alerts"
    inv = lab.write_inventory(spec, tmp_path / "k", tmp_path / "h")
    found = yaml.safe_load((inv / "group_vars" / "all.yml").read_text())
    assert found["alertmanager_receivers"] == [
        {"name": "lab", "webhook_configs": [{"url": "http://10.9.8.4:8080/alerts"}]}
    ]
    assert found["alertmanager_route"]["receiver"] == "lab"
    hosts = yaml.safe_load((inv / "hosts.yml").read_text())["all"]["children"]
    assert list(hosts["monitoring"]["hosts"]) == ["node1"]


def test_lab_inventory_carries_the_kubernetes_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = LabSpec(name="t", nodes=4, subnet="10.9.8.0/24", control_planes=3)
    monkeypatch.setattr(lab.inventory, "inventory_dir", lambda name: tmp_path / name)
    inv = lab.write_inventory(spec, tmp_path / "key", tmp_path / "known_hosts")
    hosts = yaml.safe_load((inv / "hosts.yml").read_text())["all"]["children"]
    assert list(hosts["kube_control_plane"]["hosts"]) == ["node1", "node2", "node3"]
    assert list(hosts["kube_node"]["hosts"]) == ["node4"]
    text = (inv / "group_vars" / "all.yml").read_text()
    found = yaml.safe_load(text)
    pins = yaml.safe_load((Path(__file__).resolve().parents[2] / "versions.yml").read_text())
    assert found["kube_version"] == pins["components"]["kubernetes"]["versions"][0]
    # `lab up` again after an upgrade keeps the release the inventory names (a pinned one).
    upgraded = pins["components"]["kubernetes"]["versions"][-1]
    (inv / "group_vars" / "all.yml").write_text(text.replace(found["kube_version"], upgraded))
    again = lab.write_inventory(spec, tmp_path / "key", tmp_path / "known_hosts")
    assert (
        yaml.safe_load((again / "group_vars" / "all.yml").read_text())["kube_version"] == upgraded
    )
    (inv / "group_vars" / "all.yml").write_text(text.replace(found["kube_version"], "v1.2.3"))
    lab.write_inventory(spec, tmp_path / "key", tmp_path / "known_hosts")
    rewritten = yaml.safe_load((inv / "group_vars" / "all.yml").read_text())["kube_version"]
    assert rewritten == found["kube_version"]
    assert found["kube_image_repository"] == "10.9.8.2:5000/cluster"
    assert found["kube_pod_cidr"] == "10.244.0.0/16"
    assert found["kube_service_cidr"] == "10.96.0.0/12"
    assert found["kube_node_kubelet_config_extra"] == {
        "failCgroupV1": False,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "2Gi",
            "nodefs.inodesFree": "5%",
            "imagefs.available": "2Gi",
        },
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
    }
    assert found["kube_node_upstream_nameservers"] == ["10.9.8.1"]
    assert found["kube_control_plane_ignore_preflight_errors"] == [
        "SystemVerification",
        "FileContent--proc-sys-net-bridge-bridge-nf-call-iptables",
        "Swap",
    ]
    assert found["kube_control_plane_kube_proxy_config_extra"] == {
        "conntrack": {"maxPerCore": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"}
    }
    assert "\n  - SystemVerification\n" in text  # lists indented, as yamllint wants
    # Each lab-only setting says why, in the comment above it.
    lines = text.splitlines()
    above = lines[lines.index("kube_node_kubelet_config_extra:") - 1]
    assert above.startswith("# ") and "cgroup v1" in above


def test_kernel_params_to_set_names_only_the_differing_ones() -> None:
    good = {**lab.KUBELET_KERNEL_PARAMS, **lab.KERNEL_PARAM_MINIMUMS}
    assert lab.kernel_params_to_set({k: v + "\n" for k, v in good.items()}) == {}
    assert lab.kernel_params_to_set(
        {**good, "vm.overcommit_memory": "0\n", "kernel.panic": "1"}
    ) == {"vm.overcommit_memory": "1", "kernel.panic": "10"}
    assert "kernel.panic_on_oops" in lab.kernel_params_to_set({})


def test_inotify_limits_are_raised_to_their_minimum_never_lowered() -> None:
    good = {**lab.KUBELET_KERNEL_PARAMS, **lab.KERNEL_PARAM_MINIMUMS}
    higher = {**good, "fs.inotify.max_user_watches": "1048576\n"}
    assert lab.kernel_params_to_set(higher) == {}
    assert lab.kernel_params_to_set({**good, "fs.inotify.max_user_instances": "128\n"}) == {
        "fs.inotify.max_user_instances": "8192"
    }


def test_ensure_kernel_params_writes_what_differs_and_says_so(tmp_path: Path) -> None:
    for name, value in {**lab.KUBELET_KERNEL_PARAMS, **lab.KERNEL_PARAM_MINIMUMS}.items():
        path = tmp_path / name.replace(".", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(("0" if name == "kernel.panic_on_oops" else value) + "\n")
    said: list[str] = []
    assert lab.ensure_kernel_params(said.append, tmp_path) == {"kernel.panic_on_oops": "1"}
    assert said == ["kernel: kernel.panic_on_oops 0 -> 1 (lab hosts need it)"]
    assert (tmp_path / "kernel" / "panic_on_oops").read_text() == "1\n"
    said.clear()
    assert lab.ensure_kernel_params(said.append, tmp_path) == {}
    assert said == []


def test_ensure_kernel_params_refuses_clearly_when_it_cannot_write(tmp_path: Path) -> None:
    # No such files under this root: writing fails like a read-only /proc/sys would.
    with pytest.raises(LabError, match=r"needs vm\.overcommit_memory=1 .*`sysctl -w"):
        lab.ensure_kernel_params(lambda _: None, tmp_path / "absent")
