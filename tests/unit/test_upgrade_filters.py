"""The upgrade runbook's filters: the plan, its refusals, and the PodDisruptionBudgets that
stop a drain. The cluster is described as `kubectl get -o json` gives it."""

from typing import Any

import pytest
from role_plugins import load_filter_plugin

plugin = load_filter_plugin("upgrade")

GROUPS = {
    "kube_control_plane": ["cp1", "cp2", "cp3"],
    "kube_node": ["cp1", "cp2", "cp3", "w1", "w2"],
    "etcd": ["cp1", "cp2", "cp3"],
}
PINS = {
    "kubernetes": ["v1.36.3", "v1.37.2"],
    "etcd": "v3.6.16",
    "coredns": "v1.14.7",
    "flannel": "v0.28.10",
}
REGISTRY = "10.0.0.1:5000/cluster"


def node(name: str, kubelet: str = "v1.36.3", ready: bool = True) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {},
        "status": {
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "nodeInfo": {
                "kubeletVersion": kubelet,
                "containerRuntimeVersion": "containerd://v2.2.9",
            },
        },
    }


def static_pod(
    component: str, host: str, version: str = "v1.36.3", running: bool = True
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"{component}-{host}",
            "namespace": "kube-system",
            "labels": {"tier": "control-plane", "component": component},
            "annotations": {"kubernetes.io/config.mirror": "x"},
        },
        "spec": {"nodeName": host, "containers": [{"image": f"{REGISTRY}/{component}:{version}"}]},
        "status": {
            "phase": "Running" if running else "Pending",
            "containerStatuses": [{"ready": running}],
        },
    }


def pod(
    name: str, host: str, labels: dict[str, str] | None = None, owner: str = "ReplicaSet"
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": "default",
            "labels": labels or {},
            "ownerReferences": [{"kind": owner, "name": "x"}],
        },
        "spec": {"nodeName": host},
        "status": {"phase": "Running"},
    }


def cluster(
    versions: dict[str, str] | None = None, kubelets: dict[str, str] | None = None
) -> dict[str, Any]:
    versions = versions or {}
    kubelets = kubelets or {}
    hosts = ["cp1", "cp2", "cp3", "w1", "w2"]
    pods = [
        static_pod(c, h, versions.get(h, "v1.36.3"))
        for h in ["cp1", "cp2", "cp3"]
        for c in ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
    ]
    pods += [pod("web-1", "w1", {"app": "web"}), pod("web-2", "w2", {"app": "web"})]
    pods += [pod("kube-proxy-abc", "w1", owner="DaemonSet")]
    return {
        "nodes": [node(h, kubelets.get(h, "v1.36.3")) for h in hosts],
        "pods": pods,
        "workloads": [],
    }


def plan(state: dict[str, Any], target: str = "v1.37.2", **kwargs: Any) -> dict[str, Any]:
    return dict(plugin.upgrade_plan(state, target, GROUPS, PINS, **kwargs))


def test_a_minor_upgrade_goes_control_planes_first_then_workers_one_at_a_time() -> None:
    result = plan(cluster(), etcd_versions={"cp1": "v3.6.16"})
    assert result["problems"] == []
    assert result["current"] == "v1.36.3"
    assert [(s["step"], s["nodes"]) for s in result["steps"]] == [
        ("control plane", ["cp1"]),
        ("control plane", ["cp2"]),
        ("control plane", ["cp3"]),
        ("workers", ["w1"]),
        ("workers", ["w2"]),
    ]
    assert result["steps"][0]["how"].startswith("kubeadm upgrade apply")
    assert result["steps"][1]["how"].startswith("kubeadm upgrade node")
    # What each drain evicts: not DaemonSet pods, not static pods.
    drains = {r["node"]: r["drain"] for r in result["nodes"]}
    assert drains == {
        "cp1": [],
        "cp2": [],
        "cp3": [],
        "w1": ["default/web-1"],
        "w2": ["default/web-2"],
    }


def test_workers_go_in_batches_of_a_count_or_a_percentage() -> None:
    assert [s["nodes"] for s in plan(cluster(), batch=2)["steps"]][-1:] == [["w1", "w2"]]
    assert [s["nodes"] for s in plan(cluster(), batch="50%")["steps"]][-2:] == [["w1"], ["w2"]]


