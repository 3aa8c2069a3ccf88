"""Lab layout rules that do not need Docker."""

from pathlib import Path

import pytest
import yaml

from keelson import lab
from keelson.errors import UsageError
from keelson.lab import LabSpec, _validate, groups_for


@pytest.mark.parametrize("nodes", [1, 2, 3, 4, 5, 8])
def test_groups_keep_etcd_odd_and_every_required_group_filled(nodes: int) -> None:
    groups = groups_for(nodes)
    assert len(groups["etcd"]) % 2 == 1
    for required in ("etcd", "kube_control_plane", "kube_node"):
        assert groups[required], required
    every = {h for members in groups.values() for h in members}
    assert every == {f"node{i}" for i in range(1, nodes + 1)}


def test_three_nodes_layout() -> None:
    groups = groups_for(3)
    assert groups["etcd"] == ["node1", "node2", "node3"]
    assert groups["kube_control_plane"] == ["node1"]
    assert groups["kube_node"] == ["node2", "node3"]


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
    ],
)
def test_bad_lab_specs_are_refused(spec: LabSpec, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        _validate(spec)


def test_lab_registry_sits_at_dot_two_and_containerd_trusts_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = LabSpec(name="t", nodes=1, subnet="10.9.8.0/24")
    assert spec.registry == "10.9.8.2:5000"
    assert spec.registry_container == "keelson-t-registry"
    monkeypatch.setattr(lab, "inventory_dir", lambda name: tmp_path / name)
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
