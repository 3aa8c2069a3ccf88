"""The `keelson` command: parse arguments, call the module that does the work, map errors to
one line and an exit code (a traceback only with --debug)."""

import argparse
import getpass
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from keelson import (
    __version__,
    bundle,
    credentials,
    doctor,
    etcd,
    hostimage,
    images,
    inventory,
    kube,
    lab,
    runner,
    runs,
    table,
)
from keelson.bundle import store as bundle_store
from keelson.errors import (
    BundleError,
    DriftFound,
    ImageError,
    KeelsonError,
    UsageError,
    one_line,
)
from keelson.runner import run_playbook

# An error keelson has no name for (a bug): one line, and this code (EX_SOFTWARE).
UNEXPECTED_EXIT_CODE = 70
# What a shell reports for a program that SIGPIPE ended (128 + 13): the reader of its output left.
SIGPIPE_EXIT_CODE = 141


def _progress(message: str) -> None:
    print(f"keelson: {message}", flush=True)


def cmd_lab(args: argparse.Namespace) -> int:
    if args.lab_command == "up":
        started = time.monotonic()
        spec = lab.LabSpec(
            name=args.name,
            nodes=args.nodes,
            subnet=args.subnet,
            control_planes=args.control_planes,
        )
        inv = lab.up(spec, _progress)
        print(
            f"lab {args.name}: {args.nodes} hosts up ({args.control_planes} control plane"
            f"{'s' if args.control_planes > 1 else ''}) in {time.monotonic() - started:.1f}s; "
            f"inventory {inv}/hosts.yml"
        )
    elif args.lab_command == "down":
        lab.down(args.name, _progress)
        print(f"lab {args.name}: removed")
    elif args.lab_command == "status":
        nodes = lab.status(args.name)
        if not nodes:
            print(f"lab {args.name}: no hosts (run `keelson lab up`)")
            return 1
        rows = [(n["node"], n["address"], n["state"], n["systemd"]) for n in nodes]
        print(table.render(("HOST", "ADDRESS", "CONTAINER", "SYSTEMD"), rows))
    elif args.lab_command == "image":
        print(hostimage.ensure_host_image(_progress))
    return 0


def cmd_images(args: argparse.Namespace) -> int:
    started = time.monotonic()
    tree = images.load_tree(args.images_dir)
    targets = args.image or None
    if args.images_command == "graph":
        planned = images.plan(tree, targets, args.bundle)
        present = images.built_locally(planned)
        print(images.render_graph(planned, present))
        if present is not None and any(p.digest and p.image.name not in present for p in planned):
            print("* not built yet: `keelson images build`")
        return 0
    if args.images_command == "build":
        report = images.build(tree, _progress, targets, args.bundle, args.no_cache)
        print(f"images: {report.summary()} in {time.monotonic() - started:.1f}s")
        return 0
    registry = args.registry or lab.registry_endpoint(args.lab)
    if args.images_command == "push":
        built, pushed = images.push(tree, registry, _progress, targets, args.bundle)
        print(
            f"images: {built.summary()}; {pushed.summary()} {registry} "
            f"in {time.monotonic() - started:.1f}s"
        )
        return 0
    result = images.verify(tree, registry, targets, args.bundle)
    for problem in result.problems:
        print(f"keelson: {problem}", file=sys.stderr)
    if result.problems:
        raise ImageError(f"registry {registry}: {len(result.problems)} problem(s), see above")
    print(f"images: {len(result.verified)} verified in {registry}")
    return 0


