"""The upgrade runbook on a 3 control planes + 2 workers lab, from the release clusters are
deployed with to the last one pinned: wall time per node step and in total, and the prober's
figures (requests, failures, seconds of disruption) for the API through a worker's node-local
endpoint and for a Service of 3 replicas with a budget of minAvailable 2. Printed, never asserted.

    .venv/bin/python tests/bench/upgrade.py [--keep]

Builds every pinned Kubernetes release into the bundle if needed, brings up its own lab
(`benchupgrade`, 172.31.243.0/24), deploys, runs `keelson upgrade --yes --probe default/web`
and removes the lab (unless --keep).
"""

import argparse
import json
import subprocess

import yaml
from benchlib import BUNDLE, ROOT, keelson

from keelson.bundle import spec as bundle_spec

LAB = "benchupgrade"
SUBNET = "172.31.243.0/24"
KUBECTL = ["kubectl", "--kubeconfig", "/etc/kubernetes/admin.conf"]
WEB = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      topologySpreadConstraints:
        - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: ScheduleAnyway,
           labelSelector: {matchLabels: {app: web}}}
      containers:
        - name: web
          image: IMAGE
          ports: [{containerPort: 8080}]
          readinessProbe: {httpGet: {path: /healthz, port: 8080}, periodSeconds: 1}
          lifecycle: {preStop: {sleep: {seconds: 5}}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web}
spec: {minAvailable: 2, selector: {matchLabels: {app: web}}}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}
"""


def kubectl(*args: str, stdin: str | None = None) -> str:
    return subprocess.run(
        ["docker", "exec", "-i", f"keelson-{LAB}-node1", *KUBECTL, *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keep", action="store_true", help="keep the lab afterwards")
    args = parser.parse_args()
    inv = ROOT / "inventories" / LAB
    versions = [b.version for b in bundle_spec.load().builds if b.component == "kubernetes"]
    keelson("bundle", "build", "--only", BUNDLE)
    keelson("lab", "down", "--name", LAB)
    try:
        keelson(
            "lab", "up", "--name", LAB, "--nodes", "5", "--control-planes", "3", "--subnet", SUBNET
        )
        keelson("images", "push", "--lab", LAB)
        deploy, _ = keelson("deploy", "-i", str(inv))
        all_yml = inv / "group_vars" / "all.yml"
        registry = yaml.safe_load(all_yml.read_text())["kube_image_repository"].rsplit("/", 1)[0]
        kubectl("apply", "-f", "-", stdin=WEB.replace("IMAGE", f"{registry}/service/hello:0.1.0"))
        kubectl("rollout", "status", "deployment/web", "--timeout=300s")
        all_yml.write_text(
            all_yml.read_text().replace(
                f"kube_version: {versions[0]}", f"kube_version: {versions[-1]}"
            )
        )
        plan, _ = keelson("upgrade", "-i", str(inv), "--to", versions[-1], "--plan")
        total, out = keelson(
            "upgrade", "-i", str(inv), "--to", versions[-1], "--yes", "--probe", "default/web"
        )
        run_dir = [line.split()[-1] for line in out.splitlines() if "artifacts: " in line][-1]
        record = json.loads((ROOT / run_dir / "run.json").read_text())["upgrade"]
        print(f"upgrade {versions[0]} -> {versions[-1]}, 3 control planes + 2 workers")
        print(f"{'keelson deploy (first, wall)':<44}{deploy:>10.1f} s")
        print(f"{'keelson upgrade --plan (wall)':<44}{plan:>10.1f} s")
        for step in record["steps"]:
            failed = ", ".join(f"{k} {v}" for k, v in step["failed_requests"].items())
            label = f"step {' '.join(step['nodes'])}"
            print(f"{label:<44}{step['seconds']:>10.1f} s   failed: {failed or 'none'}")
        print(f"{'keelson upgrade (wall, total)':<44}{total:>10.1f} s")
        for backend, s in record["disruption"].items():
            print(
                f"{backend:<44}{s['requests']:>6} requests {s['failures']:>4} failed "
                f"{s['disruption_seconds']:>6.1f} s of disruption"
            )
    finally:
        if not args.keep:
            keelson("lab", "down", "--name", LAB)


if __name__ == "__main__":
    main()
