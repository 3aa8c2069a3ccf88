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
BUNDLE = (
    "etcd,containerd,runc,crictl,cni-plugins,kubernetes,flannel,coredns,node_exporter,"
    "prometheus,alertmanager,kube-state-metrics"
)
KUBE_VERSION = bundle_spec.load(ROOT / "versions.yml").kubernetes().version


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def run_dir(self) -> Path:
        """The directory of the playbook run this command made (the last one it printed)."""
        found = re.findall(r"artifacts: (\S+)", self.out)
        assert found, f"no run record in output:\n{self.out}\n{self.err}"
        return Path(found[-1])

    @property
    def record(self) -> dict[str, object]:
        """run.json of that run."""
        data: dict[str, object] = json.loads((self.run_dir / "run.json").read_text())
        return data

    @property
    def ansible_output(self) -> str:
        """Ansible's own output of that run (every task header, in order)."""
        outputs = list((self.run_dir / "artifacts").glob("*/stdout"))
        assert len(outputs) == 1, outputs
        return outputs[0].read_text(errors="replace")


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


def lab_up(nodes: int) -> Run:
    """`keelson lab up` of the main job's lab with NODES hosts, node1 its monitoring host
    (Prometheus and Alertmanager from the first deploy)."""
    return keelson(
        "lab", "up", "--name", LAB, "--nodes", str(nodes), "--subnet", SUBNET, "--monitoring"
    )


def build_bundle() -> None:
    """The main job's bundle, as `make lab` builds it: cached after the first build; on a fresh
    machine this waits for the suite's background build (its per-component locks)."""
    bundle = keelson("bundle", "build", "--only", BUNDLE, "--kubernetes", KUBE_VERSION)
    assert bundle.code == 0, bundle.out + bundle.err


@pytest.fixture(scope="session")
def lab() -> Iterator[Path]:
    build_bundle()
    # Fresh hosts every session: a lab kept from an earlier run is already converged.
    keelson("lab", "down", "--name", LAB)
    up = lab_up(3)
    assert up.code == 0, up.err
    # The cluster images kubeadm pulls, into the lab's registry (as `make lab` does).
    push = keelson("images", "push", "--lab", LAB)
    assert push.code == 0, push.out[-3000:] + push.err
    yield ROOT / "inventories" / LAB
    if not os.environ.get("KEELSON_KEEP_LAB"):
        keelson("lab", "down", "--name", LAB)


# The HA lab's module runs last: it needs every pinned Kubernetes release, and the suite's
# background bundle build makes the upgrade's target last (about 10 minutes on a fresh machine,
# which the other modules' labs, built from what is already there, no longer wait for).
_LAST = ("test_etcd_backup.py",)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.path.name in _LAST)


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


# Secrets must never reach a run record (output, events, artifacts): every kind a deploy handles,
# by pattern where the value is gone after the run (join tokens, certificate keys: removed once
# the joins are done) and by value where it stays (every private key on the hosts and on the
# controller, the admin kubeconfig's client key).
SECRET_PATTERNS = {
    "bootstrap token": re.compile(r"\b[a-z0-9]{6}\.[a-z0-9]{16}\b"),
    "certificate key": re.compile(r"certificate[-_ ]key\W{1,6}[0-9a-f]{64}\b", re.IGNORECASE),
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
}
# Where keelson's roles and the lab keep private keys on a host.
_KEY_FILES = (
    "find /etc/kubernetes/pki /etc/etcd /etc/keelson /var/lib/keelson /root/.ssh /etc/ssh -type f"
    " \\( -name '*.key' -o -name 'id_*' -o -name 'ssh_host_*_key' \\) ! -name '*.pub'"
    " -exec cat {} + 2>/dev/null; true"
)


def _key_bodies(text: str) -> list[str]:
    """A long line from the middle of each PEM or OpenSSH private key in TEXT."""
    bodies = []
    for block in re.findall(r"-----BEGIN [A-Z ]*PRIVATE KEY-----(.*?)-----END", text, re.S):
        lines = [line for line in block.split() if len(line) >= 40]
        if lines:
            bodies.append(lines[len(lines) // 2])
    return bodies


def lab_secrets(lab_name: str, nodes: list[str], inv: Path) -> dict[str, str]:
    """label -> a secret value of the lab: on its hosts and beside its inventory."""
    found: dict[str, str] = {}
    for node in nodes:
        keys = subprocess.run(
            ["docker", "exec", f"keelson-{lab_name}-{node}", "sh", "-c", _KEY_FILES],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        ).stdout
        for i, body in enumerate(_key_bodies(keys)):
            found[f"{node} private key {i}"] = body
    local = [p for p in inv.rglob("*") if p.is_file()]
    local += [p for p in (ROOT / ".keelson" / "lab" / lab_name).rglob("id_*") if p.is_file()]
    for path in local:
        for i, body in enumerate(_key_bodies(path.read_text(errors="replace"))):
            found[f"{path.relative_to(ROOT)} private key {i}"] = body
    admin = inv / "credentials" / "admin.conf"
    if admin.is_file():
        data = re.search(r"client-key-data: (\S+)", admin.read_text())
        if data:
            found["admin kubeconfig client key"] = data.group(1)[100:160]
    encryption = inv / "credentials" / "kubernetes" / "encryption-config.yaml"
    if encryption.is_file():
        for i, secret in enumerate(re.findall(r"secret: (\S+)", encryption.read_text())):
            found[f"Secrets encryption key {i}"] = secret
    backup = inv / "credentials" / "etcd-backup" / "backup.key"
    if backup.is_file():
        for i, line in enumerate(backup.read_text().split()):
            found[f"etcd backup key {i}"] = line
    return found


def assert_records_hold_no_secret(secrets: dict[str, str]) -> None:
    """No run record of this checkout holds any of SECRETS or anything SECRET_PATTERNS match."""
    assert len(secrets) > 3, f"too few secrets found to check: {sorted(secrets)}"
    leaks = []
    for record in (ROOT / ".keelson" / "runs").rglob("*"):
        if not record.is_file():
            continue
        text = record.read_text(errors="replace")
        leaks += [f"{record}: {k}" for k, p in SECRET_PATTERNS.items() if p.search(text)]
        leaks += [f"{record}: {k}" for k, v in secrets.items() if v in text]
    assert leaks == [], "\n".join(leaks[:20])