def cmd_deploy(args: argparse.Namespace) -> int:
    if args.diff and not args.check:
        _progress("--diff without --check shows what changes while it changes it")
    inv = inventory.resolve(args.inventory)
    inventory.parse(inv)
    result = run_playbook(
        "site.yml",
        inv,
        kind="check" if args.check else "deploy",
        limit=args.limit,
        tags=args.tags,
        check=args.check,
        diff=args.diff,
    )
    inventory.raise_if_refused(inv, result)
    result.raise_for_failure()
    if args.check:
        changed = result.changed_tasks
        if not changed:
            print("no drift: the hosts match the inventory")
            return 0
        for host, task, what in sorted(changed):
            print(f"drift: {host}: {task}" + (f": {what}" if what else ""))
        hosts = ", ".join(sorted({host for host, _, _ in changed}))
        raise DriftFound(
            f"drift: {len(changed)} task results would change on {hosts}"
            " (a deploy puts them back as the inventory says)"
        )
    return 0


def cmd_inventory(args: argparse.Namespace) -> int:
    inv = inventory.resolve(args.inventory)
    groups = inventory.validate(inv)
    listed = ", ".join(
        f"{g}({len(h)})" for g, h in sorted(groups.items()) if g not in ("all", "ungrouped") and h
    )
    print(f"inventory {inv}: ok, {len(groups['all'])} hosts; groups: {listed}")
    return 0


def _confirmation(what: str, question: str, word: str, assume_yes: bool) -> Callable[[], bool]:
    """The one way a command asks before it changes something: the returned question asks on
    the terminal (True with --yes); without a terminal and without --yes, WHAT is refused here,
    before anything runs."""
    if not assume_yes and not sys.stdin.isatty():
        raise UsageError(f"{what} needs confirmation: run it on a terminal, or pass --yes")
    return lambda: assume_yes or input(f"{question} Type '{word}': ").strip() == word


def cmd_etcd(args: argparse.Namespace) -> int:
    inv = inventory.resolve(args.inventory)
    inventory.validate(inv)
    if args.etcd_command == "backup":
        taken = etcd.backup(inv)
        print(
            f"backup {taken['name']}: revision {taken['revision']}, {taken['total_keys']} keys, "
            f"{taken['size']} bytes compressed, from {taken['source_endpoint']}"
        )
    elif args.etcd_command == "restore":
        question = "Stop etcd (and the API servers) and restore this snapshot?"
        confirm = _confirmation("restore", question, "restore", args.yes)
        etcd.restore(inv, args.snapshot, confirm, assume_yes=args.yes)
    elif args.etcd_command == "status":
        text, healthy = etcd.status(inv)
        print(text)
        return 0 if healthy else 1
    elif args.etcd_command == "snapshots":
        print(etcd.snapshots(inv))
    return 0


def cmd_credentials(args: argparse.Namespace) -> int:
    inv = inventory.resolve(args.inventory)
    interactive = sys.stdin.isatty()
    if args.credentials_command == "backup":
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        output = Path(args.output or f"{inv.stem}-credentials-{stamp}.keelson")
        secret = credentials.passphrase(getpass.getpass, confirm=True, interactive=interactive)
        entries = credentials.backup(inv, output, secret)
        for entry in entries:
            print(f"  {entry.path}  sha256:{entry.sha256[:16]}")
        print(
            f"credentials backup {output}: {len(entries)} files, encrypted, 0600; keep it off "
            "this machine, with the passphrase somewhere else"
        )
    else:
        secret = credentials.passphrase(getpass.getpass, confirm=False, interactive=interactive)
        written, present = credentials.restore(inv, Path(args.backup), secret)
        for entry in written:
            print(f"  restored {entry.path}  sha256:{entry.sha256[:16]}")
        print(
            f"credentials {credentials.directory(inv)}: {len(written)} restored, "
            f"{len(present)} already there and identical"
        )
    return 0


def cmd_scale(args: argparse.Namespace) -> int:
    kube.scale(inventory.resolve(args.inventory), args.limit)
    return 0


def cmd_remove_node(args: argparse.Namespace) -> int:
    node = args.node
    inv = inventory.resolve(args.inventory)
    question = f"Drain {node}, delete it from the cluster and reset it?"
    kube.remove_node(inv, node, _confirmation("remove-node", question, node, args.yes))
    return 0


