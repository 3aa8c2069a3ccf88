"""The local lab: systemd hosts as Docker containers, reached over SSH like any VM.

Every object the lab creates carries the label `io.keelson.lab=<name>`, so `down` removes exactly
what `up` made. `up` is idempotent: an existing, running lab is left as it is.
"""

import shutil
from pathlib import Path

from keelson import dockercli, external
from keelson.errors import LabError, UsageError
from keelson.hostimage import ensure_host_image
from keelson.lab.hosts import (
    KERNEL_PARAM_MINIMUMS,
    KUBELET_KERNEL_PARAMS,
    authorize,
    ensure_kernel_params,
    ensure_key,
    ensure_network,
    host_key,
    kernel_params_to_set,
    run_node,
    wait_booted,
    wait_ssh,
)
from keelson.lab.inventory import groups_for, write_inventory
from keelson.lab.services import (
    ensure_alert_receiver,
    ensure_files_mirror,
    ensure_registry,
    registry_endpoint,
)
from keelson.lab.spec import (
    LABEL,
    LabSpec,
    Progress,
    inventory_dir,
    state_path,
    validate,
    write_if_changed,
)

__all__ = [
    "KERNEL_PARAM_MINIMUMS",
    "KUBELET_KERNEL_PARAMS",
    "LabSpec",
    "down",
    "ensure_kernel_params",
    "existing_nodes",
    "groups_for",
    "inventory_dir",
    "kernel_params_to_set",
    "registry_endpoint",
    "state_path",
    "status",
    "up",
    "validate",
    "write_inventory",
]


def existing_nodes(name: str) -> list[dict[str, str]]:
    """Containers of lab NAME: [{'node', 'container', 'state', 'address'}], ordered by node."""
    out = dockercli.run(
        "ps",
        "--all",
        "--filter",
        f"label={LABEL}={name}",
        "--filter",
        f"label={LABEL}.node",
        "--format",
        '{{.Names}}\t{{.State}}\t{{.Label "' + LABEL + '.node"}}',
    )
    nodes = []
    for line in out.splitlines():
        container, state, node = line.split("\t")
        info = dockercli.inspect("container", container) or {}
        networks = info.get("NetworkSettings", {}).get("Networks", {})
        address = next((n.get("IPAddress", "") for n in networks.values()), "")
        nodes.append({"node": node, "container": container, "state": state, "address": address})
    return sorted(nodes, key=lambda n: int(n["node"].removeprefix("node") or 0))


def up(spec: LabSpec, progress: Progress) -> Path:
    """Create (or complete) the lab and write its inventory; return the inventory directory."""
    validate(spec)
    present = existing_nodes(spec.name)
    if len(present) > spec.nodes:
        raise UsageError(
            f"lab {spec.name!r} has {len(present)} nodes; --nodes {spec.nodes} would remove some:"
            " run `keelson lab down` first"
        )
    ensure_kernel_params(progress)
    image = ensure_host_image(progress)
    key = ensure_key(spec.name)
    ensure_network(spec)
    ensure_registry(spec, progress)
    ensure_files_mirror(spec, image, progress)
    if spec.monitoring:
        ensure_alert_receiver(spec, progress)
    public_key = key.with_suffix(".pub").read_text()
    by_container = {n["container"]: n for n in present}
    host_keys = []
    for i in range(1, spec.nodes + 1):
        container = spec.container(i)
        node = by_container.get(container)
        if node is None:
            progress(f"creating {spec.node_name(i)} ({spec.address(i)})")
            run_node(spec, i, image)
        elif node["state"] != "running":
            progress(f"starting {spec.node_name(i)}")
            dockercli.run("start", container)
    for i in range(1, spec.nodes + 1):
        container = spec.container(i)
        wait_booted(container)
        authorize(container, public_key)
        host_keys.append(f"{spec.address(i)} {host_key(container)}")
        wait_ssh(spec.address(i))
    known_hosts = state_path(spec.name) / "known_hosts"
    write_if_changed(known_hosts, "\n".join(host_keys) + "\n", 0o600)
    return write_inventory(spec, key, known_hosts)


def down(name: str, progress: Progress) -> None:
    """Remove every container, volume and network labelled for lab NAME, its keys and inventory."""
    for node in existing_nodes(name):
        progress(f"removing {node['node']}")
        dockercli.run("rm", "--force", "--volumes", node["container"])
    label = f"label={LABEL}={name}"
    for container in dockercli.run("ps", "--all", "--quiet", "--filter", label).split():
        dockercli.run("rm", "--force", "--volumes", container)
    for volume in dockercli.run("volume", "ls", "--quiet", "--filter", label).split():
        dockercli.run("volume", "rm", "--force", volume)
    for network in dockercli.run("network", "ls", "--quiet", "--filter", label).split():
        dockercli.run("network", "rm", network)
    inv = inventory_dir(name)
    if _lab_written(inv):
        shutil.rmtree(inv)
    if state_path(name).exists():
        shutil.rmtree(state_path(name))


def _lab_written(inv: Path) -> bool:
    """True when INV is a lab inventory (never remove a hand-written one by name clash)."""
    hosts = inv / "hosts.yml"
    return hosts.is_file() and hosts.read_text().startswith("# Written by `keelson lab up`")


def status(name: str) -> list[dict[str, str]]:
    """Each lab host with its container state and systemd state."""
    nodes = existing_nodes(name)
    for node in nodes:
        if node["state"] == "running":
            proc = dockercli.result(
                "exec", node["container"], "systemctl", "is-system-running",
                error=LabError, timeout=external.QUICK, text=True,
            )  # fmt: skip
            node["systemd"] = proc.stdout.strip() or "unknown"
        else:
            node["systemd"] = "-"
    return nodes
