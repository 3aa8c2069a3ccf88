"""What the benchmark scripts share: run `keelson` from the project and time it."""

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# What the benches deploy from the bundle (the Makefile's LAB_BUNDLE).
BUNDLE = "etcd,containerd,runc,crictl,cni-plugins,kubernetes,flannel,coredns,node_exporter"


def keelson(*args: str) -> tuple[float, str]:
    """Seconds `keelson ARGS` took and its output; exits the benchmark if it failed."""
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "keelson", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env=dict(os.environ, KEELSON_ROOT=str(ROOT)),
    )
    if proc.returncode != 0:
        sys.exit(f"keelson {' '.join(args)} failed: {proc.stderr.strip() or proc.stdout[-2000:]}")
    return time.monotonic() - started, proc.stdout
