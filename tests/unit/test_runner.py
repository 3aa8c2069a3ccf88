"""Progress rendering and outcome mapping, fed with events shaped like ansible-runner's."""

import io
import json
from pathlib import Path
from typing import Any

import pytest

from keelson import cli, progress, runs
from keelson.errors import HostUnreachable, RunFailed
from keelson.progress import ProgressRenderer, RunResult, _render_diff
from keelson.runner import run_playbook


def event(kind: str, **data: Any) -> dict[str, Any]:
    return {"event": kind, "event_data": data}


def play(renderer: ProgressRenderer, events: list[dict[str, Any]]) -> None:
    for e in events:
        renderer.handle(e)


def result_of(renderer: ProgressRenderer, rc: int) -> RunResult:
    return RunResult(
        run_id="r1",
        run_dir=Path("/nonexistent"),
        rc=rc,
        status="failed" if rc else "successful",
        stats=renderer.stats,
        failures=renderer.failures,
        changed_tasks=renderer.changed_tasks,
        elapsed=1.0,
    )


RUN = [
    event("playbook_on_play_start", play="Common host setup", play_pattern="all"),
    event("playbook_on_task_start", task="Install base packages", role="common"),
    event("runner_on_start", host="node1"),
    event("runner_on_start", host="node2"),
    event("runner_on_ok", host="node1", res={"changed": True}),
    event("runner_on_failed", host="node2", res={"msg": "No package matching 'x'\nis available"}),
    event(
        "playbook_on_stats",
        ok={"node1": 5, "node2": 4},
        changed={"node1": 1},
        failures={"node2": 1},
        dark={},
        skipped={},
        rescued={},
        ignored={},
    ),
]


def test_task_line_counts_outcomes_and_failure_is_one_line() -> None:
    out = io.StringIO()
    renderer = ProgressRenderer(out, show_diff=False)
    play(renderer, RUN)
    text = out.getvalue()
    assert "PLAY Common host setup  [all]" in text
    failed = "FAILED node2: common : Install base packages: No package matching 'x' | is available"
    assert failed in text
    assert "common : Install base packages  changed=1 failed=1" in text
    with pytest.raises(RunFailed, match="task 'common : Install base packages' failed on node2"):
        result_of(renderer, rc=2).raise_for_failure()


def test_recap_lists_every_host_with_counts() -> None:
    out = io.StringIO()
    renderer = ProgressRenderer(out, show_diff=False)
    play(renderer, RUN)
    renderer.recap(result_of(renderer, rc=2))
    rows = {
        line.split()[0]: line.split()[1:]
        for line in out.getvalue().splitlines()
        if line.startswith("node")
    }
    assert rows["node1"] == ["5", "1", "0", "0", "0"]
    assert rows["node2"] == ["4", "0", "1", "0", "0"]
    assert "FAILED in 0:01" in out.getvalue()


def test_unreachable_wins_over_failed_and_names_the_host() -> None:
    renderer = ProgressRenderer(None, show_diff=False)
    play(
        renderer,
        [
            event("playbook_on_task_start", task="Gathering Facts"),
            event("runner_on_unreachable", host="node3", res={"msg": "ssh: connect: timed out"}),
            event("runner_on_failed", host="node1", res={"msg": "boom"}),
        ],
    )
    with pytest.raises(HostUnreachable, match="host node3 unreachable: ssh: connect"):
        result_of(renderer, rc=4).raise_for_failure()


@pytest.mark.parametrize(
    "ssh_said",
    [
        # plain Ansible passes ssh's own words on
        "Failed to connect to the host via ssh:\n"
        "@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n"
        "Host key verification failed.",
        # mitogen's
        "Task failed: Host key checking is enabled, and SSH reported an unrecognized or"
        " mismatching host key.",
    ],
)
def test_a_changed_host_key_is_one_line_naming_the_host(ssh_said: str) -> None:
    renderer = ProgressRenderer(None, show_diff=False)
    play(
        renderer,
        [
            event("playbook_on_task_start", task="Gather facts", role=""),
            event("runner_on_unreachable", host="node2", res={"msg": ssh_said}),
            event("playbook_on_stats", ok={}, dark={"node2": 1}),
        ],
    )
    with pytest.raises(HostUnreachable) as raised:
        result_of(renderer, 4).raise_for_failure()
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith("host node2: its SSH host key is not in known_hosts or differs")


def test_ignored_failures_do_not_fail_the_run() -> None:
    renderer = ProgressRenderer(None, show_diff=False)
    play(
        renderer,
        [
            event("playbook_on_task_start", task="Probe"),
            event("runner_on_failed", host="node1", ignore_errors=True, res={"msg": "expected"}),
        ],
    )
    result = result_of(renderer, rc=0)
    assert result.ok
    result.raise_for_failure()


