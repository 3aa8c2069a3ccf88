"""keelson upgrade on the controller: the request's checks, the plan as printed, and the prober
(its polling loop run on this machine against a local HTTP server that stops answering)."""

import http.server
import json
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from keelson import prober, upgrade
from keelson.errors import UsageError


def test_a_malformed_request_is_refused_before_anything_runs() -> None:
    with pytest.raises(UsageError, match=r'"1\.37" is not a Kubernetes release such as v1\.37\.2'):
        upgrade.check_request("1.37", "1", 300)
    with pytest.raises(UsageError, match='--batch "0" is neither'):
        upgrade.check_request("v1.37.2", "0", 300)
    with pytest.raises(UsageError, match='--batch "150%" is neither'):
        upgrade.check_request("v1.37.2", "150%", 300)
    with pytest.raises(UsageError, match="--drain-timeout 0 must be a positive number"):
        upgrade.check_request("v1.37.2", "1", 0)
    upgrade.check_request("v1.37.2", "25%", 60)


PLAN = {
    "current": "v1.36.3",
    "target": "v1.37.2",
    "etcd_target": "v3.6.16",
    "nodes": [
        {
            "node": "cp1",
            "role": "control plane",
            "kubelet": "v1.37.2",
            "control_plane": "v1.37.2",
            "etcd": "v3.6.16",
            "containerd": "v2.2.9",
            "drain": [],
        },
        {
            "node": "w1",
            "role": "worker",
            "kubelet": "v1.36.3",
            "control_plane": "",
            "etcd": "",
            "containerd": "v2.2.9",
            "drain": ["shop/web-1"],
        },
    ],
    "steps": [{"step": "workers", "nodes": ["w1"], "how": "drain, kubelet and kubeadm"}],
    "addons": [{"addon": "kube-proxy", "current": "v1.36.3", "target": "v1.37.2"}],
    "warnings": ["flowschemas... is removed in 1.37"],
    "problems": ["w1 is not Ready"],
}


def test_the_plan_shows_each_node_the_order_and_the_refusals() -> None:
    text = upgrade.render(PLAN)
    lines = text.splitlines()
    assert lines[0] == "upgrade v1.36.3 -> v1.37.2"
    assert lines[1].split() == [
        "NODE",
        "ROLE",
        "KUBELET",
        "CONTROL",
        "PLANE",
        "ETCD",
        "CONTAINERD",
        "DRAIN",
        "EVICTS",
    ]
    assert lines[2].split() == [
        "cp1",
        "control",
        "plane",
        "v1.37.2",
        "v1.37.2",
        "v3.6.16",
        "v2.2.9",
        "-",
    ]
    assert lines[3].split() == [
        "w1",
        "worker",
        "v1.36.3",
        "->",
        "v1.37.2",
        "-",
        "-",
        "v2.2.9",
        "shop/web-1",
    ]
    assert "  1. workers: w1 (drain, kubelet and kubeadm)" in lines
    assert "add-ons: kube-proxy v1.36.3 -> v1.37.2" in lines
    assert lines[-2:] == ["warning: flowschemas... is removed in 1.37", "refused: w1 is not Ready"]


