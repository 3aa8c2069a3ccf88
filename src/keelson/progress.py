"""What a person sees of a playbook run, and what it came to: one line per finished task (with
what changed), a live status line on a terminal, a per-host recap, and the run's outcome
(RunResult) with the one line that says why it failed.

keelson.runner feeds the renderer the events of ansible-runner.
"""

import difflib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from keelson import runs
from keelson.errors import HostUnreachable, RunFailed, one_line

STAT_KEYS = ("ok", "changed", "failures", "dark", "skipped", "rescued", "ignored")
RECAP_COLUMNS = (
    ("ok", "ok"),
    ("changed", "changed"),
    ("failed", "failures"),
    ("unreachable", "dark"),
    ("skipped", "skipped"),
)


@dataclass
class Failure:
    host: str
    task: str
    message: str
    unreachable: bool = False


@dataclass
class TaskProgress:
    name: str
    play: str
    started: float
    hosts: set[str] = field(default_factory=set)
    results: dict[str, str] = field(default_factory=dict)
    # Seconds each host spent on the task (ansible-runner's per-result duration).
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class RunResult:
    run_id: str
    run_dir: Path
    rc: int
    status: str
    stats: dict[str, dict[str, int]]
    failures: list[Failure]
    # (host, task, what changed: the files of its diff, or its first line of output).
    changed_tasks: list[tuple[str, str, str]]
    elapsed: float

    @property
    def ok(self) -> bool:
        return self.rc == 0 and not self.failures

    def changed_total(self) -> int:
        return sum(self.stats.get("changed", {}).values())

    def raise_for_failure(self) -> None:
        """Raise the error that says in one line why the run failed."""
        if self.ok:
            return
        unreachable = [f for f in self.failures if f.unreachable]
        if unreachable:
            first = unreachable[0]
            others = len({f.host for f in unreachable}) - 1
            more = f" (and {others} more)" if others else ""
            if any(sign in first.message for sign in _HOST_KEY_REFUSED):
                raise HostUnreachable(
                    f"host {first.host}{more}: its SSH host key is not in known_hosts or differs"
                    " from the one there (a new or reinstalled host, or someone in between):"
                    " check the key, then add or replace the host's line in known_hosts"
                )
            raise HostUnreachable(f"host {first.host} unreachable{more}: {first.message}")
        if self.failures:
            first = self.failures[0]
            raise RunFailed(f"task '{first.task}' failed on {first.host}: {first.message}")
        raise RunFailed(_error_line(self.run_dir, self.run_id))


# What ssh (plain Ansible) and mitogen say when a host's key is not the known one.
_HOST_KEY_REFUSED = (
    "Host key verification failed",
    "REMOTE HOST IDENTIFICATION HAS CHANGED",
    "mismatching host key",
)


def _message(res: dict[str, Any]) -> Any:
    """Why a task failed on a host; for a loop, the first failed item's reason (the task's own
    message is only "All items completed")."""
    for item in res.get("results") or []:
        if isinstance(item, dict) and (item.get("failed") or item.get("unreachable")):
            return _message({k: v for k, v in item.items() if k != "results"})
    return res.get("msg") or res.get("stderr") or res.get("reason", "")


def _what_changed(res: dict[str, Any]) -> str:
    """What a changed result changed, in a few words: the files its diffs name (a loop's, from
    its changed items), else its first line of output (a check-mode command says what it would
    do)."""
    parts = [
        res,
        *(i for i in res.get("results") or [] if isinstance(i, dict) and i.get("changed")),
    ]
    files = []
    for part in parts:
        diffs = part.get("diff")
        for diff in diffs if isinstance(diffs, list) else [diffs]:
            # before_header is the file on the host (a template's after_header is its source);
            # the file module's state diffs ({path, state} before and after) name the path.
            if isinstance(diff, dict) and diff.get("before_header"):
                files.append(str(diff["before_header"]))
            elif (
                isinstance(diff, dict)
                and isinstance(diff.get("before"), dict)
                and diff["before"].get("path")
            ):
                files.append(str(diff["before"]["path"]))
    if files:
        return ", ".join(dict.fromkeys(files))
    # A loop's own msg is only "All items completed": its items' output says more.
    said = [str(p.get("stdout") or "").strip() for p in parts]
    if not res.get("results"):
        said.append(str(res.get("msg") or "").strip())
    said = [text for text in said if text]
    return said[0].splitlines()[0] if said else ""


def _error_line(run_dir: Path, run_id: str) -> str:
    """The ansible error from a run that failed before any task (parse errors, bad inventory)."""
    stdout = run_dir / "artifacts" / run_id / "stdout"
    text = stdout.read_text(errors="replace") if stdout.exists() else ""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith(("ERROR!", "[ERROR]")):
            message = stripped.removeprefix("ERROR!").removeprefix("[ERROR]:").strip()
            if not message and i + 1 < len(lines):
                message = lines[i + 1].strip()
            return message
    return f"ansible-playbook failed; see {stdout}"


def _format_elapsed(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}:{secs:02d}"


def _render_diff(diff: Any) -> list[str]:
    """Unified diff lines from a module's diff result (a dict or a list of dicts)."""
    items = diff if isinstance(diff, list) else [diff]
    lines: list[str] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        if "prepared" in item:
            lines += str(item["prepared"]).splitlines()
            continue
        before, after = item.get("before", ""), item.get("after", "")
        if not isinstance(before, str) or not isinstance(after, str):
            before = json.dumps(before, indent=2, sort_keys=True)
            after = json.dumps(after, indent=2, sort_keys=True)
        lines += difflib.unified_diff(
            before.splitlines(),
            after.splitlines(),
            str(item.get("before_header", "before")),
            str(item.get("after_header", "after")),
            lineterm="",
        )
    return lines


