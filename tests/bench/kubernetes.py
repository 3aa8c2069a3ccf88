"""Wall times of a Kubernetes cluster from an empty lab to every node Ready, and of the
operations that follow it, printed as a table (never asserted).

    .venv/bin/python tests/bench/kubernetes.py [--layouts 1+2,3+2] [--keep]

The bundle and the images are built first (cached; not timed). For each layout C+W (control
planes + workers) its own lab (`benchk8s`, 172.31.244.0/24) is created empty, the images pushed
to its registry, then: the cold `keelson deploy` (it ends when every node is Ready and CoreDNS
runs), a no-op re-run (must change nothing), `deploy --check --diff` (must find no drift), and
the scale-out of one more worker (`keelson scale`). Each row also gives the task results per host
of the cold deploy and its floor: kubeadm init + the slowest join + the wait for Ready nodes,
read from the same run's tasks.json, with the ratio wall / floor. The strategy column says
whether mitogen ran (KEELSON_MITOGEN=0 runs plain Ansible). The lab is removed unless --keep.
"""

import argparse
import json
import re
from pathlib import Path
from typing import Any

from benchlib import BUNDLE, ROOT, keelson

from keelson.bundle import spec as bundle_spec

LAB = "benchk8s"
SUBNET = "172.31.244.0/24"
INIT = "Initialise the control plane with kubeadm"
JOIN = "Join the cluster with kubeadm"
# The wait for Ready nodes, as named before and since each host waits for its own node.
READY = ("Wait until every node is Ready", "Wait until this host's node is Ready")


def record(output: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    run_dir = Path(re.findall(r"artifacts: (\S+)", output)[-1])
    tasks_file = run_dir / "tasks.json"
    tasks = json.loads(tasks_file.read_text()) if tasks_file.is_file() else []
    return json.loads((run_dir / "run.json").read_text()), tasks


def changed(output: str) -> int:
    return sum(record(output)[0]["stats"]["changed"].values())


def floor(tasks: list[dict[str, Any]]) -> float:
    """kubeadm init + the slowest single join + the wait for every node Ready, in seconds."""

    def named(*names: str) -> list[dict[str, Any]]:
        return [t for t in tasks if t["task"].endswith(names)]

    init = sum(t["wall_seconds"] for t in named(INIT))
    joins = [s for t in named(JOIN) for s in t["host_seconds"].values()]
    ready = sum(t["wall_seconds"] for t in named(*READY))
    return init + max(joins, default=0.0) + ready


def per_host(output: str) -> str:
    counts = record(output)[0].get("task_results_per_host", {})
    return "/".join(str(n) for _, n in sorted(counts.items())) or "-"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--layouts", default="1+2,3+2", help="control planes + workers, ...")
    parser.add_argument("--keep", action="store_true", help="keep the last lab")
    args = parser.parse_args()
    kubernetes = bundle_spec.load(ROOT / "versions.yml").kubernetes().version
    keelson("bundle", "build", "--only", BUNDLE, "--kubernetes", kubernetes)
    keelson("images", "build")
    inv = str(ROOT / "inventories" / LAB)
    header = ("LAB UP", "DEPLOY", "CHANGED", "FLOOR", "W/FLOOR", "RE-RUN", "CHANGED", "CHECK")
    header += ("DRIFT", "SCALE+1")
    print(f"{'LAYOUT':<8}" + "".join(f"{h:>9}" for h in header) + "  STRATEGY       RESULTS/HOST")
    layouts = args.layouts.split(",")
    for index, layout in enumerate(layouts):
        control_planes, workers = (int(n) for n in layout.split("+"))
        nodes = control_planes + workers
        keelson("lab", "down", "--name", LAB)
        shape = ("--name", LAB, "--control-planes", str(control_planes), "--subnet", SUBNET)
        up, _ = keelson("lab", "up", "--nodes", str(nodes), *shape)
        keelson("images", "push", "--lab", LAB)
        deploy, out = keelson("deploy", "-i", inv)
        rerun, again = keelson("deploy", "-i", inv)
        check, drift = keelson("deploy", "-i", inv, "--check", "--diff")
        keelson("lab", "up", "--nodes", str(nodes + 1), *shape)
        scale, _ = keelson("scale", "-i", inv)
        cold, tasks = record(out)
        least = floor(tasks)
        ratio = f"{deploy / least:8.1f}x" if least else f"{'-':>9}"
        print(
            f"{layout:<8}{up:8.1f}s{deploy:8.1f}s{changed(out):9d}{least:8.1f}s{ratio}"
            f"{rerun:8.1f}s{changed(again):9d}{check:8.1f}s"
            f"{'none' if 'no drift' in drift else 'FOUND':>9}{scale:8.1f}s"
            f"  {cold.get('strategy', 'linear'):<15}{per_host(out)}",
            flush=True,
        )
        if not (args.keep and index == len(layouts) - 1):
            keelson("lab", "down", "--name", LAB)


if __name__ == "__main__":
    main()