def cmd_reset(args: argparse.Namespace) -> int:
    inv = inventory.resolve(args.inventory)
    question = "Tear Kubernetes down on every host (kubeadm reset: workloads and cluster state go)?"
    kube.reset(inv, _confirmation("reset", question, "reset", args.yes), backup=not args.no_backup)
    return 0


def cmd_kubeconfig(args: argparse.Namespace) -> int:
    print(kube.kubeconfig(inventory.resolve(args.inventory)))
    return 0


def cmd_kubectl(args: argparse.Namespace) -> int:
    rest = args.kubectl_args[1:] if args.kubectl_args[:1] == ["--"] else args.kubectl_args
    return kube.kubectl(inventory.resolve(args.inventory), rest)


def cmd_runs(args: argparse.Namespace) -> int:
    if args.runs_command == "list":
        print(runs.render_list(runs.recent(args.count)))
        return 0
    run_id = args.run_id
    if run_id is None:
        newest = runs.recent(1)
        if not newest:
            raise UsageError(f"no runs recorded under {runs.runs_dir()}")
        run_id = newest[0]["run_id"]
    record, tasks = runs.load(run_id)
    print(runs.render_show(record, tasks, args.top))
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    text, ok = doctor.report(doctor.checks())
    print(text)
    return 0 if ok else 1


