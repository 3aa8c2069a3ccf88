"""The image pipeline against real Docker and the lab registry (lab `imgtest`).

A copy of images/ is built, so the repository is never touched; a small fake bundle (shell
scripts named like the Kubernetes binaries) stands in for `keelson bundle build`, so the cluster
images build in seconds. Order matters: the whole tree is pushed first, then a second run must do
nothing, then one runtime is touched, then a lab host pulls by name through containerd.
"""

import json
import os
import re
import shutil
import subprocess
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from keelson import images
from tests.integration.conftest import ROOT, Run, build_bundle, keelson

LAB = "imgtest"
SUBNET = "172.31.246.0/24"
LAB_REGISTRY = "172.31.246.2:5000"
NODE = f"keelson-{LAB}-node1"
CTR = ("docker", "exec", NODE, "ctr", "-n", "k8s.io")


def fake_bundle(root: Path) -> Path:
    """Every file images/cluster/*/BUNDLE names, as tiny programs or archives."""
    tree = images.load_tree(ROOT / "images")
    for image in tree.images.values():
        for rel in image.bundle_files:
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            program = f"#!/bin/sh\necho {Path(rel).name} {image.version} (keelson test bundle)\n"
            if rel.endswith((".tgz", ".tar.gz")):
                # As upstream lays them out: CoreDNS's binary at the top, Prometheus-style
                # archives (kube-state-metrics') in a directory named like the archive.
                top = Path(rel).name.removesuffix(".tar.gz")
                binary = re.sub(r"_.*|-\d.*", "", Path(rel).name)
                member = binary if rel.endswith(".tgz") else f"{top}/{binary}"
                inner = root / "program"
                inner.write_text(program)
                inner.chmod(0o755)
                with tarfile.open(path, "w:gz") as archive:
                    archive.add(inner, arcname=member)
                inner.unlink()
            else:
                path.write_text(program)
                path.chmod(0o755)
    return root


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path, str]]:
    """(copy of images/, fake bundle, registry endpoint on this machine)."""
    base = tmp_path_factory.mktemp("images")
    tree = base / "images"
    shutil.copytree(ROOT / "images", tree, ignore=shutil.ignore_patterns("__pycache__"))
    bundle = fake_bundle(base / "bundle")
    keelson("lab", "down", "--name", LAB)
    up = keelson("lab", "up", "--name", LAB, "--nodes", "1", "--subnet", SUBNET)
    assert up.code == 0, up.err
    port = subprocess.run(
        ["docker", "port", f"keelson-{LAB}-registry", "5000/tcp"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[0]
    yield tree, bundle, port
    if not os.environ.get("KEELSON_KEEP_LAB"):
        keelson("lab", "down", "--name", LAB)
    # Images only this test made (fake bundle files, the touched runtime) are not a cache.
    ours = {p.tag for p in images.plan(images.load_tree(ROOT / "images")) if p.digest}
    made = {p.tag for p in images.plan(images.load_tree(tree), bundle=bundle) if p.digest}
    subprocess.run(["docker", "rmi", *sorted(made - ours)], capture_output=True, check=False)


def images_cmd(command: str, work: tuple[Path, Path, str], *extra: str) -> Run:
    tree, bundle, _ = work
    started = time.monotonic()
    run = keelson("images", command, "--images-dir", str(tree), "--bundle", str(bundle), *extra)
    print(f"keelson images {command}: {time.monotonic() - started:.1f}s\n{run.out}")
    return run


def built_names(run: Run) -> list[str]:
    return re.findall(r"keelson: building (\S+) ", run.out)


def manifest(endpoint: str, repository: str, tag: str) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(
        f"http://{endpoint}/v2/{repository}/manifests/{tag}",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            document: dict[str, object] = json.loads(response.read())
            return response.status, document
    except urllib.error.HTTPError as exc:
        return exc.code, {}


def test_whole_tree_is_built_pushed_and_served(work: tuple[Path, Path, str]) -> None:
    tree, bundle, endpoint = work
    push = images_cmd("push", work, "--lab", LAB)
    assert push.code == 0, push.err
    planned = images.plan(images.load_tree(tree), bundle=bundle)
    assert all(p.digest for p in planned), [p.skipped for p in planned if p.skipped]
    assert f"{len(planned)} pushed, 0 already in the registry {endpoint}" in push.out
    # Every expected manifest, under both tags, through the registry's HTTP API.
    for p in planned:
        local_id = images.local_image_id(p.tag)
        for tag in p.remote_tags:
            status, document = manifest(endpoint, p.image.path, tag)
            assert status == 200, f"{p.image.path}:{tag} answers {status}"
            config = document["config"]
            assert isinstance(config, dict)
            assert config["digest"] == local_id, f"{p.image.path}:{tag}"
    expected = {
        "cluster/pause:3.10.2",
        "cluster/kube-apiserver:v1.36.3",
        "cluster/kube-apiserver:v1.37.2",
        "cluster/kube-state-metrics:v2.20.0",
        "service/hello:0.1.0",
        "service/alert-receiver:0.1.0",
        "service/registry:2.8.2",
    }
    served = {f"{p.image.path}:{t}" for p in planned for t in p.remote_tags}
    assert expected <= served
    verify = images_cmd("verify", work, "--lab", LAB)
    assert verify.code == 0, verify.err
    assert f"{len(planned)} verified" in verify.out


def test_second_run_builds_and_pushes_nothing(work: tuple[Path, Path, str]) -> None:
    total = len(images.load_tree(work[0]).images)
    build = images_cmd("build", work)
    assert build.code == 0, build.err
    assert f"images: 0 built, {total} unchanged in" in build.out
    push = images_cmd("push", work, "--lab", LAB)
    assert push.code == 0, push.err
    assert f"0 pushed, {total} already in the registry" in push.out


def test_touching_one_runtime_rebuilds_it_and_the_services_below_only(
    work: tuple[Path, Path, str],
) -> None:
    tree = work[0]
    total = len(images.load_tree(tree).images)
    (tree / "runtime" / "python" / "NOTES").write_text("a file added to the runtime's context\n")
    build = images_cmd("build", work)
    assert build.code == 0, build.err
    assert sorted(built_names(build)) == [
        "runtime/python",
        "service/alert-receiver",
        "service/hello",
    ]
    assert f"images: 3 built, {total - 3} unchanged in" in build.out


def test_a_lab_host_pulls_from_the_lab_registry_by_name(work: tuple[Path, Path, str]) -> None:
    push = images_cmd("push", work, "--lab", LAB)
    assert push.code == 0, push.err
    assert "3 pushed" in push.out
    # The deploy's preflight checks the whole inventory against the real bundle (its Kubernetes
    # too): on a fresh machine this module runs while the suite's background build makes it.
    build_bundle()
    inventory = ROOT / "inventories" / LAB
    deploy = keelson("deploy", "-i", str(inventory), "--tags", "containerd")
    assert deploy.code == 0, deploy.err + deploy.out
    for reference in (
        f"{LAB_REGISTRY}/cluster/pause:3.10.2",
        f"{LAB_REGISTRY}/cluster/kube-apiserver:v1.36.3",
        f"{LAB_REGISTRY}/service/hello:0.1.0",
    ):
        pull = subprocess.run(
            [*CTR, "images", "pull", "--hosts-dir", "/etc/containerd/certs.d", reference],
            capture_output=True,
            text=True,
            check=False,
        )
        assert pull.returncode == 0, pull.stdout[-2000:] + pull.stderr
    listed = subprocess.run(
        [*CTR, "images", "ls", "-q"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert f"{LAB_REGISTRY}/cluster/pause:3.10.2" in listed
    # The pulled service runs on the host's containerd.
    run = subprocess.run(
        [
            *CTR,
            "run",
            "--rm",
            f"{LAB_REGISTRY}/service/hello:0.1.0",
            "t",
            "python3",
            "-c",
            "print(1)",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.stdout.strip() == "1", run.stderr
    # The pod sandbox answers `-v` as kubeadm's upgrade health-check Job asks it to.
    version = subprocess.run(
        [*CTR, "run", "--rm", f"{LAB_REGISTRY}/cluster/pause:3.10.2", "v", "/pause", "-v"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert version.returncode == 0, version.stderr
    assert "3.10.2" in version.stdout, version.stdout
