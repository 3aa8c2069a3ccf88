"""etcd backup and restore with 100,000 keys of 1 KiB: backup time, compressed size and restore
time (RTO), printed (never asserted).

    .venv/bin/python tests/bench/etcd_backup.py [--keys 100000] [--keep]

Builds what the main job installs into the bundle if needed, brings up its own lab
(`benchetcd`, 172.31.245.0/24, 3 control planes running etcd and a backup store), deploys,
loads the keys, then times `keelson etcd backup` and `keelson etcd restore --yes` and removes
the lab (unless --keep).
"""

import argparse
import json
import re
import subprocess
import time

from benchlib import BUNDLE, ROOT, keelson

from keelson.bundle import spec as bundle_spec

LAB = "benchetcd"
SUBNET = "172.31.245.0/24"
# What the main job installs from the bundle (as `make lab` builds it).

# Puts COUNT keys of 1 KiB through etcd's JSON gateway (TLS, admin certificate), 4 connections.
LOAD = """
import base64, http.client, json, os, ssl, sys, threading
count = int(sys.argv[1])
ctx = ssl.create_default_context(cafile="/etc/etcd/pki/ca.crt")
ctx.load_cert_chain("/etc/etcd/pki/admin.crt", "/etc/etcd/pki/admin.key")
def worker(start, step):
    conn = http.client.HTTPSConnection("127.0.0.1", 2379, context=ctx)
    for i in range(start, count, step):
        body = {"key": base64.b64encode(f"/bench/{i:07d}".encode()).decode(),
                "value": base64.b64encode(os.urandom(1024)).decode()}  # 1 KiB stored
        conn.request("POST", "/v3/kv/put", json.dumps(body), {"Content-Type": "application/json"})
        reply = conn.getresponse(); reply.read()
        assert reply.status == 200
threads = [threading.Thread(target=worker, args=(n, 4)) for n in range(4)]
[t.start() for t in threads]; [t.join() for t in threads]
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--keep", action="store_true", help="keep the lab afterwards")
    args = parser.parse_args()
    inv = str(ROOT / "inventories" / LAB)
    kubernetes = bundle_spec.load(ROOT / "versions.yml").kubernetes().version
    keelson("bundle", "build", "--only", BUNDLE, "--kubernetes", kubernetes)
    keelson("lab", "down", "--name", LAB)
    try:
        # etcd runs on control-plane hosts: three of them for three members, node4 the store.
        keelson(
            "lab", "up", "--name", LAB, "--nodes", "4", "--control-planes", "3", "--subnet", SUBNET
        )
        keelson("images", "push", "--lab", LAB)
        keelson("deploy", "-i", inv)
        started = time.monotonic()
        subprocess.run(
            ["docker", "exec", "-i", f"keelson-{LAB}-node1", "python3", "-", str(args.keys)],
            input=LOAD,
            text=True,
            check=True,
        )
        load = time.monotonic() - started
        backup, out = keelson("etcd", "backup", "-i", inv)
        name = re.findall(r"^backup (etcd-\S+):", out, re.MULTILINE)[-1]
        meta = json.loads(
            subprocess.run(
                [
                    "docker",
                    "exec",
                    f"keelson-{LAB}-node4",
                    "sh",
                    "-c",
                    f"cat /srv/etcd-backups/*/{name}.json",
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        restore, _ = keelson("etcd", "restore", "-i", inv, "--snapshot", name, "--yes")
        print(f"{'keys (1 KiB values)':<40}{meta['total_keys']:>12}")
        print(f"{'load through the gateway':<40}{load:>10.1f} s")
        print(f"{'database size (snapshot)':<40}{meta['total_size'] / 2**20:>10.1f} MiB")
        print(f"{'compressed backup':<40}{meta['size'] / 2**20:>10.1f} MiB")
        print(f"{'keelson etcd backup (wall)':<40}{backup:>10.1f} s")
        print(f"{'keelson etcd restore --yes (wall, RTO)':<40}{restore:>10.1f} s")
    finally:
        if not args.keep:
            keelson("lab", "down", "--name", LAB)


if __name__ == "__main__":
    main()