def cmd_bundle(args: argparse.Namespace) -> int:
    root = Path(args.root) if args.root else bundle_store.default_root()
    if args.bundle_command == "build":
        started = time.monotonic()
        results = bundle.build(
            only=args.only.split(",") if args.only else None,
            kubernetes=args.kubernetes.split(",") if args.kubernetes else None,
            source_name=args.source,
            root=root,
            base_url=args.base_url,
            progress=_progress,
        )
        built = sum(1 for r in results if not r.cached)
        print(
            f"bundle {root}: {built} built, {len(results) - built} cached "
            f"in {time.monotonic() - started:.1f}s; manifest {root / bundle_store.MANIFEST}"
        )
    elif args.bundle_command == "list":
        rows = [
            (
                row.component,
                row.version,
                row.status,
                row.files,
                table.size(row.size) if row.files else "-",
                row.source + (f" ({row.seconds:.0f}s)" if row.seconds is not None else ""),
            )
            for row in bundle.list_builds(root)
        ]
        columns = ("COMPONENT", "VERSION", "STATUS", "FILES>", "SIZE>", "SOURCE")
        print(table.render(columns, rows))
        print(f"bundle root: {root}")
    elif args.bundle_command == "verify":
        checked, problems, extra = bundle.verify(root)
        for path in extra:
            print(f"not in manifest: {path}")
        for problem in problems:
            print(f"FAILED {problem.path}: {problem.message}", file=sys.stderr)
        if problems:
            raise BundleError(
                f"bundle {root}: {len(problems)} of {checked} files fail verification "
                f"(first: {problems[0].path})"
            )
        print(f"bundle {root}: {checked} files match manifest.json")
        if args.versions:
            checks = bundle.check_versions(root)
            for check in checks:
                mark = "ok" if check.ok else "WRONG"
                print(f"{mark:<6}{check.build.name} {check.binary}: {check.output}")
            wrong = [c for c in checks if not c.ok]
            if wrong:
                raise BundleError(
                    f"{len(wrong)} binaries do not report their pinned version "
                    f"(first: {wrong[0].build.name} {wrong[0].binary})"
                )
            print(f"{len(checks)} binaries report their pinned versions")
    elif args.bundle_command == "serve":
        server = bundle.make_server(root, args.bind, args.port)
        print(f"serving {root} at http://{args.bind}:{args.port}/ (Ctrl-C stops)", flush=True)
        try:
            server.serve_forever()
        finally:
            server.server_close()
    return 0


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
    for name, text in (
        ("down", "remove everything the lab made"),
        ("status", "list lab hosts and their state"),
        ("image", "build the lab host image if missing"),
    ):
        lab_sub.add_parser(name, help=text)
    for p in lab_sub.choices.values():
        p.add_argument("--name", default="lab", help="lab name (default: lab)")
    p_lab.set_defaults(func=cmd_lab)

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
    p_images.set_defaults(func=cmd_images)

    p_deploy = sub.add_parser(
        "deploy", parents=[inv], help="run playbooks/site.yml against an inventory"
    )
    p_deploy.add_argument("--limit", help="only these hosts or groups (ansible --limit)")
    p_deploy.add_argument("--tags", help="only these tags (e.g. containerd_configure)")
    p_deploy.add_argument("--check", action="store_true", help="change nothing (drift report)")
    p_deploy.add_argument("--diff", action="store_true", help="show what would change")
    p_deploy.set_defaults(func=cmd_deploy)

    p_scale = sub.add_parser(
        "scale", parents=[inv], help="add the inventory's new hosts (playbooks/scale.yml)"
    )
    p_scale.add_argument("--limit", help="only these hosts (ansible --limit), e.g. node4")
    p_scale.set_defaults(func=cmd_scale)

    p_remove = sub.add_parser(
        "remove-node",
        parents=[inv, yes],
        help="drain a worker, delete it from the cluster and reset it",
    )
    p_remove.add_argument("--node", required=True, help="the worker (a host of kube_node)")
    p_remove.set_defaults(func=cmd_remove_node)

    p_reset = sub.add_parser(
        "reset", parents=[inv, yes], help="tear Kubernetes down on every host of the inventory"
    )
    p_reset.add_argument(
        "--no-backup",
        action="store_true",
        help="do not take an etcd backup first (by default nothing is reset without one)",
    )
    p_reset.set_defaults(func=cmd_reset)

    p_kubeconfig = sub.add_parser(
        "kubeconfig",
        parents=[inv],
        help="print the path of the admin kubeconfig the deploy fetched",
    )
    p_kubeconfig.set_defaults(func=cmd_kubeconfig)

    p_kubectl = sub.add_parser(
        "kubectl",
        parents=[inv],
        help="the bundle's kubectl with the admin kubeconfig: kubectl -i INV -- ARGS",
    )
    p_kubectl.add_argument("kubectl_args", nargs=argparse.REMAINDER, help="kubectl's arguments")
    p_kubectl.set_defaults(func=cmd_kubectl)

    p_inv = sub.add_parser("inventory", help="inventory tools")
    inv_sub = p_inv.add_subparsers(dest="inventory_command", required=True)
    inv_sub.add_parser("validate", parents=[inv], help="check an inventory without touching hosts")
    p_inv.set_defaults(func=cmd_inventory)

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
    p_bundle.set_defaults(func=cmd_bundle)

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
    p_etcd.set_defaults(func=cmd_etcd)

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
    p_cred.set_defaults(func=cmd_credentials)

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
    p_runs.set_defaults(func=cmd_runs)

    p_doctor = sub.add_parser("doctor", help="what this controller has and lacks")
    p_doctor.set_defaults(func=cmd_doctor)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeelsonError as exc:
        if args.debug:
            raise
        print(f"keelson: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("keelson: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`keelson runs show ID | head`): stop quietly, as a program
        # killed by SIGPIPE does, and keep Python from failing again on its final flush.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return SIGPIPE_EXIT_CODE
    except Exception as exc:  # a bug, or a failure keelson does not know yet: one line too
        if args.debug:
            raise
        during = f"; during run {runner.LAST_RUN_ID}" if runner.LAST_RUN_ID else ""
        print(
            f"keelson: error: unexpected {type(exc).__name__}: {one_line(exc)}{during}"
            " (run again with --debug for the traceback)",
            file=sys.stderr,
        )
        return UNEXPECTED_EXIT_CODE
