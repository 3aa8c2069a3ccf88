"""The `keelson` command line: every command, its options (shared ones declared once, as
argparse parents) and the function in keelson.cli.commands that runs it."""

import argparse
from pathlib import Path

from keelson import (
    __version__,
    bundle,
    lab,
)
from keelson.cli import commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="keelson",
        description="Provision, bootstrap and operate Kubernetes clusters.",
    )
    parser.add_argument("--version", action="version", version=f"keelson {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True)
    # Options several commands take, declared once (argparse parents).
    inv = argparse.ArgumentParser(add_help=False)
    inv.add_argument("-i", "--inventory", required=True, help="inventory file or directory")
    yes = argparse.ArgumentParser(add_help=False)
    yes.add_argument("--yes", action="store_true", help="do not ask before changing anything")

    p_lab = sub.add_parser("lab", help="the local lab of systemd hosts in containers")
    lab_sub = p_lab.add_subparsers(dest="lab_command", required=True)
    p_up = lab_sub.add_parser("up", help="create the lab (idempotent) and write its inventory")
    p_up.add_argument("--nodes", type=int, default=3, help="number of hosts (default 3)")
    p_up.add_argument("--subnet", default=lab.LabSpec.subnet, help="lab network")
    p_up.add_argument(
        "--control-planes",
        type=int,
        default=1,
        help="how many of the hosts (the first ones) are control planes (default 1); "
        "with 3 or more, etcd runs on the first three",
    )
    p_up.add_argument(
        "--monitoring",
        action="store_true",
        help="put node1 in the inventory's monitoring group: Prometheus and Alertmanager run there "
        "(their bundle build is long the first time)",
    )
    for name, text in (
        ("down", "remove everything the lab made"),
        ("status", "list lab hosts and their state"),
        ("image", "build the lab host image if missing"),
    ):
        lab_sub.add_parser(name, help=text)
    for p in lab_sub.choices.values():
        p.add_argument("--name", default="lab", help="lab name (default: lab)")
    p_lab.set_defaults(func=commands.cmd_lab)

    p_images = sub.add_parser("images", help="the layered image tree under images/")
    images_sub = p_images.add_subparsers(dest="images_command", required=True)
    for name, text in (
        ("build", "build what changed and everything below it"),
        ("push", "build, then push content and version tags to the registry"),
        ("verify", "check through the registry HTTP API that it serves every image"),
        ("graph", "print the FROM tree with versions and content tags"),
    ):
        p = images_sub.add_parser(name, help=text)
        p.add_argument("image", nargs="*", help="only these images and their parents")
        p.add_argument("--images-dir", type=Path, help="image tree (default: <project>/images)")
        p.add_argument("--bundle", type=Path, help="offline bundle root (default: the cache)")
        if name == "build":
            p.add_argument(
                "--no-cache",
                action="store_true",
                help="rebuild every selected image without Docker's layer cache (Debian updates)",
            )
        if name in ("push", "verify"):
            p.add_argument("--registry", help="host:port (default: the lab's registry)")
            p.add_argument("--lab", default="lab", help="lab whose registry (default: lab)")
    p_images.set_defaults(func=commands.cmd_images)

    p_deploy = sub.add_parser(
        "deploy", parents=[inv], help="run playbooks/site.yml against an inventory"
    )
    p_deploy.add_argument("--limit", help="only these hosts or groups (ansible --limit)")
    p_deploy.add_argument("--tags", help="only these tags (e.g. containerd_configure)")
    p_deploy.add_argument("--check", action="store_true", help="change nothing (drift report)")
    p_deploy.add_argument("--diff", action="store_true", help="show what would change")
    p_deploy.set_defaults(func=commands.cmd_deploy)

    p_scale = sub.add_parser(
        "scale", parents=[inv], help="add the inventory's new hosts (playbooks/scale.yml)"
    )
    p_scale.add_argument("--limit", help="only these hosts (ansible --limit), e.g. node4")
    p_scale.set_defaults(func=commands.cmd_scale)

    p_remove = sub.add_parser(
        "remove-node",
        parents=[inv, yes],
        help="drain a worker, delete it from the cluster and reset it",
    )
    p_remove.add_argument("--node", required=True, help="the worker (a host of kube_node)")
    p_remove.set_defaults(func=commands.cmd_remove_node)

    p_upgrade = sub.add_parser(
        "upgrade",
        parents=[inv, yes],
        help="upgrade Kubernetes on a live cluster by one minor release (playbooks/upgrade.yml)",
    )
    p_upgrade.add_argument("--to", required=True, help="the target release, e.g. v1.37.2")
    p_upgrade.add_argument(
        "--plan", action="store_true", help="print the plan and any refusal; change nothing"
    )
    p_upgrade.add_argument(
        "--batch", default="1", help="workers upgraded at a time: a count or a percentage (1)"
    )
    p_upgrade.add_argument(
        "--drain-timeout",
        type=int,
        default=300,
        help="seconds a node's drain may wait for its pods' evictions (300)",
    )
    p_upgrade.add_argument(
        "--force-drain",
        action="store_true",
        help="delete pods without eviction when a PodDisruptionBudget would stop a drain",
    )
    p_upgrade.add_argument(
        "--probe",
        metavar="NAMESPACE/SERVICE",
        help="also poll this Service's virtual IP every 100 ms (the API is always polled)",
    )
    p_upgrade.set_defaults(func=commands.cmd_upgrade)

    p_reset = sub.add_parser(
        "reset", parents=[inv, yes], help="tear Kubernetes down on every host of the inventory"
    )
    p_reset.add_argument(
        "--no-backup",
        action="store_true",
        help="do not take an etcd backup first (by default nothing is reset without one)",
    )
    p_reset.set_defaults(func=commands.cmd_reset)

    p_kubeconfig = sub.add_parser(
        "kubeconfig",
        parents=[inv],
        help="print the path of the admin kubeconfig the deploy fetched",
    )
    p_kubeconfig.set_defaults(func=commands.cmd_kubeconfig)

    p_kubectl = sub.add_parser(
        "kubectl",
        parents=[inv],
        help="the bundle's kubectl with the admin kubeconfig: kubectl -i INV -- ARGS",
    )
    p_kubectl.add_argument("kubectl_args", nargs=argparse.REMAINDER, help="kubectl's arguments")
    p_kubectl.set_defaults(func=commands.cmd_kubectl)

    p_monitoring = sub.add_parser(
        "monitoring",
        parents=[inv],
        help="where Prometheus and Alertmanager answer; their targets down and alerts firing",
    )
    p_monitoring.set_defaults(func=commands.cmd_monitoring)

    p_inv = sub.add_parser("inventory", help="inventory tools")
    inv_sub = p_inv.add_subparsers(dest="inventory_command", required=True)
    inv_sub.add_parser("validate", parents=[inv], help="check an inventory without touching hosts")
    p_inv.set_defaults(func=commands.cmd_inventory)

    p_bundle = sub.add_parser("bundle", help="the offline bundle of pinned binaries (files mirror)")
    bundle_sub = p_bundle.add_subparsers(dest="bundle_command", required=True)
    p_bbuild = bundle_sub.add_parser("build", help="build or fetch what versions.yml pins")
    p_bbuild.add_argument("--only", help="only these components (comma-separated), e.g. etcd")
    p_bbuild.add_argument(
        "--kubernetes",
        help="only these pinned Kubernetes versions (deployed: the one clusters get)",
    )
    p_bbuild.add_argument(
        "--source",
        choices=bundle.SOURCES,
        help="source: go build via the module proxy (default, or $KEELSON_BUNDLE_SOURCE); "
        "release: download official artifacts and check published checksums",
    )
    p_bbuild.add_argument("--base-url", help="release source: mirror base URL (default upstream)")
    bundle_sub.add_parser("list", help="pinned components, versions, sizes, whether built")
    p_bverify = bundle_sub.add_parser("verify", help="recompute every sha256 against manifest.json")
    p_bverify.add_argument(
        "--versions", action="store_true", help="also run each binary's version command"
    )
    p_serve = bundle_sub.add_parser("serve", help="serve the bundle root over HTTP")
    p_serve.add_argument("--bind", default="0.0.0.0", help="address (default 0.0.0.0)")
    p_serve.add_argument("--port", type=int, default=18080, help="port (default 18080)")
    for p in bundle_sub.choices.values():
        p.add_argument("--root", help="bundle root (default $KEELSON_CACHE/bundle/root)")
    p_bundle.set_defaults(func=commands.cmd_bundle)

    p_etcd = sub.add_parser("etcd", help="etcd backups, restore and status (on-call runbooks)")
    etcd_sub = p_etcd.add_subparsers(dest="etcd_command", required=True)
    etcd_sub.add_parser(
        "backup", parents=[inv], help="take a verified backup now and copy it to the store"
    )
    p_restore = etcd_sub.add_parser(
        "restore",
        parents=[inv, yes],
        help="restore every member from one snapshot (docs/runbooks/etcd-restore.md)",
    )
    p_restore.add_argument(
        "--snapshot",
        required=True,
        help="snapshot name (see `etcd snapshots`) or a NAME.db.gz.enc path",
    )
    etcd_sub.add_parser(
        "status", parents=[inv], help="members, leader, db size and the last backup"
    )
    etcd_sub.add_parser(
        "snapshots", parents=[inv], help="snapshots on the backup store, newest first"
    )
    p_etcd.set_defaults(func=commands.cmd_etcd)

    p_certs = sub.add_parser("certs", help="certificates and their expiry; renewal")
    certs_sub = p_certs.add_subparsers(dest="certs_command", required=True)
    p_ccheck = certs_sub.add_parser(
        "check",
        parents=[inv],
        help="every certificate on the hosts with its expiry (exit 1 if one is due)",
    )
    p_ccheck.add_argument(
        "--days", type=int, default=30, help="due: expires within this many days (30)"
    )
    certs_sub.add_parser(
        "renew",
        parents=[inv, yes],
        help="renew kubeadm's certificates, one control plane at a time, the API answering",
    )
    p_certs.set_defaults(func=commands.cmd_certs)

    p_cred = sub.add_parser(
        "credentials", help="back up or restore the controller's credentials (the etcd CA, ...)"
    )
    cred_sub = p_cred.add_subparsers(dest="credentials_command", required=True)
    p_cbackup = cred_sub.add_parser(
        "backup",
        parents=[inv],
        help="write <inventory>/credentials/ to one encrypted file (passphrase asked)",
    )
    p_cbackup.add_argument(
        "-o", "--output", help="the file to write (default: INVENTORY-credentials-TIME.keelson)"
    )
    p_crestore = cred_sub.add_parser(
        "restore",
        parents=[inv],
        help="put a backup's files back; refuses when a file there differs",
    )
    p_crestore.add_argument("backup", help="the file `keelson credentials backup` wrote")
    p_cred.set_defaults(func=commands.cmd_credentials)

    p_runs = sub.add_parser("runs", help="the records of earlier playbook runs (.keelson/runs)")
    runs_sub = p_runs.add_subparsers(dest="runs_command", required=True)
    p_rlist = runs_sub.add_parser("list", help="the newest runs: playbook, status, time, changes")
    p_rlist.add_argument("-n", "--count", type=int, default=20, help="how many (default 20)")
    p_rshow = runs_sub.add_parser(
        "show", help="one run: outcome, task results per host, the slowest tasks"
    )
    p_rshow.add_argument(
        "run_id", nargs="?", help="run id or a unique part of it (default: newest)"
    )
    p_rshow.add_argument("--top", type=int, default=15, help="slowest tasks to list (default 15)")
    p_runs.set_defaults(func=commands.cmd_runs)

    p_doctor = sub.add_parser("doctor", help="what this controller has and lacks")
    p_doctor.set_defaults(func=commands.cmd_doctor)
    return parser