def test_changed_tasks_are_recorded_with_diffs_in_diff_mode() -> None:
    out = io.StringIO()
    renderer = ProgressRenderer(out, show_diff=True)
    play(
        renderer,
        [
            event("playbook_on_task_start", task="Template chrony.conf", role="common"),
            event(
                "runner_on_ok",
                host="node1",
                res={
                    "changed": True,
                    "diff": [
                        {
                            "before": "server a\n",
                            "after": "server b\n",
                            "before_header": "/etc/chrony/chrony.conf",
                            "after_header": "/etc/chrony/chrony.conf",
                        }
                    ],
                },
            ),
        ],
    )
    assert renderer.changed_tasks == [
        ("node1", "common : Template chrony.conf", "/etc/chrony/chrony.conf")
    ]
    assert "-server a" in out.getvalue()
    assert "+server b" in out.getvalue()


def test_a_change_without_a_diff_is_named_by_its_first_line_of_output() -> None:
    renderer = ProgressRenderer(None, show_diff=True)
    said = "would set net.ipv4.ip_forward=1 (it is 0)\n"
    play(
        renderer,
        [
            event("playbook_on_task_start", task="Set the kernel parameters", role="common"),
            event("runner_on_ok", host="node2", res={"changed": True, "stdout": said}),
        ],
    )
    assert renderer.changed_tasks == [
        ("node2", "common : Set the kernel parameters", said.strip()),
    ]


def test_a_changed_loop_is_named_by_the_files_of_its_changed_items() -> None:
    renderer = ProgressRenderer(None, show_diff=True)

    def item(path: str, changed: bool) -> dict[str, Any]:
        diff = {"before_header": path, "after_header": "hosts.toml.j2", "before": "", "after": "x"}
        return {"changed": changed, "diff": [diff] if changed else []}

    res = {
        "changed": True,
        "msg": "All items completed",
        "results": [item("/etc/containerd/certs.d/a/hosts.toml", True), item("/b", False)],
    }
    play(
        renderer,
        [
            event("playbook_on_task_start", task="Write hosts.toml", role="containerd"),
            event("runner_on_ok", host="node1", res=res),
        ],
    )
    assert renderer.changed_tasks == [
        ("node1", "containerd : Write hosts.toml", "/etc/containerd/certs.d/a/hosts.toml"),
    ]


def test_render_diff_handles_prepared_and_structured_values() -> None:
    assert _render_diff({"prepared": "line1\nline2"}) == ["line1", "line2"]
    lines = _render_diff({"before": {"state": "stopped"}, "after": {"state": "started"}})
    assert '-  "state": "stopped"' in lines
    assert '+  "state": "started"' in lines


def test_failed_run_without_events_reports_ansible_error(tmp_path: Path) -> None:
    stdout = tmp_path / "artifacts" / "r1" / "stdout"
    stdout.parent.mkdir(parents=True)
    stdout.write_text("[WARNING]: x\n[ERROR]: the playbook: site.yml could not be found\n")
    result = RunResult("r1", tmp_path, 1, "failed", {}, [], [], 0.1)
    with pytest.raises(RunFailed, match=r"^the playbook: site.yml could not be found$"):
        result.raise_for_failure()


TIMED = [
    event("playbook_on_play_start", play="Kubernetes control plane", play_pattern="all"),
    event("playbook_on_task_start", task="Initialise the control plane", role="kcp"),
    event("runner_on_start", host="node1"),
    event("runner_on_ok", host="node1", duration=18.25, res={"changed": True}),
    event("playbook_on_task_start", task="Write a file", role="kcp"),
    event("runner_on_ok", host="node1", duration=0.5, res={}),
    event("runner_on_skipped", host="node2", duration=0.01, res={}),
    event("playbook_on_stats", ok={"node1": 2}, changed={"node1": 1}, skipped={"node2": 1}),
]


def play_timed(renderer: ProgressRenderer, monkeypatch: pytest.MonkeyPatch) -> None:
    """TIMED on a clock that advances by each result's duration (the machine's own clock made
    the wall times of these instant events noise: a loaded machine once put the second first)."""
    clock = [1000.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: clock[0])
    for e in TIMED:
        clock[0] += float(e.get("event_data", {}).get("duration") or 0.0)
        renderer.handle(e)


