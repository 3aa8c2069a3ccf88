"""The offline bundle without Go or the network: generated modules, layout, manifest and verify,
the cache, and the release source against a local HTTP server (including a refused checksum)."""

import hashlib
import http.server
import io
import json
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from keelson import bundle
from keelson.bundle import gomod, recipes, release, source, spec, store, webui
from keelson.cli import main
from keelson.errors import BundleError, UsageError

KUBE_GOMOD = """\
module k8s.io/kubernetes

go 1.26.0

godebug default=go1.26

require (
\tk8s.io/api v0.0.0
\tk8s.io/client-go v0.0.0
)

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\t// a comment inside the block
\tk8s.io/client-go => ./staging/src/k8s.io/client-go // trailing comment
)
"""
TOFU_GOMOD = """\
module github.com/opentofu/opentofu

// replace github.com/old/thing => github.com/new/thing v1.0.0
replace github.com/hashicorp/hcl/v2 v2.20.1 => github.com/opentofu/hcl/v2 v2.20.2-0.2025-abc
"""
ETCD_GOMOD = """\
module go.etcd.io/etcd/server/v3

replace (
\tgo.etcd.io/etcd/api/v3 => ../api
)

replace go.etcd.io/etcd => ./FORBIDDEN_DEPENDENCY
"""


# --- generated Go modules ---------------------------------------------------------------------


def test_kubernetes_staging_replaces_become_published_versions() -> None:
    replaces = gomod.needed_replaces([KUBE_GOMOD], gomod.kubernetes_staging("v1.36.3"))
    assert [r.directive() for r in replaces] == [
        "k8s.io/api => k8s.io/api v0.36.3",
        "k8s.io/client-go => k8s.io/client-go v0.36.3",
    ]
    assert gomod.parse_godebug(KUBE_GOMOD) == ["default=go1.26"]


def test_module_replaces_are_copied_and_sibling_paths_dropped() -> None:
    replaces = gomod.needed_replaces([TOFU_GOMOD, ETCD_GOMOD], gomod.drop_local)
    assert [r.directive() for r in replaces] == [
        "github.com/hashicorp/hcl/v2 v2.20.1 => github.com/opentofu/hcl/v2 v2.20.2-0.2025-abc"
    ]


def test_staging_version_refuses_non_releases() -> None:
    assert gomod.staging_version("v1.37.2") == "v0.37.2"
    with pytest.raises(BundleError, match="not a Kubernetes release"):
        gomod.staging_version("v2.0.0")


def test_rendered_module_requires_pins_and_replaces() -> None:
    replaces = gomod.needed_replaces([KUBE_GOMOD], gomod.kubernetes_staging("v1.36.3"))
    text = gomod.render(
        "keelson.local/bundle/kubernetes",
        "1.26",
        {"k8s.io/kubernetes": "v1.36.3"},
        replaces,
        ["default=go1.26"],
    )
    assert text.startswith("module keelson.local/bundle/kubernetes\n\ngo 1.26\n")
    assert "\tk8s.io/kubernetes v1.36.3\n" in text
    assert "\tk8s.io/api => k8s.io/api v0.36.3\n" in text
    assert "godebug (\n\tdefault=go1.26\n)" in text
    tools = gomod.tools_go(["k8s.io/kubernetes/cmd/kubeadm", "k8s.io/kubernetes/cmd/kubeadm"])
    assert tools.startswith("//go:build tools\n")
    assert tools.count("kubeadm") == 1


def test_kubernetes_ldflags_stamp_the_release() -> None:
    build = next(b for b in spec.load().builds if b.component == "kubernetes")
    flags = recipes.RECIPES["kubernetes"].expand_ldflags(build, "2026-01-01T00:00:00Z")
    major, minor = build.bare.split(".")[:2]
    assert f"-X k8s.io/component-base/version.gitVersion={build.version}" in flags
    assert f"-X k8s.io/component-base/version.gitMinor={minor}" in flags
    assert f"-X k8s.io/component-base/version.gitMajor={major}" in flags
    assert "-X k8s.io/component-base/version.gitTreeState=clean" in flags


