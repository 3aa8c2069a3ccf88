"""etcd operations for on-call: backup, restore, status and snapshots. Each runs its playbook
(playbooks/etcd-*.yml) through the runner; this module only checks inputs and prints findings."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from keelson import runs, table
from keelson.errors import RunFailed, UsageError
from keelson.progress import RunResult
from keelson.runner import run_playbook


def backup(inventory: Path) -> dict[str, Any]:
    """Take a backup now; returns its metadata (name, revision, keys, size, source...)."""
    with runs.report_dir() as tmp:
        result = run_playbook(
            "etcd-backup.yml", inventory, kind="etcd-backup", extravars={"keelson_report": tmp}
        )
        result.raise_for_failure()
        return dict(json.loads((Path(tmp) / "backup.json").read_text()))


def restore(
    inventory: Path, snapshot: str, confirm: Callable[[], bool], assume_yes: bool = False
) -> RunResult:
    """Verify SNAPSHOT on every member and show the plan (the playbook's dry run), then, once
    confirmed, run the restore. Nothing is stopped unless the snapshot verified everywhere."""
    if "/" in snapshot and not Path(snapshot).expanduser().is_file():
        raise UsageError(f"snapshot file not found: {snapshot}")
    if "/" in snapshot:
        snapshot = str(Path(snapshot).expanduser().resolve())
    extravars: dict[str, Any] = {"etcd_restore_snapshot": snapshot}
    if not assume_yes:
        dry = run_playbook(
            "etcd-restore.yml", inventory, kind="etcd-restore-check", extravars=extravars
        )
        dry.raise_for_failure()
        if not confirm():
            raise UsageError("restore not confirmed: nothing was stopped or changed")
    result = run_playbook(
        "etcd-restore.yml",
        inventory,
        kind="etcd-restore",
        extravars={**extravars, "etcd_restore_confirm": True},
    )
    result.raise_for_failure()
    return result


def _findings(inventory: Path) -> dict[str, dict[str, Any]]:
    with runs.report_dir() as tmp:
        result = run_playbook(
            "etcd-status.yml",
            inventory,
            kind="etcd-status",
            extravars={"keelson_report": tmp},
            quiet=True,
        )
        found = {p.stem: json.loads(p.read_text()) for p in Path(tmp).glob("*.json")}
    if not found:
        result.raise_for_failure()
        raise RunFailed("no etcd member answered; see the run's artifacts: " + str(result.run_dir))
    return found


def _endpoints(found: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The fullest `endpoint status --cluster` answer any member gave."""
    best: list[dict[str, Any]] = []
    for member in found.values():
        try:
            answer = json.loads(member.get("status") or "[]")
        except ValueError:
            continue
        if len(answer) > len(best):
            best = answer
    return best


def _age(timestamp: float) -> str:
    seconds = max(0, int(datetime.now(UTC).timestamp() - timestamp))
    if seconds < 120:
        return f"{seconds}s ago"
    if seconds < 7200:
        return f"{seconds // 60}m ago"
    return f"{seconds // 3600}h ago"


def status_text(found: dict[str, dict[str, Any]]) -> tuple[str, bool]:
    """A table of members (leader, revision, db size), the last backup, and whether all is well."""
    endpoints = _endpoints(found)
    leader_ids = {e["Status"]["leader"] for e in endpoints}
    rows = []
    for e in sorted(endpoints, key=lambda e: str(e["Endpoint"])):
        st = e["Status"]
        is_leader = st["header"]["member_id"] == st["leader"]
        rows.append(
            (
                e["Endpoint"],
                "*" if is_leader else "",
                st.get("version", ""),
                st["header"]["revision"],
                table.size(st.get("dbSize", 0)),
            )
        )
    columns = ("ENDPOINT", "LEADER", "VERSION", "REVISION>", "DB SIZE>")
    lines = [table.render(columns, rows)]
    silent = sorted(h for h, m in found.items() if int(m.get("status_rc", 1)) != 0)
    healthy = bool(endpoints) and len(endpoints) >= len(found) and len(leader_ids) == 1
    lines.append(
        f"{len(endpoints)} of {len(found)} members answer"
        + (f"; not all answered from {', '.join(silent)}" if silent else "")
        + ("" if len(leader_ids) == 1 else "; NO SINGLE LEADER")
    )
    backups = []
    for host, member in found.items():
        try:
            state = json.loads(member.get("backup") or "{}")
        except ValueError:
            state = {}
        if state:
            backups.append((host, state))
    good = [(h, s) for h, s in backups if "success_time" in s]
    if good:
        host, last = max(good, key=lambda hs: hs[1]["success_time"])
        lines.append(
            f"last backup: {last.get('last_name', '?')} ({_age(last['success_time'])}, "
            f"taken on {host}, {table.size(last.get('size', 0))}, "
            f"revision {last.get('revision', '?')})"
        )
    else:
        lines.append("last backup: none recorded")
    failed = [
        (h, s)
        for h, s in backups
        if s.get("failure_time", 0) > max((g[1]["success_time"] for g in good), default=0)
    ]
    for host, state in failed:
        lines.append(
            f"backup FAILED on {host} {_age(state['failure_time'])}: {state.get('last_error')}"
        )
    return "\n".join(lines), healthy and not failed


def status(inventory: Path) -> tuple[str, bool]:
    return status_text(_findings(inventory))


def snapshots_text(found: dict[str, dict[str, Any]]) -> str:
    listed: list[dict[str, Any]] = []
    errors = []
    for member in found.values():
        if member.get("snapshots"):
            listed = json.loads(member["snapshots"])
            break
        if member.get("snapshots_error"):
            errors.append(member["snapshots_error"].strip())
    if not listed:
        return "no snapshots" + (f": {errors[0]}" if errors else "")
    rows = [
        (
            snap["name"],
            snap["time"],
            snap["revision"],
            snap["total_keys"],
            table.size(snap["size"]),
            "yes" if snap.get("kubernetes_pki") else "no",
            snap.get("etcd_version", ""),
            snap.get("cluster_id", ""),
        )
        for snap in listed
    ]
    columns = ("NAME", "TAKEN", "REVISION>", "KEYS>", "SIZE>", "PKI", "ETCD", "CLUSTER")
    lines = [table.render(columns, rows)]
    return "\n".join(lines)


def snapshots(inventory: Path) -> str:
    return snapshots_text(_findings(inventory))
