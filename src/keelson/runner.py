"""Drive ansible-playbook through ansible-runner: live progress, a recap, a record of every run.

The runner thread puts each event on a queue; the calling thread renders progress from it
(keelson.progress: one line per finished task, a live status line on a terminal, a per-host
recap) and returns the run's RunResult.
Every run keeps its artifacts (events, stdout) under <state>/runs/<run id>/ as the audit trail.
"""

import importlib.util
import json
import os
import queue
import secrets
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import ansible_runner

from keelson import runs
from keelson.errors import InventoryError, KeelsonError, RunFailed
from keelson.paths import project_root
from keelson.progress import ProgressRenderer, RunResult

# The newest run this process started: an unexpected error names it (keelson runs show ID).
LAST_RUN_ID: str | None = None

# The preflight's check of the inventory alone (roles/preflight/tasks/inventory.yml): the first
# task of every playbook keelson runs (site.yml's preflight, the others' first play
# validate-inventory.yml), on the controller, before any host is contacted. A run that failed
# there was refused for its inventory: nothing changed.
INVENTORY_CHECK = "Check groups, host names, addresses and every role variable of the inventory"


def raise_if_refused(inventory: Path, result: RunResult) -> None:
    """InventoryError (exit 3: nothing changed) when RESULT failed in the inventory check."""
    first = result.failures[0] if result.failures else None
    if first is not None and INVENTORY_CHECK in first.task:
        raise InventoryError(f"{inventory}: {first.message}")


def new_run_id(kind: str) -> str:
    global LAST_RUN_ID
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    LAST_RUN_ID = f"{stamp}-{kind}-{secrets.token_hex(2)}"
    return LAST_RUN_ID


def strategy() -> str:
    """The Ansible strategy runs use: mitogen_linear when mitogen is installed (one persistent
    Python per host instead of a module upload per task: about twice as fast), keelson_linear
    (Ansible's own linear) when it is not or KEELSON_MITOGEN=0 asks for plain Ansible. Both
    load the Jinja plugins before Ansible forks its workers (keelson.prefork)."""
    if os.environ.get("KEELSON_MITOGEN", "1") == "0":
        return "keelson_linear"
    return "mitogen_linear" if importlib.util.find_spec("ansible_mitogen") else "keelson_linear"


def _ansible_env(chosen_strategy: str) -> dict[str, str]:
    bin_dir = str(Path(sys.executable).parent)
    return {
        "ANSIBLE_CONFIG": str(project_root() / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "true",
        "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
        # ansible.cfg's strategy_plugins holds mitogen's strategy (plugins/strategy).
        "ANSIBLE_STRATEGY": chosen_strategy,
        # ansible-runner turns host key checking off unless told: a host whose key is not the
        # one in known_hosts (the inventory's or the operator's) must stop the run.
        "ANSIBLE_HOST_KEY_CHECKING": "True",
    }


def _enqueue(events: "queue.Queue[dict[str, Any]]") -> Callable[[dict[str, Any]], bool]:
    def handler(event: dict[str, Any]) -> bool:
        events.put(event)
        return True

    return handler


def run_playbook(
    playbook: str,
    inventory: Path,
    *,
    kind: str,
    limit: str | None = None,
    tags: str | None = None,
    check: bool = False,
    diff: bool = False,
    extravars: dict[str, Any] | None = None,
    out: TextIO | None = None,
    quiet: bool = False,
) -> RunResult:
    """Run playbooks/PLAYBOOK against INVENTORY, rendering progress to OUT. Raises on a missing
    playbook or inventory and on a run refused in the inventory check (InventoryError); on any
    other failed run the caller decides (RunResult.raise_for_failure)."""
    out = out if out is not None else sys.stdout
    root = project_root()
    playbook_path = root / "playbooks" / playbook
    if not playbook_path.is_file():
        raise KeelsonError(f"playbook not found: {playbook_path}")
    if not inventory.exists():
        raise InventoryError(f"inventory not found: {inventory}")
    run_id = new_run_id(kind)
    run_dir = runs.runs_dir() / run_id
    chosen_strategy = strategy()
    run_dir.mkdir(parents=True)
    cmdline = " ".join(flag for flag, on in (("--check", check), ("--diff", diff)) if on)
    renderer = ProgressRenderer(None if quiet else out, diff)
    events: queue.Queue[dict[str, Any]] = queue.Queue()
    started = time.monotonic()
    thread, runner = ansible_runner.run_async(
        private_data_dir=str(run_dir),
        ident=run_id,
        playbook=str(playbook_path),
        inventory=str(inventory.resolve()),
        limit=limit,
        tags=tags,
        cmdline=cmdline or None,
        extravars=extravars or {},
        envvars=_ansible_env(chosen_strategy),
        event_handler=_enqueue(events),
        quiet=True,
        suppress_env_files=True,
    )
    try:
        while thread.is_alive() or not events.empty():
            try:
                renderer.handle(events.get(timeout=0.5))
            except queue.Empty:
                renderer.tick()
        thread.join()
    finally:
        runs.scrub_command(run_dir, run_id)
    # A task with ignore_unreachable reports the host unreachable, but Ansible counts it ok.
    dark = renderer.stats.get("dark", {})
    failures = [f for f in renderer.failures if not f.unreachable or dark.get(f.host)]
    result = RunResult(
        run_id=run_id,
        run_dir=run_dir,
        rc=int(runner.rc if runner.rc is not None else 1),
        status=str(runner.status),
        stats=renderer.stats,
        failures=failures,
        changed_tasks=renderer.changed_tasks,
        elapsed=time.monotonic() - started,
    )
    runs.write(
        run_dir,
        {
            "run_id": run_id,
            "playbook": playbook,
            "project": str(root),
            "inventory": str(inventory.resolve()),
            "limit": limit,
            "tags": tags,
            "check": check,
            "diff": diff,
            "rc": result.rc,
            "status": result.status,
            "elapsed_seconds": round(result.elapsed, 1),
            "strategy": chosen_strategy,
            "stats": result.stats,
            "failures": [f.__dict__ for f in result.failures],
        },
        renderer.timings,
    )
    renderer.recap(result)
    raise_if_refused(inventory, result)
    return result


def run_for_report(
    playbook: str, inventory: Path, *, kind: str, report: str, extravars: dict[str, Any]
) -> Any:
    """Run a read-only PLAYBOOK quietly with a private report directory (-e keelson_report) and
    return the JSON it wrote there as REPORT; when it wrote none, the run's failure (or a
    RunFailed naming the file)."""
    with runs.report_dir() as tmp:
        result = run_playbook(
            playbook,
            inventory,
            kind=kind,
            quiet=True,
            extravars={**extravars, "keelson_report": tmp},
        )
        written = Path(tmp) / report
        if not written.is_file():
            result.raise_for_failure()
            raise RunFailed(f"{inventory}: {playbook} wrote no {report} (run {result.run_id})")
        return json.loads(written.read_text())
