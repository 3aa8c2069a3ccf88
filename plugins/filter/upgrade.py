"""Filters of the upgrade runbook (playbooks/upgrade.yml; tests/unit/test_upgrade_filters.py).

upgrade_plan turns what the cluster says (nodes, pods, workloads, as `kubectl get -o json` gives
them), the inventory's groups and the pinned versions into the plan `keelson upgrade --plan`
prints and the refusals the playbook stops on before it changes anything. drain_blockers names
the PodDisruptionBudgets that stop a drain.
"""

from __future__ import annotations

import json
import re
from typing import Any

_RELEASE = re.compile(r"^v(\d+)\.(\d+)\.(\d+)$")


def _release(version: str) -> tuple[int, int, int] | None:
    """(major, minor, patch) of a release such as v1.36.3 (a build suffix is ignored), else None."""
    match = _RELEASE.match(version.split("+", 1)[0].split("-", 1)[0])
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def _tag(image: str) -> str:
    """The tag of an image reference (registry:5000/cluster/kube-apiserver:v1.36.3 -> v1.36.3)."""
    name = image.split("@", 1)[0]
    return name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else ""


def _ready(node: dict[str, Any]) -> bool:
    conditions = node.get("status", {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _owner_kinds(pod: dict[str, Any]) -> set[str]:
    return {o.get("kind", "") for o in pod["metadata"].get("ownerReferences") or []}


def drained_pods(pods: list[dict[str, Any]], node: str) -> list[str]:
    """namespace/name of the pods a drain of NODE evicts: not DaemonSet pods, not static
    (mirror) pods, not finished ones."""
    return sorted(
        f"{p['metadata']['namespace']}/{p['metadata']['name']}"
        for p in pods
        if p.get("spec", {}).get("nodeName") == node
        and "DaemonSet" not in _owner_kinds(p)
        and "kubernetes.io/config.mirror" not in (p["metadata"].get("annotations") or {})
        and p.get("status", {}).get("phase") not in ("Succeeded", "Failed")
    )


def _batches(workers: list[str], batch: str | int) -> list[list[str]]:
    """WORKERS in batches of BATCH nodes, or of BATCH percent of them ("25%"), at least one."""
    text = str(batch).strip()
    size = len(workers) * int(text[:-1]) // 100 if text.endswith("%") else int(text)
    size = max(size, 1)
    return [workers[i : i + size] for i in range(0, len(workers), size)]


def _control_plane_tags(pods: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """Node -> component -> image tag of its static control-plane pods."""
    found: dict[str, dict[str, str]] = {}
    for pod in pods:
        labels = pod["metadata"].get("labels") or {}
        if (
            pod["metadata"].get("namespace") != "kube-system"
            or labels.get("tier") != "control-plane"
        ):
            continue
        component = labels.get("component", "")
        containers = pod.get("spec", {}).get("containers") or [{}]
        node = pod.get("spec", {}).get("nodeName", "")
        found.setdefault(node, {})[component] = _tag(containers[0].get("image", ""))
    return found


def _not_running(pods: list[dict[str, Any]]) -> list[str]:
    """Control-plane pods that are not running and ready."""
    return sorted(
        f"{p['metadata']['name']}"
        for p in pods
        if p["metadata"].get("namespace") == "kube-system"
        and (p["metadata"].get("labels") or {}).get("tier") == "control-plane"
        and not (
            p.get("status", {}).get("phase") == "Running"
            and all(c.get("ready") for c in p.get("status", {}).get("containerStatuses") or [{}])
        )
    )


def _workload_tag(workloads: list[dict[str, Any]], namespace: str, name: str) -> str:
    for item in workloads:
        meta = item["metadata"]
        if meta.get("namespace") == namespace and meta.get("name") == name:
            containers = item["spec"]["template"]["spec"].get("containers") or [{}]
            return _tag(containers[0].get("image", ""))
    return ""


def upgrade_plan(
    cluster: dict[str, Any],
    target: str,
    groups: dict[str, list[str]],
    pins: dict[str, Any],
    etcd_versions: dict[str, str] | None = None,
    batch: str | int = 1,
    inventory_version: str | None = None,
) -> dict[str, Any]:
    """The upgrade of the cluster CLUSTER (upgrade_cluster: nodes, pods, workloads, budgets,
    each node's drain dry run, the API server's metrics) to TARGET: per node what runs and what
    it will run, the order and batches, what each drain evicts, and the problems that refuse it
    (empty when it may go ahead). PINS holds the pinned versions (kubernetes: the pinned list;
    etcd, coredns, flannel); ETCD_VERSIONS each member's `etcd --version` (or release);
    INVENTORY_VERSION the inventory's kube_version (None: a plan only)."""
    drains = cluster.get("drains") or {}
    etcd_versions = {m: _etcd_release(v) for m, v in (etcd_versions or {}).items()}
    nodes = {n["metadata"]["name"]: n for n in cluster.get("nodes") or []}
    pods = cluster.get("pods") or []
    workloads = cluster.get("workloads") or []
    control_planes = list(groups.get("kube_control_plane") or [])
    members = list(groups.get("kube_node") or [])
    kube_hosts = control_planes + [h for h in members if h not in control_planes]
    workers = [h for h in kube_hosts if h not in control_planes]
    tags = _control_plane_tags(pods)
    problems: list[str] = []

    wanted = _release(target)
    pinned = [str(v) for v in pins.get("kubernetes") or []]
    if wanted is None:
        problems.append(f'"{target}" is not a Kubernetes release such as v1.37.2')
    apiservers = {n: t.get("kube-apiserver", "") for n, t in tags.items() if n in control_planes}
    running = sorted(
        {v for v in apiservers.values() if _release(v)}, key=lambda v: _release(v) or ()
    )
    current = running[0] if running else ""
    now = _release(current)
    if not running:
        problems.append("no API server runs in the cluster: deploy it first (keelson deploy)")
    elif wanted is not None:
        behind = [v for v in running if v != target]
        if len(behind) > 1:
            problems.append(
                f"the control planes run {', '.join(running)}: more than one release below "
                f"{target}; bring them to one release first"
            )
        elif now is not None and wanted < now:
            problems.append(
                f"{target} is older than the cluster's {current}: a downgrade is refused; go back "
                "with the backup taken before the upgrade (docs/runbooks/upgrade.md)"
            )
        elif now is not None and (wanted[0] != now[0] or wanted[1] > now[1] + 1):
            problems.append(
                f"{current} -> {target} skips a minor release: upgrade one minor at a time "
                f"(v{now[0]}.{now[1] + 1}.x first)"
            )
    if wanted is not None and target not in pinned:
        problems.append(
            f"{target} is not pinned in versions.yml (pinned: {', '.join(pinned)}): "
            "the bundle and the cluster images hold pinned releases only"
        )
    if inventory_version is not None and inventory_version != target:
        problems.append(
            f"the inventory's kube_version is {inventory_version}, the target {target}: set "
            f"kube_version: {target} in its group_vars (what `keelson deploy` keeps), "
            "then run again"
        )

    rows = []
    for host in kube_hosts:
        node = nodes.get(host)
        if node is None:
            problems.append(
                f"{host} of the inventory is not a node of the cluster: "
                "add it first (keelson scale)"
            )
            continue
        info = node.get("status", {}).get("nodeInfo") or {}
        kubelet = str(info.get("kubeletVersion", ""))
        plane = tags.get(host, {}).get("kube-apiserver", "") if host in control_planes else ""
        if not _ready(node):
            problems.append(f"{host} is not Ready: bring it back (or remove it) before the upgrade")
        release = _release(kubelet)
        if wanted is not None and release is not None:
            if release > wanted:
                problems.append(f"{host}'s kubelet {kubelet} is newer than {target}")
            elif release[:2] < (wanted[0], wanted[1] - 3):
                problems.append(
                    f"{host}'s kubelet {kubelet} is more than three minors behind {target} "
                    "(version skew policy): bring it to the cluster's release first"
                )
        at_target = kubelet == target and (host not in control_planes or plane == target)
        rows.append(
            {
                "node": host,
                "role": "control plane" if host in control_planes else "worker",
                "kubelet": kubelet,
                "control_plane": plane,
                "containerd": str(info.get("containerRuntimeVersion", "")).removeprefix(
                    "containerd://"
                ),
                "etcd": etcd_versions.get(host, ""),
                "unschedulable": bool(node.get("spec", {}).get("unschedulable")),
                "at_target": at_target,
                "drain": [] if at_target else drained_pods(pods, host),
            }
        )
    strays = sorted(set(nodes) - set(kube_hosts))
    if strays:
        problems.append(
            f"{', '.join(strays)} {'is a node' if len(strays) == 1 else 'are nodes'} of the "
            "cluster but not of the inventory: it would stay behind; add it to the inventory or "
            "remove it"
        )
    stopped = _not_running(pods)
    if stopped:
        problems.append(f"control-plane pods not running and ready: {', '.join(stopped)}")

    to_do = {str(r["node"]) for r in rows if not r["at_target"]}
    for host in [h for h in kube_hosts if h in to_do]:
        dry = drains.get(host) or {}
        if int(dry.get("rc", 0)) != 0:
            blockers = drain_blockers(cluster.get("pdbs") or [], pods, host)
            problems.append(
                f"{host}: a drain would be stopped by PodDisruptionBudget {'; '.join(blockers)}"
                if blockers
                else f"{host}: a drain dry run failed: {_last_line(str(dry.get('stderr', '')))}"
            )
    steps: list[dict[str, Any]] = []
    etcd_pin = str(pins.get("etcd") or "")
    etcd_behind = sorted(m for m, v in etcd_versions.items() if v and v != etcd_pin)
    if etcd_behind:
        steps.append(
            {"step": "etcd", "nodes": etcd_behind, "how": f"one member at a time to {etcd_pin}"}
        )
    # kubeadm upgrade apply once, on the first control plane while none runs the target yet.
    applied = any(v == target for v in apiservers.values())
    for index, host in enumerate(h for h in control_planes if h in to_do):
        how = "kubeadm upgrade node" if index > 0 or applied else "kubeadm upgrade apply"
        steps.append({"step": "control plane", "nodes": [host], "how": f"{how}, drain, kubelet"})
    for group in _batches([w for w in workers if w in to_do], batch):
        steps.append({"step": "workers", "nodes": group, "how": "drain, kubelet and kubeadm"})
    addons: list[dict[str, Any]] = [
        {
            "addon": "kube-proxy",
            "current": _workload_tag(workloads, "kube-system", "kube-proxy"),
            "target": target,
        },
        {
            "addon": "CoreDNS",
            "current": _workload_tag(workloads, "kube-system", "coredns"),
            "target": str(pins.get("coredns") or ""),
        },
        {
            "addon": "flannel",
            "current": _workload_tag(workloads, "kube-flannel", "kube-flannel-ds"),
            "target": str(pins.get("flannel") or ""),
        },
    ]
    for addon in addons:
        addon["changes"] = bool(addon["current"]) and addon["current"] != addon["target"]
    return {
        "current": current,
        "target": target,
        "problems": problems,
        "nodes": rows,
        "steps": steps,
        "addons": addons,
        "etcd_target": etcd_pin,
        "to_do": sorted(to_do),
        "warnings": removed_api_requests(str(cluster.get("metrics") or ""), target),
    }


def _etcd_release(said: str) -> str:
    """v3.6.16 from `etcd --version` ("etcd Version: 3.6.16" ...) or from a release."""
    match = re.search(r"etcd Version: (\S+)", said)
    version = match[1] if match else said.strip()
    return f"v{version}" if version[:1].isdigit() else version


def upgrade_cluster(answers: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The cluster as upgrade_plan reads it, from the probe's ANSWERS: nodes, pods, workloads and
    pdbs (`kubectl get -o json` items), metrics (the API server's /metrics), and drains (node ->
    the rc and stderr of its drain dry run, from the commands named drain:NODE)."""
    found: dict[str, Any] = {}
    for key in ("nodes", "pods", "workloads", "pdbs"):
        answer = answers.get(key) or {}
        if int(answer.get("rc", 1)) != 0:
            said = _last_line(str(answer.get("stderr", "")))
            raise ValueError(f"kubectl could not list the cluster's {key}: {said}")
        found[key] = json.loads(answer.get("stdout") or "{}").get("items") or []
    found["metrics"] = str((answers.get("metrics") or {}).get("stdout") or "")
    found["drains"] = {
        key.removeprefix("drain:"): value
        for key, value in answers.items()
        if key.startswith("drain:")
    }
    return found


def drain_argv(
    node: str, kubectl: list[str], timeout: int, dry_run: bool = False, force: bool = False
) -> list[str]:
    """kubectl drain of NODE: evictions that honour PodDisruptionBudgets (deletions without
    eviction only when FORCE), DaemonSet pods left, emptyDir data let go, for TIMEOUT seconds."""
    argv = [
        *kubectl,
        "drain",
        node,
        "--ignore-daemonsets",
        "--delete-emptydir-data",
        f"--timeout={int(timeout)}s",
    ]
    if dry_run:
        argv.append("--dry-run=server")
    if force:
        argv.append("--disable-eviction")
    return argv


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


_DEPRECATED = re.compile(r"^apiserver_requested_deprecated_apis\{([^}]*)\}\s+1\b", re.M)


def removed_api_requests(metrics: str, target: str) -> list[str]:
    """Requests the API servers answered to APIs that TARGET removes (the
    apiserver_requested_deprecated_apis metric), one line per API."""
    wanted = _release(target)
    found = []
    for match in _DEPRECATED.finditer(metrics):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', match[1]))
        removed = labels.get("removed_release", "")
        parts = removed.split(".")
        if wanted is None or len(parts) != 2 or not all(p.isdigit() for p in parts):
            continue
        if (int(parts[0]), int(parts[1])) <= wanted[:2]:
            api = "/".join(x for x in (labels.get("group"), labels.get("version")) if x)
            resource = labels.get("resource", "")
            found.append(
                f"{resource}.{api} is removed in {removed} and was requested since the API "
                "servers started: move its clients to the newer API before the upgrade"
            )
    return sorted(set(found))


def _selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """Whether a LabelSelector (matchLabels, matchExpressions) selects LABELS."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values") or []
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and key in labels and labels[key] in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def drain_blockers(pdbs: list[dict[str, Any]], pods: list[dict[str, Any]], node: str) -> list[str]:
    """The PodDisruptionBudgets that allow no disruption now and cover a pod a drain of NODE
    evicts, each as "namespace/name (pods a, b)"."""
    evicted = set(drained_pods(pods, node))
    found = []
    for pdb in pdbs:
        meta = pdb["metadata"]
        if int((pdb.get("status") or {}).get("disruptionsAllowed", 0)) > 0:
            continue
        covered = sorted(
            p["metadata"]["name"]
            for p in pods
            if f"{p['metadata']['namespace']}/{p['metadata']['name']}" in evicted
            and p["metadata"]["namespace"] == meta["namespace"]
            and _selects(pdb["spec"].get("selector"), p["metadata"].get("labels") or {})
        )
        if covered:
            found.append(f"{meta['namespace']}/{meta['name']} (pods {', '.join(covered)})")
    return found


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "upgrade_plan": upgrade_plan,
            "upgrade_cluster": upgrade_cluster,
            "upgrade_drain_argv": drain_argv,
            "upgrade_drain_blockers": drain_blockers,
        }