def test_a_skipped_minor_a_downgrade_and_an_unpinned_release_are_refused() -> None:
    # The version policy first: what on-call must change is the target, not versions.yml.
    skip = plan(cluster(), "v1.38.0")["problems"][0]
    assert skip.startswith("v1.36.3 -> v1.38.0 skips a minor release") and "v1.37.x first" in skip
    assert any("not pinned" in p for p in plan(cluster(), "v1.38.0")["problems"])
    newer = cluster({h: "v1.37.2" for h in ("cp1", "cp2", "cp3")})
    [down] = plan(newer, "v1.36.3")["problems"]
    assert down.startswith("v1.36.3 is older than the cluster's v1.37.2: a downgrade is refused")
    assert (
        plan(cluster(), "1.37")["problems"][0]
        == '"1.37" is not a Kubernetes release such as v1.37.2'
    )


def test_a_half_done_upgrade_resumes_and_nodes_at_the_target_are_left_alone() -> None:
    state = cluster({"cp1": "v1.37.2", "cp2": "v1.37.2"}, {"cp1": "v1.37.2", "w1": "v1.37.2"})
    result = plan(state)
    assert result["problems"] == []
    assert result["to_do"] == ["cp2", "cp3", "w2"]
    # cp1 is done; cp2's API server is at the target but not its kubelet: it is not done.
    assert [s["nodes"] for s in result["steps"]] == [["cp2"], ["cp3"], ["w2"]]
    assert all(s["how"].startswith("kubeadm upgrade node") for s in result["steps"][:2])
    assert {r["node"]: r["drain"] for r in result["nodes"]}["w1"] == []
    # Everything at the target: nothing to do, and no refusal.
    done = cluster(
        {h: "v1.37.2" for h in ("cp1", "cp2", "cp3")}, dict.fromkeys(GROUPS["kube_node"], "v1.37.2")
    )
    assert plan(done)["steps"] == [] and plan(done)["problems"] == []


def test_version_skew_and_cluster_health_are_refused_before_any_change() -> None:
    state = cluster({"cp3": "v1.35.4"}, {"w2": "v1.33.1"})
    state["nodes"][3]["status"]["conditions"][0]["status"] = "False"
    state["pods"][0]["status"]["phase"] = "Pending"
    state["nodes"].append(node("w9"))
    problems = plan(state)["problems"]
    assert "w1 is not Ready: bring it back (or remove it) before the upgrade" in problems
    assert any(
        p.startswith("w2's kubelet v1.33.1 is more than three minors behind v1.37.2")
        for p in problems
    )
    assert "control-plane pods not running and ready: kube-apiserver-cp1" in problems
    assert any(
        p.startswith("w9 is a node of the cluster but not of the inventory") for p in problems
    )
    # cp3 runs v1.35.4, the others v1.36.3: an earlier upgrade to finish first.
    assert (
        "the control planes run v1.35.4, v1.36.3: more than one release below v1.37.2; "
        "bring them to one release first" in problems
    )
    assert any(
        p.startswith("v1.35.4 -> v1.37.2 skips a minor")
        for p in plan(cluster(dict.fromkeys(["cp1", "cp2", "cp3"], "v1.35.4")))["problems"]
    )


def test_the_inventory_must_name_the_target_for_a_real_run() -> None:
    problems = plan(cluster(), inventory_version="v1.36.3")["problems"]
    assert problems == [
        "the inventory's kube_version is v1.36.3, the target v1.37.2: set kube_version: v1.37.2 "
        "in its group_vars (what `keelson deploy` keeps), then run again"
    ]
    assert plan(cluster(), inventory_version="v1.37.2")["problems"] == []


def test_etcd_members_behind_their_pin_are_rolled_first() -> None:
    result = plan(
        cluster(),
        etcd_versions={
            "cp1": "etcd Version: 3.6.15\nGit SHA: x",
            "cp2": "v3.6.16",
            "cp3": "v3.6.15",
        },
    )
    assert result["steps"][0] == {
        "step": "etcd",
        "nodes": ["cp1", "cp3"],
        "how": "one member at a time to v3.6.16",
    }