# --- versions.yml and the layout ---------------------------------------------------------------


def test_every_pinned_component_has_a_recipe_and_two_kubernetes_minors() -> None:
    versions = spec.load()
    assert set(versions.components) == set(recipes.RECIPES)
    kube = [b.version for b in versions.builds if b.component == "kubernetes"]
    assert len({v.rsplit(".", 1)[0] for v in kube}) == 2


def test_every_pinned_build_comes_with_upgrade_targets_last() -> None:
    """What a deploy needs is built first (a fresh machine's suite deploys while the upgrade's
    target still builds in the background)."""
    versions = spec.load()
    picked = [(b.component, b.version) for b in versions.select()]
    assert sorted(picked) == sorted((b.component, b.version) for b in versions.builds)
    targets = [p for p in picked if p[0] == "kubernetes" and p[1] != versions.kubernetes().version]
    assert targets and picked[-len(targets) :] == targets


def test_layout_matches_the_upstream_download_sites() -> None:
    builds = {b.component: b for b in spec.load().select(kubernetes=["v1.36.3"])}
    etcd = builds["etcd"]
    assert etcd.artifact_path() == (
        f"github.com/etcd-io/etcd/releases/download/{etcd.version}/"
        f"etcd-{etcd.version}-linux-amd64.tar.gz"
    )
    containerd = builds["containerd"]
    assert containerd.artifact_path().endswith(f"/containerd-{containerd.bare}-linux-amd64.tar.gz")
    assert builds["runc"].artifact_path().endswith("/runc.amd64")
    assert bundle.artifacts_of(builds["kubernetes"])[0] == (
        "dl.k8s.io/release/v1.36.3/bin/linux/amd64/kubeadm"
    )
    assert builds["kubernetes"].checksum_path("dl.k8s.io/x/kubeadm") == "dl.k8s.io/x/kubeadm.sha256"


def test_unknown_component_and_unpinned_kubernetes_are_refused() -> None:
    versions = spec.load()
    with pytest.raises(UsageError, match="unknown component etcdd"):
        versions.select(only=["etcdd"])
    with pytest.raises(UsageError, match=r"Kubernetes v1\.99\.0 is not pinned"):
        versions.select(kubernetes=["v1.99.0"])


def test_bad_version_in_versions_file_names_component(tmp_path: Path) -> None:
    bad = tmp_path / "versions.yml"
    bad.write_text("components:\n  etcd:\n    version: 3.6\n    path: x\n    go_modules: [m]\n")
    with pytest.raises(BundleError, match=r"etcd: version '3\.6' is not like v1\.2\.3"):
        spec.load(bad)


# --- archives, manifest, verify ----------------------------------------------------------------


def test_a_module_version_other_than_the_release_is_used_for_the_go_modules(
    tmp_path: Path,
) -> None:
    """Prometheus 3.16.0 is published as Go module v0.316.0; its artifacts keep the release."""
    prometheus = next(b for b in spec.load().builds if b.component == "prometheus")
    assert (prometheus.version, prometheus.module_version) == ("v3.16.0", "v0.316.0")
    assert "/v3.16.0/prometheus-3.16.0.linux-amd64.tar.gz" in prometheus.artifact_path()
    etcd = next(b for b in spec.load().builds if b.component == "etcd")
    assert etcd.module_version == etcd.version
    bad = tmp_path / "versions.yml"
    bad.write_text(
        "components:\n  p:\n    versions: [v3.1.0, v3.2.0]\n    go_module_version: v0.301.0\n"
        "    path: x\n    go_modules: [m]\n"
    )
    with pytest.raises(BundleError, match=r"go_module_version. must be like v1\.2\.3"):
        spec.load(bad)


