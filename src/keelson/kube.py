"""Day-2 Kubernetes commands: scale out, remove a worker, reset, and the admin kubeconfig.

The playbooks do the work on hosts; this module checks what it can on the controller first (the
inventory, the node named, the kubeconfig and kubectl this machine needs) so a mistake is refused
before anything changes.
"""

from collections.abc import Callable, Sequence
from pathlib import Path

from keelson import external, inventory
from keelson.bundle import spec as bundle_spec
from keelson.bundle import store as bundle_store
from keelson.errors import ControllerError, UsageError, one_line
from keelson.runner import run_playbook

Confirm = Callable[[], bool]


def kubeconfig_path(inv: Path) -> Path:
    """Where the deploy puts the admin kubeconfig: credentials/admin.conf beside the inventory."""
    base = inv if inv.is_dir() else inv.parent
    return base / "credentials" / "admin.conf"


def kubeconfig(inv: Path) -> Path:
    """The admin kubeconfig of INV's cluster, or a UsageError saying how to get one."""
    path = kubeconfig_path(inv)
    if not path.is_file():
        raise UsageError(f"no kubeconfig at {path}: run `keelson deploy -i {inv}` first")
    return path


def kubectl_binary(root: Path | None = None) -> Path:
    """kubectl of the deployed Kubernetes version from the offline bundle."""
    build = bundle_spec.load().kubernetes()
    path = (root or bundle_store.default_root()) / build.artifact_path("kubectl")
    if not path.is_file():
        raise ControllerError(
            f"no kubectl {build.version} in the bundle ({path}): run "
            f"`keelson bundle build --only kubernetes --kubernetes {build.version}`"
        )
    return path


def kubectl(inv: Path, args: Sequence[str]) -> int:
    """Run the bundle's kubectl against INV's cluster; return its exit code."""
    config = kubeconfig(inv)
    argv = [str(kubectl_binary()), "--kubeconfig", str(config), *args]
    return external.run(argv, timeout=external.INTERACTIVE, error=ControllerError).returncode


def kubectl_output(inv: Path, args: Sequence[str]) -> str:
    """What the bundle's kubectl prints for ARGS against INV's cluster (its error: one line)."""
    argv = [str(kubectl_binary()), "--kubeconfig", str(kubeconfig(inv)), *args]
    proc = external.run(
        argv, timeout=external.QUICK, error=ControllerError, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise ControllerError(f"kubectl {' '.join(args)}: {one_line(proc.stderr)}")
    return str(proc.stdout)


def scale(inv: Path, limit: str | None = None) -> None:
    """Add the hosts new in INV to the cluster (playbooks/scale.yml)."""
    inventory.parse(inv)
    run_playbook("scale.yml", inv, kind="scale", limit=limit).raise_for_failure()


def check_removable(groups: dict[str, list[str]], node: str, inv: Path) -> None:
    """Refuse NODE unless it is a worker of INV: a host of kube_node, not a control plane."""
    if node not in groups.get("all", []):
        raise UsageError(f"{node} is not a host of {inv}")
    if node in groups.get("kube_control_plane", []):
        raise UsageError(
            f"{node} is a control-plane host (kube_control_plane): remove-node removes workers only"
        )
    if node not in groups.get("kube_node", []):
        raise UsageError(f"{node} is not in group kube_node of {inv}: it is no worker to remove")


def remove_node(inv: Path, node: str, confirm: Confirm) -> None:
    """Drain NODE, delete it from the cluster and reset it (playbooks/remove-node.yml).

    The inventory is parsed once: NODE must be one of its workers (refused before any playbook
    runs), then its rules are checked, then CONFIRM is asked."""
    check_removable(inventory.parse(inv), node, inv)
    inventory.check(inv)
    if not confirm():
        raise UsageError(f"removal of {node} not confirmed: nothing was changed")
    run_playbook(
        "remove-node.yml",
        inv,
        kind="remove-node",
        extravars={"node": node, "remove_node_confirm": True},
    ).raise_for_failure()


def reset(inv: Path, confirm: Confirm, backup: bool = True) -> None:
    """Tear Kubernetes down on every host of INV (playbooks/reset.yml), after an etcd backup
    unless BACKUP is false; CONFIRM is asked once the inventory passed its rules."""
    inventory.validate(inv)
    if not confirm():
        raise UsageError("reset not confirmed: nothing was changed")
    run_playbook(
        "reset.yml", inv, kind="reset", extravars={"reset_confirm": True, "reset_backup": backup}
    ).raise_for_failure()