class _Flaky(http.server.BaseHTTPRequestHandler):
    down = False

    def do_GET(self) -> None:
        self.send_response(503 if _Flaky.down else 200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    _Flaky.down = False
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


def wait_for_samples(polling: prober.Prober, count: int, ok: bool) -> None:
    """Until POLLING has COUNT more samples answering OK (a loaded machine starts the loop late:
    counting samples, not sleeping, keeps the test exact)."""
    wanted = sum(1 for s in polling.samples if s[2] == ok) + count
    deadline = time.monotonic() + 60
    while sum(1 for s in polling.samples if s[2] == ok) < wanted:
        assert time.monotonic() < deadline, polling.samples[-5:]
        time.sleep(0.02)


def test_the_prober_counts_failed_requests_and_the_seconds_they_span(server: str) -> None:
    # The loop the controller starts on a node over ssh, started here with `env` instead.
    polling = prober.Prober(["env"], {"svc": server}, interval=0.05)
    polling.start()
    wait_for_samples(polling, 10, ok=True)
    _Flaky.down = True
    wait_for_samples(polling, 3, ok=False)
    _Flaky.down = False
    wait_for_samples(polling, 10, ok=True)
    found = polling.stop()["svc"]
    assert found["requests"] >= 23
    assert 3 <= found["failures"] <= found["requests"] - 20
    [window] = found["windows"]
    # From the first failed request to the next answered one, as the loop timed them; at least
    # the span of the three failures.
    samples = sorted(polling.samples)
    failed = next(s for s in samples if not s[2])
    answered = next(s for s in samples if s[2] and s[0] > failed[0])
    assert window[:2] == [failed[0], round(answered[0] - failed[0], 3)], (window, samples)
    assert window[1] >= 0.1 and "503" in window[2]
    assert found["disruption_seconds"] == window[1]


# A remote that outlives its client, as `docker exec` does: the loop runs in a grandchild that
# a terminated client would leave behind.
_DETACHED = ["python3", "-c", "import subprocess, sys; subprocess.Popen(sys.argv[1:]).wait()"]


def test_the_probers_loop_ends_on_the_node_when_it_is_stopped(server: str) -> None:
    marker = f"{server}{uuid.uuid4().hex}"
    polling = prober.Prober(_DETACHED, {"svc": marker}, interval=0.05)
    polling.start()
    wait_for_samples(polling, 3, ok=True)
    assert polling.stop()["svc"]["requests"] >= 3
    deadline = time.monotonic() + 5
    while subprocess.run(["pgrep", "-f", marker], capture_output=True).returncode == 0:
        assert time.monotonic() < deadline, "the loop still runs after stop()"
        time.sleep(0.1)


def test_disruption_runs_from_a_failure_to_the_next_answer() -> None:
    samples = [(0.0, "a", True, ""), (0.1, "a", False, "refused"), (0.2, "a", False, "x")]
    samples += [(0.3, "a", True, ""), (0.4, "a", False, "timeout"), (0.0, "b", True, "")]
    found = prober.summarize(samples, 0.1)
    assert found["a"]["failures"] == 3
    assert found["a"]["windows"] == [[0.1, 0.2, "refused"], [0.4, 0.1, "timeout"]]
    assert found["a"]["disruption_seconds"] == 0.3
    assert found["b"] == {
        "requests": 1,
        "failures": 0,
        "disruption_seconds": 0.0,
        "windows": [],
        "first": 0.0,
        "last": 0.0,
    }
    assert prober.render({"b": found["b"]}) == "b: 1 requests, 0 failed, 0.0 s of disruption"


def _event(directory: Path, counter: int, second: float, event: str, **data: str) -> None:
    created = datetime.fromtimestamp(1_800_000_000 + second, UTC).isoformat()
    body = {"event": event, "counter": counter, "created": created, "event_data": data}
    (directory / f"{counter}-x.json").write_text(json.dumps(body))


def test_each_batch_of_upgraded_nodes_gets_its_wall_time_and_the_requests_failed_meanwhile(
    tmp_path: Path,
) -> None:
    events = tmp_path / "artifacts" / "run" / "job_events"
    events.mkdir(parents=True)
    plays = upgrade.STEP_PLAYS
    script = [
        (0, "playbook_on_play_start", {"play": "Back up etcd"}),
        (1, "runner_on_ok", {"host": "cp1", "task": "Take a snapshot"}),
        (10, "playbook_on_play_start", {"play": plays[0]}),
        (11, "runner_on_ok", {"host": "cp1", "task": "Gathering Facts"}),
        (12, "runner_on_ok", {"host": "cp1", "task": "Upgrade the control plane, then the node"}),
        (70, "playbook_on_play_start", {"play": plays[0]}),
        (
            71,
            "runner_on_skipped",
            {"host": "cp2", "task": "Upgrade the control plane, then the node"},
        ),
        (72, "playbook_on_play_start", {"play": plays[1]}),
        (73, "runner_on_ok", {"host": "w1", "task": "Upgrade the node"}),
        (100, "playbook_on_stats", {}),
    ]
    for counter, (second, event, data) in enumerate(script):
        _event(events, counter, second, event, **data)
    base = 1_800_000_000
    samples = [(base + 20.0, "api", False, "refused"), (base + 20.1, "api", True, "")]
    samples += [(base + 80.0, "svc", True, ""), (base + 5.0, "svc", False, "before")]
    assert upgrade.node_steps(tmp_path, samples) == [
        {"nodes": ["cp1"], "seconds": 60.0, "failed_requests": {"api": 1}},
        {"nodes": ["w1"], "seconds": 28.0, "failed_requests": {"svc": 0}},
    ]
