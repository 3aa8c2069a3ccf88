"""Run records: every playbook run leaves run.json (what ran, the outcome, task counts per host,
the slowest tasks) and tasks.json (every task's wall time and each host's share) under
<state>/runs/<run id>/, beside ansible-runner's artifacts. `keelson runs` reads them back."""

import json
import re
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from keelson import table
from keelson.errors import UsageError
from keelson.paths import state_dir

RECORD = "run.json"
TASKS = "tasks.json"
# How many of the slowest tasks run.json keeps (tasks.json keeps them all).
SLOWEST = 10


@dataclass(frozen=True)
class Timing:
    """One finished task: its wall time and the seconds each host spent on it."""

    play: str
    task: str
    wall: float
    hosts: dict[str, float]
    outcomes: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "play": self.play,
            "task": self.task,
            "wall_seconds": round(self.wall, 2),
            "host_seconds": {h: round(s, 2) for h, s in sorted(self.hosts.items())},
            "outcomes": dict(sorted(self.outcomes.items())),
        }


# The environment a run record keeps (ansible-runner writes the whole environment into
# artifacts/<id>/command): Ansible's and keelson's settings and the search paths explain a run;
# anything else (cloud credentials, tokens) is the operator's and stays out, and so does any
# setting whose name says it holds a secret.
_KEPT_ENV = re.compile(r"^(ANSIBLE_|KEELSON_|RUNNER_)|^(PATH|PYTHONPATH|HOME|LANG|LC_ALL)$")
_SECRET_ENV = re.compile(r"PASS|SECRET|TOKEN|CREDENTIAL|AUTH")


def explaining_env(env: Mapping[str, str]) -> dict[str, str]:
    """The part of ENV a run record keeps."""
    return {
        name: value
        for name, value in sorted(env.items())
        if _KEPT_ENV.search(name) and not _SECRET_ENV.search(name)
    }


def scrub_command(run_dir: Path, run_id: str) -> None:
    """Rewrite ansible-runner's artifacts/RUN_ID/command with only explaining_env (it holds the
    whole environment of the run from its start)."""
    command = run_dir / "artifacts" / run_id / "command"
    if not command.is_file():
        return
    recorded = json.loads(command.read_text())
    recorded["env"] = explaining_env(recorded.get("env") or {})
    command.write_text(json.dumps(recorded, ensure_ascii=False))


def report_dir() -> tempfile.TemporaryDirectory[str]:
    """A private directory for what a playbook writes back to the controller (-e keelson_report),
    removed when the caller is done with it."""
    reports = state_dir() / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    return tempfile.TemporaryDirectory(dir=reports)


def runs_dir() -> Path:
    return state_dir() / "runs"


def summarize(timings: Iterable[Timing]) -> dict[str, Any]:
    """The timing fields of run.json: task results per host and the slowest tasks."""
    timings = list(timings)
    per_host: dict[str, int] = {}
    for timing in timings:
        for host in timing.outcomes:
            per_host[host] = per_host.get(host, 0) + 1
    slowest = sorted(timings, key=lambda t: t.wall, reverse=True)[:SLOWEST]
    return {
        "task_count": len(timings),
        "task_results_per_host": dict(sorted(per_host.items())),
        "slowest_tasks": [t.as_dict() for t in slowest],
    }


def write(run_dir: Path, record: dict[str, Any], timings: list[Timing]) -> None:
    (run_dir / TASKS).write_text(json.dumps([t.as_dict() for t in timings], indent=1))
    (run_dir / RECORD).write_text(json.dumps({**record, **summarize(timings)}, indent=2))


def annotate(run_dir: Path, extra: dict[str, Any]) -> None:
    """Add EXTRA to a written run record (what a command learnt of the run: the upgrade's
    backup and disruption)."""
    record = json.loads((run_dir / RECORD).read_text())
    (run_dir / RECORD).write_text(json.dumps({**record, **extra}, indent=2))