class ProgressRenderer:
    """Turns runner events into lines a person can follow."""

    def __init__(self, out: TextIO | None, show_diff: bool) -> None:
        self.out = out
        self.show_diff = show_diff
        self.live = out is not None and out.isatty()
        self.start = time.monotonic()
        self.play = ""
        self.task: TaskProgress | None = None
        self.failures: list[Failure] = []
        self.changed_tasks: list[tuple[str, str, str]] = []
        self.stats: dict[str, dict[str, int]] = {}
        self.timings: list[runs.Timing] = []
        self._live_shown = False

    def _stamp(self) -> str:
        return f"[{_format_elapsed(time.monotonic() - self.start):>5}]"

    def _print(self, line: str) -> None:
        if self.out is None:
            return
        self._clear_live()
        print(line, file=self.out, flush=True)

    def _clear_live(self) -> None:
        if self.out is not None and self._live_shown:
            self.out.write("\r\033[K")
            self._live_shown = False

    def tick(self) -> None:
        """Refresh the live status line (terminal only)."""
        if self.out is None or not self.live or self.task is None:
            return
        done = len(self.task.results)
        failed = sum(1 for r in self.task.results.values() if r in ("failed", "unreachable"))
        line = (
            f"{self._stamp()} {self.play} > {self.task.name}  "
            f"{done}/{len(self.task.hosts)} hosts done, {failed} failed"
        )
        self.out.write("\r\033[K" + line[: os.get_terminal_size(self.out.fileno()).columns - 1])
        self.out.flush()
        self._live_shown = True

    def _finish_task(self) -> None:
        task = self.task
        if task is None:
            return
        self.task = None
        if not task.results:
            return
        took = time.monotonic() - task.started
        self.timings.append(runs.Timing(task.play, task.name, took, task.seconds, task.results))
        counts: dict[str, int] = {}
        for outcome in task.results.values():
            counts[outcome] = counts.get(outcome, 0) + 1
        summary = " ".join(f"{k}={v}" for k, v in sorted(counts.items()))
        self._print(f"{self._stamp()}   {task.name}  {summary}  ({took:.1f}s)")

    def handle(self, event: dict[str, Any]) -> None:
        kind = event.get("event", "")
        data = event.get("event_data", {})
        if kind == "playbook_on_play_start":
            self._finish_task()
            self.play = data.get("play", "") or data.get("name", "")
            pattern = data.get("play_pattern", "")
            self._print(f"{self._stamp()} PLAY {self.play}  [{pattern}]")
        elif kind == "playbook_on_task_start":
            self._finish_task()
            role = data.get("role")
            name = data.get("task") or data.get("name", "")
            label = f"{role} : {name}" if role and not name.startswith(f"{role} :") else name
            self.task = TaskProgress(label, self.play, time.monotonic())
        elif kind.startswith("runner_on_") or kind.startswith("runner_item_on_"):
            self._host_result(kind, data)
        elif kind == "playbook_on_stats":
            self._finish_task()
            self.stats = {key: dict(data.get(key) or {}) for key in STAT_KEYS}

    def _host_result(self, kind: str, data: dict[str, Any]) -> None:
        host = data.get("host", "?")
        res = data.get("res", {}) or {}
        task_name = self.task.name if self.task else data.get("task", "")
        if kind == "runner_on_start":
            if self.task is not None:
                self.task.hosts.add(host)
            return
        if kind.startswith("runner_item_on_"):
            return
        outcome = {
            "runner_on_ok": "changed" if res.get("changed") else "ok",
            "runner_on_failed": "ignored" if data.get("ignore_errors") else "failed",
            "runner_on_unreachable": "unreachable",
            "runner_on_skipped": "skipped",
        }.get(kind)
        if outcome is None:
            return
        if self.task is not None:
            self.task.results[host] = outcome
            duration = data.get("duration")
            if isinstance(duration, int | float):
                self.task.seconds[host] = float(duration)
        if outcome == "failed":
            message = one_line(_message(res))
            self.failures.append(Failure(host, task_name, message))
            self._print(f"{self._stamp()}   FAILED {host}: {task_name}: {message}")
        elif outcome == "unreachable":
            message = one_line(_message(res))
            self.failures.append(Failure(host, task_name, message, unreachable=True))
            self._print(f"{self._stamp()}   UNREACHABLE {host}: {message}")
        elif outcome == "changed":
            self.changed_tasks.append((host, task_name, _what_changed(res)))
            if self.show_diff and res.get("diff"):
                self._print(f"{self._stamp()}   changed {host}: {task_name}")
                for line in _render_diff(res["diff"]):
                    self._print(f"          {line}")

    def recap(self, result: RunResult) -> None:
        if self.out is None:
            return
        self._clear_live()
        hosts = sorted({h for per_host in self.stats.values() for h in per_host})
        if hosts:
            width = max(len(h) for h in hosts) + 2
            header = "HOST".ljust(width) + "".join(f"{name:>13}" for name, _ in RECAP_COLUMNS)
            print(f"\n{header}", file=self.out)
            for host in hosts:
                row = "".join(
                    f"{self.stats.get(key, {}).get(host, 0):>13}" for _, key in RECAP_COLUMNS
                )
                print(host.ljust(width) + row, file=self.out)
        state = "ok" if result.ok else "FAILED"
        print(
            f"\nrun {result.run_id}: {state} in {_format_elapsed(result.elapsed)}, "
            f"{result.changed_total()} changed; artifacts: {result.run_dir}",
            file=self.out,
        )
        self.out.flush()
