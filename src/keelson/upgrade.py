"""`keelson upgrade`: a Kubernetes upgrade on a live cluster, as on-call runs it.

The playbooks decide (playbooks/upgrade-plan.yml plans and refuses, upgrade.yml upgrades; the plan
itself is plugins/filter/upgrade.py); this module checks the request, prints the plan, asks, and
names the etcd backup taken before any change in the run's record.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from keelson import inventory, kube, prober, runs, table
from keelson.errors import InventoryError, UsageError
from keelson.paths import project_root
from keelson.progress import RunResult
from keelson.runner import run_for_report, run_playbook

RELEASE = re.compile(r"^v\d+\.\d+\.\d+$")
BATCH = re.compile(r"^([1-9]\d*|([1-9]\d?|100)%)$")
SERVICE = re.compile(r"^[a-z0-9-]+/[a-z0-9.-]+$")
# The shared defaults' owner (the node-local endpoint's port).
SHARED_DEFAULTS = Path("roles/keelson_defaults/defaults/main.yml")


def check_request(target: str, batch: str, drain_timeout: int) -> None:
    """Refuse a malformed request before anything runs."""
    if not RELEASE.match(target):
        raise UsageError(f'--to "{target}" is not a Kubernetes release such as v1.37.2')
    if not BATCH.match(batch):
        raise UsageError(f'--batch "{batch}" is neither a number of nodes nor a percentage (25%)')
    if drain_timeout <= 0:
        raise UsageError(f"--drain-timeout {drain_timeout} must be a positive number of seconds")


def plan(inv: Path, target: str, batch: str = "1", final: bool = False) -> dict[str, Any]:
    """Read the cluster and plan its upgrade to TARGET (playbooks/upgrade-plan.yml), changing
    nothing. FINAL: the plan of a real run (the inventory's kube_version must name TARGET)."""
    found = run_for_report(
        "upgrade-plan.yml",
        inv,
        kind="upgrade-plan",
        report="plan.json",
        extravars={"upgrade_to": target, "upgrade_batch": batch, "upgrade_plan_only": not final},
    )
    return dict(found)


def render(found: dict[str, Any]) -> str:
    """The plan as on-call reads it: a row per node, the order, the add-ons, the refusals."""
    target = found["target"]
    rows = [
        (
            n["node"],
            n["role"],
            _change(n["kubelet"], target),
            _change(n["control_plane"], target) if n["role"] == "control plane" else "-",
            _change(n["etcd"], found["etcd_target"]) if n["etcd"] else "-",
            n["containerd"] or "?",
            ", ".join(n["drain"]) if n["drain"] else "-",
        )
        for n in found["nodes"]
    ]
    lines = [
        f"upgrade {found['current'] or '?'} -> {target}",
        table.render(
            ("NODE", "ROLE", "KUBELET", "CONTROL PLANE", "ETCD", "CONTAINERD", "DRAIN EVICTS"), rows
        ),
        "",
    ]
    if found["steps"]:
        lines.append("order:")
        lines += [
            f"  {i}. {s['step']}: {', '.join(s['nodes'])} ({s['how']})"
            for i, s in enumerate(found["steps"], 1)
        ]
    else:
        lines.append(f"nothing to upgrade: every node runs {target}")
    lines.append(
        "add-ons: "
        + ", ".join(f"{a['addon']} {_change(a['current'], a['target'])}" for a in found["addons"])
    )
    lines += [f"warning: {w}" for w in found.get("warnings") or []]
    lines += [f"refused: {p}" for p in found["problems"]]
    return "\n".join(lines)


def _change(current: str, target: str) -> str:
    if not current:
        return "?"
    return current if current == target else f"{current} -> {target}"


# The plays that upgrade nodes, a batch of them at a time (playbooks/upgrade.yml).
STEP_PLAYS = (
    "Upgrade the control planes, one host at a time",
    "Upgrade the workers, a batch at a time",
)


def node_steps(run_dir: Path, samples: list[tuple[float, str, bool, str]]) -> list[dict[str, Any]]:
    """Each batch of nodes the run upgraded (from its events: a serial play starts again for each
    batch), its wall time, and the prober's requests that failed meanwhile, per backend."""
    paths = list(run_dir.glob("artifacts/*/job_events/*.json"))
    events = [
        json.loads(p.read_text()) for p in sorted(paths, key=lambda p: int(p.name.split("-")[0]))
    ]
    steps: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    when = 0.0
    for event in events:
        when = datetime.fromisoformat(event["created"]).timestamp()
        data = event.get("event_data") or {}
        if event["event"] in ("playbook_on_play_start", "playbook_on_stats"):
            if current is not None:
                current["end"] = when
            current = None
            if data.get("play") in STEP_PLAYS:
                current = {"start": when, "end": when, "nodes": set()}
                steps.append(current)
        elif (
            current is not None
            and event["event"] in ("runner_on_ok", "runner_on_failed")
            and data.get("task") != "Gathering Facts"
        ):
            current["nodes"].add(data.get("host"))
    if current is not None:
        current["end"] = when
    found = []
    for step in (s for s in steps if s["nodes"]):
        failed: dict[str, int] = {}
        for at, backend, ok, _ in samples:
            if step["start"] <= at <= step["end"]:
                failed[backend] = failed.get(backend, 0) + (0 if ok else 1)
        found.append(
            {
                "nodes": sorted(step["nodes"]),
                "seconds": round(step["end"] - step["start"], 1),
                "failed_requests": failed,
            }
        )
    return found


def render_steps(steps: list[dict[str, Any]]) -> str:
    rows = [
        (
            ", ".join(s["nodes"]),
            f"{s['seconds']:.0f}",
            ", ".join(f"{k} {v}" for k, v in s["failed_requests"].items()) or "-",
        )
        for s in steps
    ]
    return table.render(("NODES", "SECONDS>", "FAILED REQUESTS"), rows)


def _prober(inv: Path, groups: dict[str, list[str]], service: str | None) -> prober.Prober:
    """A prober on the first worker (else the first control plane): the API server through its
    node-local endpoint, and SERVICE (NAMESPACE/NAME) through its virtual IP."""
    control_planes = groups.get("kube_control_plane", [])
    workers = [h for h in groups.get("kube_node", []) if h not in control_planes]
    node = (workers or control_planes)[0]
    hostvars = inventory.host_vars(inv, node)
    defaults = yaml.safe_load((project_root() / SHARED_DEFAULTS).read_text())
    port = hostvars.get("keelson_apiserver_local_port", defaults["keelson_apiserver_local_port"])
    targets = {f"API via {node}'s node-local endpoint": f"https://127.0.0.1:{port}/readyz"}
    if service:
        namespace, _, name = service.partition("/")
        answer = json.loads(
            kube.kubectl_output(inv, ["get", "service", name, "-n", namespace, "-o", "json"])
        )
        address, ports = answer["spec"].get("clusterIP"), answer["spec"].get("ports") or []
        if not ports or address in (None, "", "None"):
            raise UsageError(f"service {service} has no virtual IP and port to probe")
        targets[f"Service {service}"] = f"http://{address}:{ports[0]['port']}/"
    return prober.Prober(prober.ssh_argv(inv, node), targets)


def upgrade(
    inv: Path,
    target: str,
    confirm: Callable[[dict[str, Any]], bool],
    batch: str = "1",
    drain_timeout: int = 300,
    force_drain: bool = False,
    probe_service: str | None = None,
) -> tuple[RunResult, dict[str, Any], dict[str, Any]]:
    """Plan (printed by CONFIRM, which may refuse), then run playbooks/upgrade.yml with a prober
    polling the API (and PROBE_SERVICE); returns the run, the backup taken before any change and
    the disruption measured (both also in the run's record)."""
    check_request(target, batch, drain_timeout)
    if probe_service is not None and not SERVICE.match(probe_service):
        raise UsageError(f'--probe "{probe_service}" is not NAMESPACE/SERVICE')
    groups = inventory.parse(inv)
    found = plan(inv, target, batch, final=True)
    if found["problems"]:
        raise InventoryError(f"{inv}: upgrade to {target} refused: {found['problems'][0]}")
    if not confirm(found):
        raise UsageError(f"upgrade to {target} not confirmed: nothing was changed")
    polling = _prober(inv, groups, probe_service)
    polling.start()
    with runs.report_dir() as tmp:
        try:
            result = run_playbook(
                "upgrade.yml",
                inv,
                kind="upgrade",
                extravars={
                    "upgrade_to": target,
                    "upgrade_batch": batch,
                    "upgrade_drain_timeout": drain_timeout,
                    "upgrade_force_drain": force_drain,
                    "upgrade_confirm": True,
                    "keelson_report": tmp,
                },
            )
        finally:
            disruption = polling.stop()
        backup_file = Path(tmp) / "backup.json"
        backup = json.loads(backup_file.read_text()) if backup_file.is_file() else {}
    steps = node_steps(result.run_dir, polling.samples)
    record = {
        "from": found["current"],
        "to": target,
        "backup": backup,
        "disruption": disruption,
        "steps": steps,
    }
    runs.annotate(result.run_dir, {"upgrade": record})
    if steps:
        print(render_steps(steps), flush=True)
    print(prober.render(disruption) or "prober: no answer from the node", flush=True)
    result.raise_for_failure()
    return result, backup, disruption