def _run_dir(run_id: str) -> Path:
    """A run's directory from its path, its id or a part of its id that only it has."""
    path = Path(run_id)
    if (path / RECORD).is_file():
        return path
    root = runs_dir()
    if (root / run_id / RECORD).is_file():
        return root / run_id
    matches = sorted(d for d in root.glob("*") if run_id in d.name and (d / RECORD).is_file())
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise UsageError(f"no run {run_id} under {root} (see `keelson runs list`)")
    raise UsageError(f"{len(matches)} runs match {run_id}: {matches[0].name}, {matches[1].name}")


def load(run_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """run.json and tasks.json of a run (tasks empty for runs recorded before tasks.json)."""
    run_dir = _run_dir(run_id)
    record: dict[str, Any] = json.loads((run_dir / RECORD).read_text())
    tasks_file = run_dir / TASKS
    tasks: list[dict[str, Any]] = json.loads(tasks_file.read_text()) if tasks_file.is_file() else []
    return record, tasks


def recent(limit: int) -> list[dict[str, Any]]:
    """The newest run records first (run ids start with their UTC start time)."""
    dirs = sorted((d for d in runs_dir().glob("*") if (d / RECORD).is_file()), reverse=True)
    return [json.loads((d / RECORD).read_text()) for d in dirs[:limit]]


def _changed(record: dict[str, Any]) -> int:
    return sum((record.get("stats", {}).get("changed") or {}).values())


def render_list(records: list[dict[str, Any]]) -> str:
    rows = [
        (
            r["run_id"],
            r["playbook"],
            r["status"],
            f"{r['elapsed_seconds']:.1f}s",
            _changed(r),
            r.get("task_count", "-"),
        )
        for r in records
    ]
    return table.render(("RUN", "PLAYBOOK", "STATUS", "WALL>", "CHANGED>", "TASKS>"), rows)


def render_show(record: dict[str, Any], tasks: list[dict[str, Any]], top: int) -> str:
    """A run as on-call reads it: what ran, the outcome, work per host, where the time went."""
    flags = " ".join(f for f in ("check", "diff") if record.get(f))
    lines = [
        f"run {record['run_id']}: {record['playbook']} {flags}".rstrip(),
        f"  inventory {record['inventory']}"
        + (f", limit {record['limit']}" if record.get("limit") else "")
        + (f", tags {record['tags']}" if record.get("tags") else ""),
        f"  {record['status']} (rc {record['rc']}) in {record['elapsed_seconds']:.1f}s, "
        f"{_changed(record)} changed, {record.get('task_count', '?')} tasks",
    ]
    for failure in record.get("failures", []):
        lines.append(f"  FAILED {failure['host']}: {failure['task']}: {failure['message']}")
    stats = record.get("stats", {})
    per_host = record.get("task_results_per_host", {})
    hosts = sorted(set(per_host) | {h for v in stats.values() for h in (v or {})})
    if hosts:
        rows = [
            (
                host,
                per_host.get(host, 0),
                (stats.get("changed") or {}).get(host, 0),
                f"{sum(t['host_seconds'].get(host, 0.0) for t in tasks):.1f}s",
            )
            for host in hosts
        ]
        lines += ["", table.render(("HOST", "RESULTS>", "CHANGED>", "BUSY>"), rows)]
    slowest = (
        sorted(tasks, key=lambda t: t["wall_seconds"], reverse=True)[:top]
        or record.get("slowest_tasks", [])[:top]
    )
    if slowest:
        slow_rows: list[tuple[str, str, str]] = []
        for t in slowest:
            host_seconds = t["host_seconds"]
            worst = max(host_seconds, key=host_seconds.get) if host_seconds else "-"
            worst_text = f"{worst} {host_seconds[worst]:.1f}s" if host_seconds else "-"
            slow_rows.append(
                (f"{t['wall_seconds']:.1f}s", worst_text, f"{t['task']} ({t['play']})")
            )
        lines += ["", table.render(("WALL>", "SLOWEST HOST", "TASK (PLAY)"), slow_rows)]
    return "\n".join(lines)
