"""Wall times of `keelson bundle build` per component, printed as a table (never asserted).

    .venv/bin/python tests/bench/bundle.py [--only etcd,crictl] [--kubernetes]

For each component, in a scratch KEELSON_CACHE and bundle root:
  cold     an empty Go build cache (GOCACHE), a new generated module: everything compiles
           (Go module downloads are NOT redone: GOMODCACHE is shared, as on a second checkout)
  rebuild  a new bundle root with the Go build cache now warm (e.g. a changed ldflag)
  cached   `bundle build` again on the same root: no work
Kubernetes is left out unless --kubernetes is given (about half an hour per version on 2 cores).
Run it under `nice -n 19` on a shared machine.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))

from keelson.bundle import spec  # noqa: E402


def timed(args: list[str], env: dict[str, str]) -> float:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "keelson", "bundle", "build", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        sys.exit(f"bundle build {' '.join(args)} failed: {proc.stderr.strip()}")
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="components (default: all but kubernetes)")
    parser.add_argument("--kubernetes", action="store_true", help="include Kubernetes")
    args = parser.parse_args()
    versions = spec.load(ROOT / "versions.yml")
    wanted = args.only.split(",") if args.only else versions.components
    builds = [
        b
        for b in versions.builds
        if b.component in wanted and (args.kubernetes or b.component != "kubernetes")
    ]
    rows = []
    with tempfile.TemporaryDirectory(prefix="keelson-bench-", dir="/var/tmp") as tmp:
        scratch = Path(tmp)
        env = dict(
            os.environ,
            KEELSON_CACHE=str(scratch / "cache"),
            GOCACHE=str(scratch / "gocache"),
            KEELSON_ROOT=str(ROOT),
        )
        for build in builds:
            select = ["--only", build.component]
            if build.component == "kubernetes":
                select += ["--kubernetes", build.version]
            cold_root = scratch / f"cold-{build.component}-{build.version}"
            cold = timed([*select, "--root", str(cold_root)], env)
            rebuild = timed([*select, "--root", str(scratch / f"warm-{build.component}")], env)
            cached = timed([*select, "--root", str(cold_root)], env)
            size = sum(p.stat().st_size for p in cold_root.rglob("*") if p.is_file())
            rows.append((build.component, build.version, cold, rebuild, cached, size))
            print(f"{build.name}: cold {cold:.0f}s", file=sys.stderr, flush=True)
    print(f"{'COMPONENT':<13}{'VERSION':<10}{'COLD':>8}{'REBUILD':>9}{'CACHED':>8}{'SIZE':>11}")
    for component, version, cold, rebuild, cached, size in rows:
        print(
            f"{component:<13}{version:<10}{cold:>7.0f}s{rebuild:>8.0f}s{cached:>7.1f}s"
            f"{size / 2**20:>7.1f} MiB"
        )


if __name__ == "__main__":
    main()