def test_every_task_is_timed_per_host_and_the_record_keeps_the_slowest(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    renderer = ProgressRenderer(None, show_diff=False)
    play_timed(renderer, monkeypatch)
    assert [(t.task, t.hosts) for t in renderer.timings] == [
        ("kcp : Initialise the control plane", {"node1": 18.25}),
        ("kcp : Write a file", {"node1": 0.5, "node2": 0.01}),
    ]
    assert renderer.timings[1].outcomes == {"node1": "ok", "node2": "skipped"}
    summary = runs.summarize(renderer.timings)
    assert summary["task_count"] == 2
    assert summary["task_results_per_host"] == {"node1": 2, "node2": 1}
    assert summary["slowest_tasks"][0]["host_seconds"] == {"node1": 18.25}


def test_runs_show_prints_work_per_host_and_the_slowest_task_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KEELSON_STATE", str(tmp_path))
    renderer = ProgressRenderer(None, show_diff=False)
    play(renderer, TIMED)
    play_name = "Kubernetes control plane"
    timings = [
        runs.Timing(play_name, "kcp : Write a file", 0.6, {"node1": 0.5, "node2": 0.01},
                    {"node1": "ok", "node2": "skipped"}),
        runs.Timing(play_name, "kcp : Initialise the control plane", 18.3, {"node1": 18.25},
                    {"node1": "changed"}),
    ]  # fmt: skip
    for run_id, playbook in (("20261201T000000Z-deploy-aaaa", "site.yml"),
                             ("20261201T010000Z-scale-bbbb", "scale.yml")):  # fmt: skip
        run_dir = tmp_path / "runs" / run_id
        run_dir.mkdir(parents=True)
        fields = {"run_id": run_id, "playbook": playbook, "inventory": "inv", "limit": None}
        fields |= {"tags": None, "check": False, "diff": False, "rc": 0}
        fields |= {"status": "successful", "elapsed_seconds": 20.0, "stats": renderer.stats}
        runs.write(run_dir, {**fields, "failures": []}, timings)

    assert cli.main(["runs", "show", "deploy-aaaa"]) == 0
    shown = capsys.readouterr().out
    lines = shown.splitlines()
    assert lines[0] == "run 20261201T000000Z-deploy-aaaa: site.yml"
    assert [line.split()[:3] for line in lines if line.startswith("node")] == [
        ["node1", "2", "1"],
        ["node2", "1", "0"],
    ]
    slowest = [line for line in lines if line.strip().endswith("(Kubernetes control plane)")]
    assert "18.3s  node1 18.2s" in slowest[0] and "Initialise" in slowest[0]
    assert "Write a file" in slowest[1]

    assert cli.main(["runs", "show"]) == 0  # the newest run
    assert capsys.readouterr().out.startswith("run 20261201T010000Z-scale-bbbb")
    assert cli.main(["runs", "list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in listed[1:]] == [
        "20261201T010000Z-scale-bbbb",
        "20261201T000000Z-deploy-aaaa",
    ]
    assert cli.main(["runs", "show", "20261201"]) == 2  # ambiguous: names both
    assert "2 runs match 20261201" in capsys.readouterr().err


def test_a_loop_that_lost_its_host_names_the_first_item_s_reason() -> None:
    renderer = ProgressRenderer(None, show_diff=False)
    items = [
        {"item": "/opt/keelson", "changed": False},
        {"item": "/var/cache", "unreachable": True, "msg": "Task failed: Connection timed out."},
    ]
    play(
        renderer,
        [
            event("playbook_on_task_start", task="Create the directories", role="bundle"),
            event(
                "runner_on_unreachable",
                host="node3",
                res={"msg": "All items completed", "results": items},
            ),
        ],
    )
    renderer.stats = {"dark": {"node3": 1}}
    with pytest.raises(HostUnreachable, match="host node3 unreachable: Task failed: Connection"):
        result_of(renderer, rc=4).raise_for_failure()


def test_a_real_run_checks_host_keys_and_records_no_secret_of_the_operator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ansible-runner, really run (validate-inventory.yml contacts no host): it would turn host
    key checking off and write the whole environment into artifacts/<id>/command."""
    monkeypatch.setenv("KEELSON_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t-of-the-operator")
    monkeypatch.setenv("ANSIBLE_BECOME_PASSWORD_FILE", "/home/op/become-password")
    monkeypatch.setenv("SOME_CLOUD_CONFIG", "region-and-account")
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all:\n  hosts:\n    node1:\n      ansible_host: 192.0.2.1\n")
    result = run_playbook("validate-inventory.yml", inventory, kind="validate", quiet=True)
    recorded = json.loads((result.run_dir / "artifacts" / result.run_id / "command").read_text())
    env = recorded["env"]
    assert env["ANSIBLE_HOST_KEY_CHECKING"] == "True"
    assert "PATH" in env and "ANSIBLE_CONFIG" in env
    for leaked in ("AWS_SECRET_ACCESS_KEY", "ANSIBLE_BECOME_PASSWORD_FILE", "SOME_CLOUD_CONFIG"):
        assert leaked not in env
    texts = [p.read_text(errors="replace") for p in result.run_dir.rglob("*") if p.is_file()]
    assert not [t for t in texts if "s3cr3t-of-the-operator" in t]


def test_a_removed_file_is_named_by_its_path() -> None:
    """The file module's diff of a state change (a drop-in that must go) has no header."""
    renderer = ProgressRenderer(None, show_diff=True)
    path = "/etc/systemd/system/kubelet.service.d/20-anonymous.conf"
    gone = {
        "changed": True,
        "diff": {
            "before": {"path": path, "state": "file"},
            "after": {"path": path, "state": "absent"},
        },
    }
    res = {"changed": True, "msg": "All items completed", "results": [gone]}
    play(
        renderer,
        [
            event("playbook_on_task_start", task="Remove kubelet drop-ins", role="kube_node"),
            event("runner_on_ok", host="node2", res=res),
        ],
    )
    assert renderer.changed_tasks == [("node2", "kube_node : Remove kubelet drop-ins", path)]
