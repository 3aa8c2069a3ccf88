"""What each `keelson` command does: check its input, call the module of its domain, print
the outcome (a table through keelson.table, or one line). keelson.cli.parser maps arguments to
these functions; keelson.cli.main maps their errors to one line and an exit code."""

import argparse
import getpass
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from keelson import (
    bundle,
    certs,
    credentials,
    doctor,
    etcd,
    hostimage,
    images,
    inventory,
    kube,
    lab,
    monitoring,
    runs,
    table,
    upgrade,
)
from keelson.bundle import store as bundle_store
from keelson.errors import (
    BundleError,
    DriftFound,
    ImageError,
    InventoryError,
    UsageError,
)
from keelson.runner import run_playbook


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
            monitoring=args.monitoring,
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
    inventory.parse(inv)
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


def cmd_certs(args: argparse.Namespace) -> int:
    inv = inventory.resolve(args.inventory)
    if args.certs_command == "renew":
        inventory.validate(inv)  # before the question
        question = "Renew kubeadm's certificates and restart each control plane in turn?"
        if _confirmation("certs renew", question, "renew", args.yes)():
            certs.renew(inv)
        return 0
    inventory.parse(inv)
    found = certs.check(inv)
    print(certs.render(found, args.days))
    return 1 if certs.due(found, args.days) else 0


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


def cmd_upgrade(args: argparse.Namespace) -> int:
    inv = inventory.resolve(args.inventory)
    upgrade.check_request(args.to, args.batch, args.drain_timeout)
    if args.plan:
        inventory.parse(inv)
        found = upgrade.plan(inv, args.to, args.batch)
        print(upgrade.render(found))
        if found["problems"]:
            raise InventoryError(f"{inv}: upgrade to {args.to} refused: {found['problems'][0]}")
        return 0
    question = f"Upgrade the cluster to {args.to} as planned above?"
    ask = _confirmation("upgrade", question, "upgrade", args.yes)

    def confirm(found: dict[str, Any]) -> bool:
        print(upgrade.render(found), flush=True)
        return ask()

    result, backup, _ = upgrade.upgrade(
        inv, args.to, confirm, args.batch, args.drain_timeout, args.force_drain, args.probe
    )
    print(
        f"upgrade to {args.to}: done in {result.elapsed:.0f}s (run {result.run_id}); etcd and "
        f"the Kubernetes PKI were backed up first as {backup.get('name', '?')} "
        "(docs/runbooks/upgrade.md: going back)"
    )
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


def cmd_monitoring(args: argparse.Namespace) -> int:
    text, ok = monitoring.report(inventory.resolve(args.inventory))
    print(text)
    return 0 if ok else 1


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
        print(bundle.render_list(root))
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
