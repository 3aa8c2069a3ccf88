"""Disruption during an upgrade, measured: requests every 100 ms to the API server through a
worker's node-local endpoint and to a Service's virtual IP as that worker's kube-proxy serves
it, from a small Python loop the controller starts on the worker over SSH and reads line by
line. What comes out: per backend the requests, the failed ones and the seconds of disruption
(the spans from a failed request to the next answered one), and when they failed.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keelson import inventory as keelson_inventory

INTERVAL = 0.1

# Runs on the node: one line of JSON per request, [unix time, backend, ok, error]. It ends when
# its standard input does: the controller closes it to stop it, and a controller that dies closes
# it too (a killed `docker exec` or ssh client alone may leave the loop running on the node).
_LOOP = r"""
import json, os, ssl, sys, threading, time, urllib.request
targets, interval = json.loads(sys.argv[1]), float(sys.argv[2])
def _until_stdin_ends():
    while sys.stdin.buffer.read1(4096):
        pass
    os._exit(0)
threading.Thread(target=_until_stdin_ends, daemon=True).start()
ca = "/etc/kubernetes/pki/ca.crt"
tls = ssl.create_default_context(cafile=ca if os.path.exists(ca) else None)
tick = time.time()
while True:
    for name, url in targets.items():
        now, error = time.time(), ""
        try:
            context = tls if url.startswith("https") else None
            with urllib.request.urlopen(url, timeout=1, context=context) as answer:
                ok = answer.status == 200
        except Exception as exc:
            ok, error = False, str(exc)[:120]
        print(json.dumps([round(now, 3), name, ok, error]), flush=True)
    tick += interval
    time.sleep(max(0.0, tick - time.time()))
"""


def ssh_argv(inventory: Path, host: str) -> list[str]:
    """ssh to HOST as Ansible reaches it: its ansible_host, user, port, key and ssh arguments
    from the inventory."""
    hostvars = keelson_inventory.host_vars(inventory, host)
    argv = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10"]
    argv += shlex.split(str(hostvars.get("ansible_ssh_common_args") or ""))
    if hostvars.get("ansible_ssh_private_key_file"):
        argv += ["-i", str(Path(str(hostvars["ansible_ssh_private_key_file"])).expanduser())]
    if hostvars.get("ansible_port"):
        argv += ["-p", str(hostvars["ansible_port"])]
    user = hostvars.get("ansible_user")
    address = str(hostvars.get("ansible_host") or host)
    return [*argv, f"{user}@{address}" if user else address]


@dataclass
class Prober:
    """Polls TARGETS (backend name -> URL) every INTERVAL seconds from a node reached with
    REMOTE (an argv prefix that passes standard input on: ssh_argv, or `docker exec -i`),
    between start() and stop()."""

    remote: list[str]
    targets: dict[str, str]
    interval: float = INTERVAL
    samples: list[tuple[float, str, bool, str]] = field(default_factory=list)
    _process: subprocess.Popen[str] | None = None
    _reader: threading.Thread | None = None

    def start(self) -> None:
        command = ["python3", "-c", _LOOP, json.dumps(self.targets), str(self.interval)]
        self._process = subprocess.Popen(
            [*self.remote, shlex.join(command)]
            if self.remote[0] == "ssh"
            else [*self.remote, *command],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            try:
                when, name, ok, error = json.loads(line)
            except ValueError:
                continue
            self.samples.append((float(when), str(name), bool(ok), str(error)))

    def stop(self) -> dict[str, Any]:
        """Stop polling; the summary (summarize)."""
        if self._process is not None:
            assert self._process.stdin is not None
            self._process.stdin.close()  # the loop's end, on the node
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.terminate()
                try:
                    self._process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._process.kill()
        if self._reader is not None:
            self._reader.join(timeout=10)
        return summarize(self.samples, self.interval)


def summarize(
    samples: list[tuple[float, str, bool, str]], interval: float = INTERVAL
) -> dict[str, Any]:
    """Per backend: requests, failures, seconds of disruption (each run of failed requests
    counts from its first failure to the next answered request, or one interval at the end),
    and the failed windows ([start, seconds, first error])."""
    found: dict[str, Any] = {}
    for name in dict.fromkeys(s[1] for s in samples):
        mine = sorted(s for s in samples if s[1] == name)
        windows: list[list[Any]] = []
        start: tuple[float, str] | None = None
        for when, _, ok, error in mine:
            if not ok and start is None:
                start = (when, error)
            elif ok and start is not None:
                windows.append([start[0], round(when - start[0], 3), start[1]])
                start = None
        if start is not None:
            windows.append([start[0], round(mine[-1][0] - start[0] + interval, 3), start[1]])
        found[name] = {
            "requests": len(mine),
            "failures": sum(1 for s in mine if not s[2]),
            "disruption_seconds": round(sum(w[1] for w in windows), 3),
            "windows": windows,
            "first": mine[0][0] if mine else None,
            "last": mine[-1][0] if mine else None,
        }
    return found


def render(summary: dict[str, Any]) -> str:
    """One line per backend, as the run's end prints it."""
    lines = []
    for name, s in summary.items():
        lines.append(
            f"{name}: {s['requests']} requests, {s['failures']} failed, "
            f"{s['disruption_seconds']:.1f} s of disruption"
            + (
                " ("
                + "; ".join(
                    f"{time.strftime('%H:%M:%S', time.gmtime(w[0]))} {w[1]:.1f} s: {w[2]}"
                    for w in s["windows"][:5]
                )
                + ")"
                if s["windows"]
                else ""
            )
        )
    return "\n".join(lines)
