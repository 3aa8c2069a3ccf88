"""Wall times of the foundation's main job, printed as a table (never asserted).

    .venv/bin/python tests/bench/foundation.py [--cold] [--nodes 3]

--cold removes the lab images first, so `lab up` includes debootstrap and the image build.
Uses its own lab (`bench`, 172.31.253.0/24) and removes it at the end.
"""

import argparse
import subprocess
import sys

from benchlib import ROOT, keelson

LAB = "bench"


def timed(label: str, *args: str, results: list[tuple[str, float]]) -> None:
    elapsed, _ = keelson(*args)
    results.append((label, elapsed))
    print(f"{label:<34}{elapsed:8.1f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cold", action="store_true", help="rebuild the lab images first")
    parser.add_argument("--nodes", type=int, default=3)
    args = parser.parse_args()
    if args.cold:
        # Untag (not delete by id): test images built FROM the host image keep its layers alive.
        for repo in ("keelson/lab-host", "keelson/rootfs"):
            refs = subprocess.run(
                ["docker", "images", "--format", "{{.Repository}}:{{.Tag}}", repo],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()
            if refs:
                subprocess.run(["docker", "rmi", *refs], capture_output=True, check=True)
    inv = str(ROOT / "inventories" / LAB)
    lab = ["--name", LAB]
    up = ["lab", "up", *lab, "--nodes", str(args.nodes), "--subnet", "172.31.253.0/24"]
    results: list[tuple[str, float]] = []
    try:
        timed("lab up (cold)" if args.cold else "lab up (images cached)", *up, results=results)
        timed("lab up again (warm)", *up, results=results)
        timed("main job, first run", "deploy", "-i", inv, results=results)
        timed("main job, second run", "deploy", "-i", inv, results=results)
        timed(
            "drift report (--check --diff)",
            "deploy",
            "-i",
            inv,
            "--check",
            "--diff",
            results=results,
        )
    finally:
        subprocess.run(
            [sys.executable, "-m", "keelson", "lab", "down", *lab],
            cwd=ROOT,
            capture_output=True,
            check=False,
        )


if __name__ == "__main__":
    main()
