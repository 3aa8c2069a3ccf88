"""A lab of its own for the integration tests (name `itest`), so a developer's `lab` survives."""

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from keelson.bundle import spec as bundle_spec

ROOT = Path(__file__).resolve().parents[2]
LAB = "itest"
SUBNET = "172.31.251.0/24"
KEELSON = [sys.executable, "-m", "keelson"]
# What the main job installs from the bundle (as `make lab` builds it): one Kubernetes version,
# the first pinned (the one lab inventories deploy).
BUNDLE = "etcd,containerd,runc,crictl,cni-plugins,kubernetes,flannel,coredns"
KUBE_VERSION = bundle_spec.load(ROOT / "versions.yml").kubernetes().version


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def record(self) -> dict[str, object]:
        """run.json of the playbook run this command made (the last one it printed)."""
        found = re.findall(r"artifacts: (\S+)", self.out)
        assert found, f"no run record in output:\n{self.out}\n{self.err}"
        data: dict[str, object] = json.loads((Path(found[-1]) / "run.json").read_text())
        return data


def keelson(*args: str, env: dict[str, str] | None = None) -> Run:
    proc = subprocess.run(
        [*KEELSON, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "KEELSON_ROOT": str(ROOT), **(env or {})},
    )
    return Run(proc.returncode, proc.stdout, proc.stderr)


def docker_exec(node: str, *cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", "exec", f"keelson-{LAB}-{node}", *cmd],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture(scope="session")
def lab() -> Iterator[Path]:
    # etcd and containerd come from the bundle (cached after the first build).
    bundle = keelson("bundle", "build", "--only", BUNDLE, "--kubernetes", KUBE_VERSION)
    assert bundle.code == 0, bundle.out + bundle.err
    # Fresh hosts every session: a lab kept from an earlier run is already converged.
    keelson("lab", "down", "--name", LAB)
    up = keelson("lab", "up", "--name", LAB, "--nodes", "3", "--subnet", SUBNET)
    assert up.code == 0, up.err
    # The cluster images kubeadm pulls, into the lab's registry (as `make lab` does).
    push = keelson("images", "push", "--lab", LAB)
    assert push.code == 0, push.out[-3000:] + push.err
    yield ROOT / "inventories" / LAB
    if not os.environ.get("KEELSON_KEEP_LAB"):
        keelson("lab", "down", "--name", LAB)


# Seconds and outcome per test module (setup, call and teardown, so a module's lab build counts
# where it happens): rows of the suite's stage table when $KEELSON_STAGES names it
# (scripts/stage; `make test` prints the table).
_MODULES: dict[str, list[float]] = {}
_FAILED: set[str] = set()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    module = report.nodeid.split("::", 1)[0]
    _MODULES.setdefault(module, []).append(report.duration)
    if report.failed:
        _FAILED.add(module)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    table = os.environ.get("KEELSON_STAGES")
    if not table:
        return
    with open(table, "a") as rows:
        for module, durations in _MODULES.items():
            status = "FAILED" if module in _FAILED else "ok"
            rows.write(f"  integration {Path(module).name}\t{sum(durations):.0f}\t{status}\n")