def test_archives_are_reproducible_and_laid_out_like_upstream(tmp_path: Path) -> None:
    binary = tmp_path / "etcd"
    binary.write_bytes(b"\x7fELF fake")
    first, second = tmp_path / "a.tar.gz", tmp_path / "b.tar.gz"
    store.write_tar_gz(first, [("etcd", binary)], "etcd-v3.6.16-linux-amd64")
    store.write_tar_gz(second, [("etcd", binary)], "etcd-v3.6.16-linux-amd64")
    assert first.read_bytes() == second.read_bytes()
    with tarfile.open(first, "r:gz") as tar:
        assert tar.getnames() == ["etcd-v3.6.16-linux-amd64", "etcd-v3.6.16-linux-amd64/etcd"]
    zipped = tmp_path / "tofu.zip"
    store.write_zip(zipped, [("tofu", binary)])
    with zipfile.ZipFile(zipped) as archive:
        assert archive.namelist() == ["tofu"]


def _fake_source(calls: list[str]) -> object:
    """Stands in for the Go build: writes each artifact like the real packager would."""

    def build_from_source(
        build: spec.Build, recipe: recipes.Recipe, root: Path, go_version: str, progress: object
    ) -> list[str]:
        calls.append(build.name)
        paths = bundle.artifacts_of(build)
        for path in paths:
            with store.atomic_target(root / path) as tmp:
                tmp.write_bytes(f"{build.name} {path}".encode())
        return paths

    return build_from_source


