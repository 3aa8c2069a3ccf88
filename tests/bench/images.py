"""Wall times of the image pipeline, printed as a table (never asserted).

    .venv/bin/python tests/bench/images.py [--bundle DIR] [--warm-cache]

Builds a copy of images/ (the repository is not touched): a cold build (`--no-cache`: no
Docker layer is reused; only the debootstrap root filesystem is), a warm run that must build
nothing, then one runtime touched. Pushes go to a throwaway registry container made from
images/service/registry, published on 127.0.0.1. Cluster images are built only when the bundle
(default: the `keelson bundle build` cache) holds their binaries.
"""

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from keelson import images

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = "keelson-imgbench-registry"


def keelson(*args: str) -> tuple[float, str]:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "keelson", *args], cwd=ROOT, capture_output=True, text=True
    )
    elapsed = time.monotonic() - started
    if proc.returncode != 0:
        sys.exit(f"keelson {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return elapsed, proc.stdout


def summary(out: str) -> str:
    found = re.findall(r"^images: (.*?) in [\d.]+s$", out, flags=re.M)
    return re.sub(r" 127\.0\.0\.1:\d+", "", found[-1]) if found else ""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bundle", help="bundle root (default: the keelson bundle cache)")
    parser.add_argument(
        "--warm-cache", action="store_true", help="let the first build use Docker's layer cache"
    )
    args = parser.parse_args()
    bundle = ["--bundle", args.bundle] if args.bundle else []
    keelson("images", "build", "service/registry")
    tag = images.plan(images.load_tree(), ["service/registry"])[-1].tag
    subprocess.run(["docker", "rm", "-f", REGISTRY], capture_output=True, check=False)
    subprocess.run(
        ["docker", "run", "-d", "--name", REGISTRY, "-p", "127.0.0.1::5000", tag],
        capture_output=True,
        check=True,
    )
    endpoint = subprocess.run(
        ["docker", "port", REGISTRY, "5000/tcp"], capture_output=True, text=True, check=True
    ).stdout.split()[0]
    time.sleep(1)
    rows: list[tuple[str, float, str]] = []
    try:
        with tempfile.TemporaryDirectory(prefix="keelson-bench-") as tmp:
            tree = Path(tmp) / "images"
            shutil.copytree(ROOT / "images", tree)
            common = ["--images-dir", str(tree), *bundle]
            push = ["images", "push", *common, "--registry", endpoint]
            cold = [] if args.warm_cache else ["--no-cache"]
            for label, cmd in (
                ("build, cold" + (" (layer cache)" if args.warm_cache else ""), cold),
                ("build again (no change)", []),
            ):
                elapsed, out = keelson("images", "build", *common, *cmd)
                rows.append((label, elapsed, summary(out)))
            for label in ("push to an empty registry", "push again"):
                elapsed, out = keelson(*push)
                rows.append((label, elapsed, summary(out)))
            (tree / "runtime" / "python" / "BENCH").write_text(f"{time.time()}\n")
            elapsed, out = keelson("images", "build", *common)
            rows.append(("build, runtime/python touched", elapsed, summary(out)))
            elapsed, out = keelson(*push)
            rows.append(("push, runtime/python touched", elapsed, summary(out)))
            elapsed, out = keelson("images", "verify", *common, "--registry", endpoint)
            rows.append(("verify (HTTP API)", elapsed, out.strip().splitlines()[-1]))
            elapsed, _ = keelson("images", "graph", *common)
            rows.append(("graph", elapsed, ""))
    finally:
        subprocess.run(["docker", "rm", "-f", REGISTRY], capture_output=True, check=False)
    print(f"\n{'step':<34}{'seconds':>8}  result")
    for label, elapsed, result in rows:
        print(f"{label:<34}{elapsed:8.1f}  {result}")


if __name__ == "__main__":
    main()
