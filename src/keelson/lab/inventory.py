"""The inventory `lab up` writes: hosts.yml with the groups, group_vars/all.yml from the
template beside this module."""

from __future__ import annotations

from pathlib import Path

import jinja2
import yaml

from keelson import images
from keelson.bundle import spec as bundle_spec
from keelson.bundle import store as bundle_store
from keelson.lab.spec import LabSpec, inventory_dir, write_if_changed

# Addresses of the cluster the roles deploy on a lab (pods: flannel's default network).
KUBE_POD_CIDR = "10.244.0.0/16"
KUBE_SERVICE_CIDR = "10.96.0.0/12"
# group_vars/all.yml of a lab, with why it sets what it sets.
GROUP_VARS = Path(__file__).with_name("group_vars.yml.j2")


def groups_for(
    nodes: int, control_planes: int = 1, monitoring: bool = False
) -> dict[str, list[str]]:
    """Lay out the design's groups over N lab hosts, the first C of them control planes
    (Kubespray users recognise the first three groups)."""
    names = [f"node{i}" for i in range(1, nodes + 1)]
    # etcd runs on control-plane hosts only: three of them when there are three, else node1.
    etcd = names[:3] if control_planes >= 3 else names[:1]
    workers = names[control_planes:] or names[:1]
    outside_etcd = [n for n in workers if n not in etcd] or [n for n in names if n not in etcd]
    return {
        "etcd": etcd,
        "kube_control_plane": names[:control_planes],
        # Workers: the hosts after the control planes; a lab of control planes only schedules
        # its workloads on node1.
        "kube_node": workers,
        "ceph_mon": names[: min(3, nodes)],
        "ceph_mgr": names[:1],
        "ceph_osd": names[: min(3, nodes)],
        "monitoring": names[:1] if monitoring else [],
        # The first worker outside etcd, when there is one, keeps the etcd backups off the
        # members; the first, so that a scale-out (a later `lab up --nodes N+1`) leaves it where
        # the backups are.
        "etcd_backup_store": outside_etcd[:1],
    }


def _pause_version() -> str:
    """Tag of the pod sandbox image of the tree (images/cluster/pause/VERSION)."""
    tree = images.load_tree(images.default_images_dir())
    return str(tree.images["cluster/pause"].version)


def _kube_version(all_yml: Path) -> str:
    """The Kubernetes release a lab's inventory names: the one it names already when it is
    pinned (an upgraded lab stays upgraded when `lab up` runs again), else the deployed one."""
    versions = bundle_spec.load()
    pinned = {b.version for b in versions.builds if b.component == "kubernetes"}
    try:
        named = (yaml.safe_load(all_yml.read_text()) or {}).get("kube_version")
    except (OSError, yaml.YAMLError):
        named = None
    return str(named) if named in pinned else versions.kubernetes().version


def write_inventory(spec: LabSpec, key: Path, known_hosts: Path) -> Path:
    inv = inventory_dir(spec.name)
    hosts = {spec.node_name(i): {"ansible_host": spec.address(i)} for i in range(1, spec.nodes + 1)}
    children: dict[str, dict[str, dict[str, dict[str, str]]]] = {
        group: {"hosts": {h: {} for h in members}}
        for group, members in groups_for(spec.nodes, spec.control_planes, spec.monitoring).items()
    }
    document = {"all": {"hosts": hosts, "children": children}}
    header = (
        f"# Written by `keelson lab up` for lab {spec.name!r}; `keelson lab down` removes it.\n"
    )
    write_if_changed(
        inv / "hosts.yml", header + "---\n" + yaml.safe_dump(document, sort_keys=False)
    )
    template = jinja2.Template(GROUP_VARS.read_text(), undefined=jinja2.StrictUndefined)
    group_vars = template.render(
        name=spec.name,
        key=str(key),
        known_hosts=str(known_hosts),
        files_mirror=spec.files_mirror,
        bundle_manifest=str(bundle_store.default_root() / bundle_store.MANIFEST),
        registry=spec.registry,
        pause_version=_pause_version(),
        kube_version=_kube_version(inv / "group_vars" / "all.yml"),
        pod_cidr=KUBE_POD_CIDR,
        service_cidr=KUBE_SERVICE_CIDR,
        gateway=spec.gateway,
        monitoring=spec.monitoring,
        alert_receiver=spec.alert_receiver,
    )
    write_if_changed(inv / "group_vars" / "all.yml", group_vars + "\n")
    return inv