@pytest.fixture
def fake_go(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    monkeypatch.setenv("KEELSON_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(gomod, "local_go_version", lambda: "1.26")
    calls: list[str] = []
    monkeypatch.setattr(source, "build_from_source", _fake_source(calls))
    return calls


def test_second_build_is_cached_and_does_no_work(fake_go: list[str], tmp_path: Path) -> None:
    root = tmp_path / "root"
    said: list[str] = []
    first = bundle.build(only=["etcd", "runc"], root=root, progress=said.append)
    assert [r.cached for r in first] == [False, False]
    assert fake_go == ["etcd v3.6.16", "runc v1.5.2"]
    second = bundle.build(only=["etcd", "runc"], root=root, progress=said.append)
    assert [r.cached for r in second] == [True, True]
    assert fake_go == ["etcd v3.6.16", "runc v1.5.2"]
    assert said[-1].startswith("runc v1.5.2: cached")
    # A missing file is not a cache hit.
    (root / bundle.artifacts_of(spec.load().select(only=["runc"])[0])[0]).unlink()
    bundle.build(only=["etcd", "runc"], root=root, progress=said.append)
    assert fake_go[-1] == "runc v1.5.2"


def test_manifest_lists_every_file_and_verify_names_a_modified_one(
    fake_go: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "root"
    bundle.build(only=["etcd", "kubernetes"], kubernetes=["v1.37.2"], root=root, progress=print)
    manifest = json.loads((root / "manifest.json").read_text())
    paths = [f["path"] for f in manifest["files"]]
    # etcd tarball + SHA256SUMS, seven Kubernetes binaries + their .sha256 files
    assert len(paths) == 2 + 14
    kubelet = next(f for f in manifest["files"] if f["path"].endswith("/kubelet"))
    assert kubelet["component"] == "kubernetes"
    assert kubelet["version"] == "v1.37.2"
    assert kubelet["sha256"] == hashlib.sha256((root / kubelet["path"]).read_bytes()).hexdigest()
    assert f"{kubelet['sha256']}  {kubelet['path']}\n" in (root / "SHA256SUMS").read_text()

    assert main(["bundle", "verify", "--root", str(root)]) == 0
    (root / kubelet["path"]).write_bytes(b"tampered")
    assert main(["bundle", "verify", "--root", str(root)]) == BundleError.exit_code
    err = capsys.readouterr().err
    assert f"FAILED {kubelet['path']}: sha256 " in err
    assert "1 of 16 files fail verification" in err
    (root / kubelet["path"]).unlink()
    _, problems, _ = bundle.verify(root)
    assert [(p.path, p.message) for p in problems] == [(kubelet["path"], "missing")]


def test_interrupted_build_leaves_nothing_that_looks_built(
    fake_go: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    root = tmp_path / "root"

    def dies_midway(
        build: spec.Build, recipe: recipes.Recipe, root: Path, go: str, progress: object
    ) -> list[str]:
        path = bundle.artifacts_of(build)[0]
        with store.atomic_target(root / path) as tmp:
            tmp.write_bytes(b"half a tarball")
            raise KeyboardInterrupt
        return [path]

    monkeypatch.setattr(source, "build_from_source", dies_midway)
    with pytest.raises(KeyboardInterrupt):
        bundle.build(only=["etcd"], root=root, progress=print)
    assert not [p for p in root.rglob("*etcd*") if p.is_file() and ".locks" not in p.parts]
    rows = {r.component: r.status for r in bundle.list_builds(root)}
    assert rows["etcd"] == "not built"


def test_list_shows_built_and_missing(fake_go: list[str], tmp_path: Path) -> None:
    root = tmp_path / "root"
    bundle.build(only=["crictl"], root=root, progress=print)
    rows = {(r.component, r.version): r for r in bundle.list_builds(root)}
    crictl = next(r for (c, _), r in rows.items() if c == "crictl")
    assert (crictl.status, crictl.files, crictl.source) == ("built", 2, "source")
    assert rows[("kubernetes", "v1.36.3")].status == "not built"


# --- the release source against a local HTTP server --------------------------------------------


def _tarball(name: str) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        info = tarfile.TarInfo(name)
        info.size = 4
        tar.addfile(info, io.BytesIO(b"etcd"))
    return raw.getvalue()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def upstream(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A small bundle as upstream publishes it (artifacts and checksum files), over HTTP."""
    site = tmp_path / "upstream"
    etcd_dir = site / "github.com/etcd-io/etcd/releases/download/v3.6.16"
    etcd_dir.mkdir(parents=True)
    tarball = _tarball("etcd-v3.6.16-linux-amd64/etcd")
    (etcd_dir / "etcd-v3.6.16-linux-amd64.tar.gz").write_bytes(tarball)
    (etcd_dir / "SHA256SUMS").write_text(
        f"{'0' * 64}  etcd-v3.6.16-darwin-arm64.zip\n"
        f"{hashlib.sha256(tarball).hexdigest()}  etcd-v3.6.16-linux-amd64.tar.gz\n"
    )
    kube_dir = site / "dl.k8s.io/release/v1.36.3/bin/linux/amd64"
    kube_dir.mkdir(parents=True)
    for binary in recipes.RECIPES["kubernetes"].binaries:
        data = f"#!{binary.name}".encode()
        (kube_dir / binary.name).write_bytes(data)
        (kube_dir / f"{binary.name}.sha256").write_text(hashlib.sha256(data).hexdigest())
    handler = partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", site
    finally:
        server.shutdown()
        server.server_close()


def test_release_source_downloads_and_checks_published_checksums(
    upstream: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEELSON_CACHE", str(tmp_path / "cache"))
    url, site = upstream
    root = tmp_path / "root"
    results = bundle.build(
        only=["etcd", "kubernetes"],
        kubernetes=["v1.36.3"],
        source_name="release",
        base_url=url,
        root=root,
        progress=print,
    )
    assert [(r.build.component, r.files) for r in results] == [("etcd", 2), ("kubernetes", 14)]
    kubeadm = "dl.k8s.io/release/v1.36.3/bin/linux/amd64/kubeadm"
    assert (root / kubeadm).read_bytes() == (site / kubeadm).read_bytes()
    assert bundle.verify(root)[1] == []
    again = bundle.build(
        only=["etcd"], source_name="release", base_url=url, root=root, progress=print
    )
    assert again[0].cached


def test_release_source_refuses_a_wrong_checksum_and_keeps_nothing(
    upstream: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEELSON_CACHE", str(tmp_path / "cache"))
    url, site = upstream
    kubelet = "dl.k8s.io/release/v1.36.3/bin/linux/amd64/kubelet"
    (site / f"{kubelet}.sha256").write_text("ab" * 32 + "\n")
    actual = hashlib.sha256((site / kubelet).read_bytes()).hexdigest()
    root = tmp_path / "root"
    with pytest.raises(BundleError) as refused:
        bundle.build(
            only=["kubernetes"],
            kubernetes=["v1.36.3"],
            source_name="release",
            base_url=url,
            root=root,
            progress=print,
        )
    message = str(refused.value)
    assert f"checksum mismatch for {kubelet}" in message
    assert f"downloaded sha256 {actual}" in message
    assert f"published {'ab' * 32}" in message
    assert not (root / kubelet).exists()
    assert not list((root / kubelet).parent.glob(f"*{store.TMP_MARK}*"))
    rows = {(r.component, r.version): r.status for r in bundle.list_builds(root)}
    assert rows[("kubernetes", "v1.36.3")] == "not built"


def test_release_source_names_a_missing_checksum_file(
    upstream: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEELSON_CACHE", str(tmp_path / "cache"))
    url, site = upstream
    (site / "github.com/etcd-io/etcd/releases/download/v3.6.16/SHA256SUMS").unlink()
    with pytest.raises(BundleError, match=r"SHA256SUMS: HTTP 404"):
        bundle.build(
            only=["etcd"], source_name="release", base_url=url, root=tmp_path / "r", progress=print
        )


def test_checksum_file_formats() -> None:
    digest = "a" * 64
    assert release.parse_checksum(f"{digest}\n", "kubeadm", "x") == digest
    assert release.parse_checksum(f"{digest} *bin/crictl.tgz\n", "crictl.tgz", "x") == digest
    with pytest.raises(BundleError, match=r"lists no sha256 for other\.tgz"):
        release.parse_checksum(f"{digest}  crictl.tgz\n", "other.tgz", "SUMS")
    assert release.url_for("https://", "dl.k8s.io/a") == "https://dl.k8s.io/a"
    assert release.url_for("http://mirror:8080/files/", "dl.k8s.io/a") == (
        "http://mirror:8080/files/dl.k8s.io/a"
    )


def test_serve_refuses_a_root_without_manifest(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match=r"no manifest\.json"):
        bundle.make_server(tmp_path, "127.0.0.1", 0)


def test_copied_main_drops_an_import_the_proxy_does_not_serve(tmp_path: Path) -> None:
    module = tmp_path / "flannel"
    module.mkdir()
    (module / "main.go").write_text(
        'package main\n\nimport (\n\t"fmt"\n'
        '\t_ "github.com/flannel-io/flannel/pkg/backend/tencentvpc"\n'
        '\t_ "github.com/flannel-io/flannel/pkg/backend/vxlan"\n)\n'
    )
    (module / "main_test.go").write_text("package main\n")
    info = gomod.ModuleInfo("github.com/flannel-io/flannel", "v0.28.10", "", "", module)
    binary = recipes.RECIPES["flannel"].binaries[0]
    work = tmp_path / "work"
    assert source.copy_main(binary, [info], work) == "./main/flanneld"
    copied = (work / "main" / "flanneld" / "main.go").read_text()
    assert "tencentvpc" not in copied
    assert "backend/vxlan" in copied
    assert not (work / "main" / "flanneld" / "main_test.go").exists()
    (module / "main.go").write_text("package main\n")
    with pytest.raises(BundleError, match="no longer imports"):
        source.copy_main(binary, [info], work)


def test_verify_versions_runs_each_binary(
    fake_go: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def scripts(
        build: spec.Build, recipe: recipes.Recipe, root: Path, go: str, progress: object
    ) -> list[str]:
        out = tmp_path / "out"
        out.mkdir(exist_ok=True)
        members = []
        for binary in recipe.binaries:
            said = "3.6.16" if binary.name != "etcdutl" else "3.5.0"
            (out / binary.name).write_text(f"#!/bin/sh\necho {binary.name} version: {said}\n")
            members.append((binary.name, out / binary.name))
        path = build.artifact_path()
        with store.atomic_target(root / path) as tmp:
            store.write_tar_gz(tmp, members, build.expand(recipe.archive_dir))
        return [path]

    monkeypatch.setattr(source, "build_from_source", scripts)
    root = tmp_path / "root"
    bundle.build(only=["etcd"], root=root, progress=print)
    checks = {c.binary: (c.ok, c.output) for c in bundle.check_versions(root)}
    assert checks == {
        "etcd": (True, "etcd version: 3.6.16"),
        "etcdctl": (True, "etcdctl version: 3.6.16"),
        "etcdutl": (False, "etcdutl version: 3.5.0"),
    }


def test_a_served_bundle_is_a_mirror_for_the_release_source(
    fake_go: list[str], tmp_path: Path
) -> None:
    built = tmp_path / "built"
    bundle.build(only=["etcd", "runc", "kubernetes"], kubernetes=["v1.37.2"], root=built)
    server = bundle.make_server(built, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        fetched = tmp_path / "fetched"
        bundle.build(
            only=["etcd", "runc", "kubernetes"],
            kubernetes=["v1.37.2"],
            source_name="release",
            base_url=f"http://127.0.0.1:{server.server_address[1]}/",
            root=fetched,
            progress=print,
        )
    finally:
        server.shutdown()
        server.server_close()
    assert (fetched / "SHA256SUMS").read_text() == (built / "SHA256SUMS").read_text()


def test_leftovers_of_a_killed_build_are_removed_by_the_next(
    fake_go: list[str], tmp_path: Path
) -> None:
    root = tmp_path / "root"
    artifact = root / bundle.artifacts_of(spec.load().select(only=["runc"])[0])[0]
    artifact.parent.mkdir(parents=True)
    leftover = artifact.with_name(f"{artifact.name}{store.TMP_MARK}99999")
    leftover.write_bytes(b"half a binary")
    bundle.build(only=["runc"], root=root, progress=print)
    assert artifact.is_file()
    assert not leftover.exists()


def test_cli_list_names_every_pinned_build(
    fake_go: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "root"
    assert main(["bundle", "build", "--only", "etcd", "--root", str(root)]) == 0
    assert "0 built, 1 cached" not in capsys.readouterr().out
    assert main(["bundle", "list", "--root", str(root)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["COMPONENT", "VERSION", "STATUS", "FILES", "SIZE", "SOURCE"]
    etcd = next(line for line in lines if line.startswith("etcd "))
    assert etcd.split()[:4] == ["etcd", "v3.6.16", "built", "2"]
    assert sum("not built" in line for line in lines) == len(spec.load().builds) - 1
    assert main(["bundle", "build", "--only", "kubernetes", "--kubernetes", "v1.2.3"]) == 2


def test_a_web_ui_is_built_once_in_a_writable_copy_of_the_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Module cache directories are read-only: the UI build gets a writable copy, built once
    until its tools change (keelson.bundle.webui)."""
    module = tmp_path / "mod"
    (module / "web").mkdir(parents=True)
    (module / "web" / "package.json").write_text("{}")
    for path in (module / "web" / "package.json", module / "web", module):
        path.chmod(0o555 if path.is_dir() else 0o444)
    builds: list[Path] = []

    def fake_ui(copy: Path) -> None:
        builds.append(copy)
        (copy / "web" / "dist.js").write_text("built")

    monkeypatch.setitem(webui.BUILDS, "fake", fake_ui)
    work = tmp_path / "work"
    copy = webui.build("fake", module, work)
    assert copy == work / "src" / "fake" and (copy / "web" / "dist.js").read_text() == "built"
    assert webui.build("fake", module, work) == copy and len(builds) == 1
    monkeypatch.setitem(webui.TOOLS, "pnpm", "pnpm@0.0.1")
    webui.build("fake", module, work)
    assert len(builds) == 2
    with pytest.raises(BundleError, match="no web UI build named 'other'"):
        webui.build("other", module, work)
