"""Wall times of a Kubernetes cluster from an empty lab to every node Ready, and of the re-run,
printed as a table (never asserted).

    .venv/bin/python tests/bench/kubernetes.py [--layouts 1+2,3+2] [--keep]

The bundle and the images are built first (cached; not timed). For each layout C+W (control
planes + workers) its own lab (`benchk8s`, 172.31.244.0/24) is created empty, the images pushed
to its registry, then `keelson deploy` runs (it ends when every node is Ready and CoreDNS runs)
and runs again (the re-run, which must change nothing). The lab is removed unless --keep.
"""

import argparse
import json
import re
from pathlib import Path

from benchlib import ROOT, keelson

from keelson.bundle import spec as bundle_spec

LAB = "benchk8s"
SUBNET = "172.31.244.0/24"
BUNDLE = "etcd,containerd,runc,crictl,cni-plugins,kubernetes,flannel,coredns"


def changed(output: str) -> int:
    run_dir = re.findall(r"artifacts: (\S+)", output)[-1]
    stats = json.loads((Path(run_dir) / "run.json").read_text())["stats"]
    return sum(stats["changed"].values())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--layouts", default="1+2,3+2", help="control planes + workers, ...")
    parser.add_argument("--keep", action="store_true", help="keep the last lab")
    args = parser.parse_args()
    kubernetes = bundle_spec.load(ROOT / "versions.yml").kubernetes().version
    keelson("bundle", "build", "--only", BUNDLE, "--kubernetes", kubernetes)
    keelson("images", "build")
    inv = str(ROOT / "inventories" / LAB)
    header = ("LAB UP", "PUSH", "DEPLOY", "CHANGED", "RE-RUN", "CHANGED")
    print(f"{'LAYOUT':<8}" + "".join(f"{h:>9}" for h in header))
    layouts = args.layouts.split(",")
    for index, layout in enumerate(layouts):
        control_planes, workers = (int(n) for n in layout.split("+"))
        nodes = str(control_planes + workers)
        keelson("lab", "down", "--name", LAB)
        up, _ = keelson(
            "lab", "up", "--name", LAB, "--nodes", nodes,
            "--control-planes", str(control_planes), "--subnet", SUBNET,
        )  # fmt: skip
        push, _ = keelson("images", "push", "--lab", LAB)
        deploy, out = keelson("deploy", "-i", inv)
        rerun, again = keelson("deploy", "-i", inv)
        print(
            f"{layout:<8}{up:8.1f}s{push:8.1f}s{deploy:8.1f}s{changed(out):9d}"
            f"{rerun:8.1f}s{changed(again):9d}",
            flush=True,
        )
        if not (args.keep and index == len(layouts) - 1):
            keelson("lab", "down", "--name", LAB)


if __name__ == "__main__":
    main()