def test_a_budget_allowing_no_disruption_is_named_with_its_pods() -> None:
    pods = cluster()["pods"] + [pod("db-1", "w1", {"app": "db", "tier": "data"})]
    pdbs = [
        {
            "metadata": {"namespace": "default", "name": "web"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}},
            "status": {"disruptionsAllowed": 1},
        },
        {
            "metadata": {"namespace": "default", "name": "db"},
            "spec": {
                "selector": {
                    "matchExpressions": [{"key": "tier", "operator": "In", "values": ["data"]}]
                }
            },
            "status": {"disruptionsAllowed": 0},
        },
    ]
    assert plugin.drain_blockers(pdbs, pods, "w1") == ["default/db (pods db-1)"]
    assert plugin.drain_blockers(pdbs, pods, "w2") == []


def test_a_drain_dry_run_stopped_by_a_budget_refuses_the_upgrade_naming_it() -> None:
    state = cluster()
    state["pdbs"] = [
        {
            "metadata": {"namespace": "default", "name": "web"},
            "spec": {"selector": {"matchLabels": {"app": "web"}}},
            "status": {"disruptionsAllowed": 0},
        }
    ]
    stderr = 'error when evicting pods/"web-1" -n "default": global timeout reached: 15s'
    state["drains"] = {"w1": {"rc": 1, "stderr": stderr}, "w2": {"rc": 0}}
    assert plan(state)["problems"] == [
        "w1: a drain would be stopped by PodDisruptionBudget default/web (pods web-1)"
    ]
    state = cluster()
    state["drains"] = {"w2": {"rc": 1, "stderr": "error: node w2 not found\n"}}
    assert plan(state)["problems"] == ["w2: a drain dry run failed: error: node w2 not found"]


def test_requests_to_apis_the_target_removes_are_reported() -> None:
    metrics = (
        "# HELP apiserver_requested_deprecated_apis ...\n"
        'apiserver_requested_deprecated_apis{group="flowcontrol.apiserver.k8s.io",'
        'removed_release="1.37",resource="flowschemas",subresource="",version="v1beta3"} 1\n'
        'apiserver_requested_deprecated_apis{group="",removed_release="1.40",'
        'resource="componentstatuses",subresource="",version="v1"} 1\n'
    )
    state = cluster()
    state["metrics"] = metrics
    assert plan(state)["warnings"] == [
        "flowschemas.flowcontrol.apiserver.k8s.io/v1beta3 is removed in 1.37 and was requested "
        "since the API servers started: move its clients to the newer API before the upgrade"
    ]


def test_the_probes_answers_become_the_cluster_and_a_failed_listing_stops_the_plan() -> None:
    answers = {
        "nodes": {"rc": 0, "stdout": '{"items": [{"metadata": {"name": "cp1"}}]}'},
        "pods": {"rc": 0, "stdout": '{"items": []}'},
        "workloads": {"rc": 0, "stdout": '{"items": []}'},
        "pdbs": {"rc": 0, "stdout": '{"items": []}'},
        "metrics": {"rc": 0, "stdout": "# metrics"},
        "drain:w1": {"rc": 1, "stderr": "blocked"},
    }
    found = plugin.upgrade_cluster(answers)
    assert [n["metadata"]["name"] for n in found["nodes"]] == ["cp1"]
    assert found["drains"] == {"w1": {"rc": 1, "stderr": "blocked"}}
    answers["pods"] = {"rc": 1, "stderr": "The connection to the server was refused\n"}
    with pytest.raises(ValueError, match="could not list the cluster's pods: The connection"):
        plugin.upgrade_cluster(answers)


def test_a_drain_honours_budgets_unless_forced() -> None:
    argv = plugin.drain_argv("w1", ["kubectl"], 60)
    assert argv == [
        "kubectl",
        "drain",
        "w1",
        "--ignore-daemonsets",
        "--delete-emptydir-data",
        "--timeout=60s",
    ]
    assert plugin.drain_argv("w1", ["kubectl"], 15, dry_run=True)[-1] == "--dry-run=server"
    assert plugin.drain_argv("w1", ["kubectl"], 60, force=True)[-1] == "--disable-eviction"
