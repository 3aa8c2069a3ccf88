"""The image pipeline's graph and content tags, on small trees written per test (no Docker)."""

import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from keelson import images
from keelson.cli import main
from keelson.errors import ImageError
from keelson.paths import project_root


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


# A tree that uses every FROM form the parser must understand.
TREE = {
    "base/Dockerfile": "FROM scratch\nCOPY motd /etc/motd\n",
    "base/motd": "hello\n",
    "base/VERSION": "1.0.0\n",
    "runtime/a/Dockerfile": "# runtime a\nFROM keelson/base\nCOPY a.txt /\n",
    "runtime/a/a.txt": "a\n",
    "runtime/b/Dockerfile": (
        'ARG PARENT=keelson/base\nFROM ${PARENT}\nLABEL org.opencontainers.image.version="2.1"\n'
    ),
    "service/x/Dockerfile": "FROM keelson/runtime/a:whatever\nCOPY app /app\n",
    "service/x/app": "x\n",
    "service/y/Dockerfile": (
        "FROM --platform=linux/amd64 keelson/runtime/b AS build\n"
        "RUN true\n"
        "FROM build\n"
        "COPY --from=build /etc/motd /motd\n"
    ),
    "service/y/.dockerignore": "*.log\n",
}
TREE_IMAGES = ["base", "runtime/a", "runtime/b", "service/x", "service/y"]


@pytest.fixture
def tree_dir(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "images", TREE)


def digests(root: Path) -> dict[str, str | None]:
    return {p.image.name: p.digest for p in images.plan(images.load_tree(root), bundle=root)}


def test_graph_comes_from_the_from_lines(tree_dir: Path) -> None:
    tree = images.load_tree(tree_dir)
    assert set(tree.images) == {"base", "runtime/a", "runtime/b", "service/x", "service/y"}
    assert tree.images["runtime/a"].parents == ["base"]
    assert tree.images["runtime/b"].parents == ["base"]  # through the ARG default
    assert tree.images["service/x"].parents == ["runtime/a"]  # a tag in FROM is ignored
    assert tree.images["service/y"].parents == ["runtime/b"]  # `FROM build` is a stage
    assert tree.children("base") == ["runtime/a", "runtime/b"]
    assert tree.children("runtime/a") == ["service/x"]


def test_versions_come_from_version_file_or_label(tree_dir: Path) -> None:
    tree = images.load_tree(tree_dir)
    assert tree.images["base"].version == "1.0.0"
    assert tree.images["runtime/b"].version == "2.1"
    assert tree.images["runtime/a"].version is None


def test_parents_are_built_before_children(tree_dir: Path) -> None:
    order = images.load_tree(tree_dir).order()
    assert sorted(order) == sorted(TREE_IMAGES)
    for child, parent in [
        ("runtime/a", "base"),
        ("service/x", "runtime/a"),
        ("service/y", "runtime/b"),
    ]:
        assert order.index(parent) < order.index(child)


def test_targets_bring_their_ancestors_only(tree_dir: Path) -> None:
    assert images.load_tree(tree_dir).order(["service/x"]) == ["base", "runtime/a", "service/x"]


def test_unknown_target_is_refused(tree_dir: Path) -> None:
    with pytest.raises(ImageError, match="no image 'service/nope'"):
        images.load_tree(tree_dir).order(["service/nope"])


def test_from_an_unknown_local_image_names_file_and_line(tree_dir: Path) -> None:
    write_tree(tree_dir, {"service/z/Dockerfile": "# z\n\nFROM keelson/runtime/nope\n"})
    with pytest.raises(ImageError) as err:
        images.load_tree(tree_dir)
    assert str(err.value).startswith("service/z/Dockerfile:3: FROM keelson/runtime/nope")
    assert "no Dockerfile in images/runtime/nope/" in str(err.value)


def test_a_cycle_names_file_line_and_path(tree_dir: Path) -> None:
    # base is FROM service/x, which is FROM runtime/a, which is FROM base
    write_tree(tree_dir, {"base/Dockerfile": "FROM scratch AS s\nFROM keelson/service/x\n"})
    with pytest.raises(ImageError, match=r"Dockerfile:\d+: FROM keelson/\S+ closes a cycle") as err:
        images.load_tree(tree_dir)
    assert "(base FROM service/x FROM runtime/a FROM base)" in str(err.value)


def test_arg_without_default_in_from_is_refused(tree_dir: Path) -> None:
    write_tree(tree_dir, {"runtime/b/Dockerfile": "ARG PARENT\n\nFROM ${PARENT}\n"})
    with pytest.raises(ImageError, match=r"runtime/b/Dockerfile:3: \$\{PARENT\} has no value"):
        images.load_tree(tree_dir)


def test_continuation_lines_and_external_images(tree_dir: Path) -> None:
    write_tree(tree_dir, {"runtime/b/Dockerfile": "FROM \\\n  debian:bookworm\nRUN true\n"})
    tree = images.load_tree(tree_dir)
    assert tree.images["runtime/b"].parents == []
    assert tree.images["runtime/b"].froms[0].ref == "debian:bookworm"


def test_lab_host_and_testing_are_not_part_of_the_tree(tree_dir: Path) -> None:
    write_tree(tree_dir, {"lab-host/Dockerfile": "FROM keelson/nothing\n"})
    assert "lab-host" not in images.load_tree(tree_dir).images


def test_content_tags_are_stable(tree_dir: Path) -> None:
    assert digests(tree_dir) == digests(tree_dir)


def test_touching_a_runtime_changes_it_and_its_services_only(tree_dir: Path) -> None:
    before = digests(tree_dir)
    (tree_dir / "runtime" / "a" / "a.txt").write_text("a, changed\n")
    after = digests(tree_dir)
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {"runtime/a", "service/x"}


def test_touching_base_changes_everything(tree_dir: Path) -> None:
    before = digests(tree_dir)
    (tree_dir / "base" / "motd").write_text("changed\n")
    after = digests(tree_dir)
    assert all(before[name] != after[name] for name in before)


def test_ignored_files_do_not_change_the_tag(tree_dir: Path) -> None:
    before = digests(tree_dir)
    (tree_dir / "service" / "y" / "debug.log").write_text("noise\n")
    assert digests(tree_dir) == before
    (tree_dir / "service" / "y" / "new.txt").write_text("content\n")
    assert digests(tree_dir)["service/y"] != before["service/y"]


def test_a_file_mode_change_changes_the_tag(tree_dir: Path) -> None:
    before = digests(tree_dir)
    (tree_dir / "service" / "x" / "app").chmod(0o755)
    assert digests(tree_dir)["service/x"] != before["service/x"]


def test_pinned_dockerfile_uses_the_parents_content_tag(tree_dir: Path) -> None:
    planned = images.plan(images.load_tree(tree_dir), bundle=tree_dir)
    by_name = {p.image.name: p for p in planned}
    text = images.builder._pinned_dockerfile(by_name["runtime/b"], by_name)
    assert f"FROM {by_name['base'].tag}\n" in text
    assert by_name["base"].tag == f"keelson/base:{by_name['base'].digest}"
    assert by_name["service/x"].remote_tags == [by_name["service/x"].digest]
    assert by_name["base"].remote_tags == [by_name["base"].digest, "1.0.0"]


def test_bundle_files_are_inputs_and_missing_ones_skip_the_subtree(tree_dir: Path) -> None:
    bundle = tree_dir.parent / "bundle"
    write_tree(
        tree_dir,
        {
            "runtime/a/VERSION": "v1.2.3\n",
            "runtime/a/BUNDLE": "# from the bundle\ndl.example/{version}/tool-{bare}\n",
        },
    )
    tree = images.load_tree(tree_dir)
    assert tree.images["runtime/a"].bundle_files == ["dl.example/v1.2.3/tool-1.2.3"]
    skipped = {p.image.name: p.skipped for p in images.plan(tree, bundle=bundle)}
    assert "no tool-1.2.3 in the bundle" in str(skipped["runtime/a"])
    assert skipped["service/x"] == "its parent runtime/a is skipped"
    assert skipped["runtime/b"] is None
    write_tree(bundle, {"dl.example/v1.2.3/tool-1.2.3": "binary 1"})
    first = {p.image.name: p.digest for p in images.plan(tree, bundle=bundle)}
    assert first["runtime/a"] and first["service/x"]
    write_tree(bundle, {"dl.example/v1.2.3/tool-1.2.3": "binary 2"})
    second = {p.image.name: p.digest for p in images.plan(tree, bundle=bundle)}
    assert {n for n in first if first[n] != second[n]} == {"runtime/a", "service/x"}
    # With a manifest, its sha256 is the input, and a file it does not list is not finished.
    manifest = {"files": [{"path": "other", "sha256": "0" * 64, "size": 1}], "format": 1}
    write_tree(bundle, {"manifest.json": json.dumps(manifest)})
    assert next(p for p in images.plan(tree, bundle=bundle) if p.image.name == "runtime/a").skipped
    entry = {"path": "dl.example/v1.2.3/tool-1.2.3", "sha256": "a" * 64, "size": 8}
    write_tree(bundle, {"manifest.json": json.dumps({"files": [entry], "format": 1})})
    third = {p.image.name: p.digest for p in images.plan(tree, bundle=bundle)}
    assert third["runtime/a"] and third["runtime/a"] != second["runtime/a"]


def test_version_list_makes_one_image_per_version_and_children_are_refused(
    tree_dir: Path,
) -> None:
    write_tree(tree_dir, {"service/y/VERSION": "v1\nv2\n"})
    tree = images.load_tree(tree_dir)
    assert {"service/y@v1", "service/y@v2"} <= set(tree.images)
    assert tree.order(["service/y"])[-2:] == ["service/y@v1", "service/y@v2"]
    digests = {p.image.name: p.digest for p in images.plan(tree, bundle=tree_dir)}
    assert digests["service/y@v1"] != digests["service/y@v2"]
    write_tree(tree_dir, {"runtime/b/VERSION": "v1\nv2\n"})
    with pytest.raises(ImageError, match=r"service/y/Dockerfile:1: .*several versions"):
        images.load_tree(tree_dir)


def test_render_graph_draws_the_tree(tree_dir: Path) -> None:
    planned = images.plan(images.load_tree(tree_dir), bundle=tree_dir)
    text = images.render_graph(planned, built={"base"})
    lines = text.splitlines()
    assert lines[0] == "scratch"
    assert lines[1].startswith("└── base  1.0.0  ")
    assert any(line.startswith("    ├── runtime/a  ") and line.endswith("*") for line in lines)
    assert any(line.startswith("    │   └── service/x  ") for line in lines)


def test_cli_reports_a_broken_tree_in_one_line(
    tree_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_tree(tree_dir, {"service/z/Dockerfile": "FROM keelson/missing\n"})
    code = main(["images", "graph", "--images-dir", str(tree_dir)])
    err = capsys.readouterr().err
    assert code == ImageError.exit_code
    assert err.count("\n") == 1
    assert "service/z/Dockerfile:1: FROM keelson/missing" in err


def test_the_project_tree_is_layered_as_designed() -> None:
    tree = images.load_tree()
    assert tree.images["base"].froms[0].provided == "rootfs"
    runtimes = [n for n in tree.images if n.startswith("runtime/")]
    assert len(runtimes) >= 2
    assert all(tree.images[n].parents == ["base"] for n in runtimes)
    assert tree.images["service/hello"].parents == ["runtime/python"]
    # A sample service's Dockerfile only adds its code to a runtime.
    hello = (tree.images["service/hello"].dockerfile).read_text()
    assert "RUN" not in hello
    pins = yaml.safe_load((project_root() / "versions.yml").read_text())["components"]
    for version in pins["kubernetes"]["versions"]:
        for component in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
            assert tree.images[f"cluster/{component}@{version}"].version == version
    assert tree.images["cluster/coredns"].version == pins["coredns"]["version"]
    assert tree.images["cluster/pause"].bundle_files == []


def test_args_follow_dockers_scopes(tree_dir: Path) -> None:
    write_tree(
        tree_dir,
        {
            "runtime/b/Dockerfile": (
                "ARG PARENT=keelson/base\nARG V=3.0\nFROM ${PARENT}\nARG V\nARG PARENT=nothing\n"
                'LABEL org.opencontainers.image.version="${V}-1"\nFROM ${PARENT}\n'
            ),
        },
    )
    image = images.load_tree(tree_dir).images["runtime/b"]
    assert image.version == "3.0-1"  # `ARG V` in the stage takes the global default
    assert image.parents == ["base"]  # FROM sees only the ARGs before the first FROM
    assert [f.parent for f in image.froms] == ["base", "base"]


class FakeRegistry(ThreadingHTTPServer):
    """Serves manifests {(repository, tag): manifest} and the blobs named in BLOBS."""

    def __init__(self, manifests: dict[tuple[str, str], dict[str, Any]], blobs: set[str]) -> None:
        self.manifests = manifests
        self.blobs = blobs
        super().__init__(("127.0.0.1", 0), FakeRegistryHandler)


class FakeRegistryHandler(BaseHTTPRequestHandler):
    server: FakeRegistry

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        repository, _, tag = self.path.removeprefix("/v2/").rpartition("/manifests/")
        manifest = self.server.manifests.get((repository, tag))
        body = json.dumps(manifest).encode()
        self.send_response(200 if manifest else 404)
        if manifest:
            digest = "sha256:" + hashlib.sha256(body).hexdigest()
            self.send_header("Docker-Content-Digest", digest)
        self.end_headers()
        if manifest:
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        blob = self.path.rpartition("/blobs/")[2]
        self.send_response(200 if blob in self.server.blobs else 404)
        self.end_headers()


@pytest.fixture
def fake_registry() -> Iterator[FakeRegistry]:
    server = FakeRegistry({}, set())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_verify_reads_the_registry_http_api_and_names_each_problem(
    tree_dir: Path, fake_registry: FakeRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = images.load_tree(tree_dir)
    planned = {p.image.name: p for p in images.plan(tree, bundle=tree_dir)}
    monkeypatch.setattr(images.registry, "local_image_id", lambda tag: f"sha256:id-of-{tag}")
    good = {"config": {"digest": ""}, "layers": [{"digest": "sha256:layer"}]}
    for p in planned.values():
        manifest = {**good, "config": {"digest": f"sha256:id-of-{p.tag}"}}
        for tag in p.remote_tags:
            fake_registry.manifests[(p.image.path, tag)] = manifest
        fake_registry.blobs.add(f"sha256:id-of-{p.tag}")
    fake_registry.blobs.add("sha256:layer")
    registry = f"127.0.0.1:{fake_registry.server_address[1]}"
    assert images.verify(tree, registry).problems == []
    # The version tag moved to another image, a config differs, a blob is gone.
    base = planned["base"]
    fake_registry.manifests[("base", "1.0.0")] = {**good, "config": {"digest": "sha256:other"}}
    fake_registry.manifests[("runtime/a", planned["runtime/a"].digest or "")]["config"] = {
        "digest": "sha256:stale"
    }
    fake_registry.blobs.discard("sha256:layer")
    del fake_registry.manifests[("service/x", planned["service/x"].digest or "")]
    problems = images.verify(tree, registry).problems
    assert "base:1.0.0 is sha256:" in "\n".join(problems)
    assert f"runtime/a:{planned['runtime/a'].digest} holds sha256:stale, not sha256:id-of-" in (
        "\n".join(problems)
    )
    assert f"service/x:{planned['service/x'].digest} is not in the registry" in problems
    assert "base: blob sha256:layer answers 404" in problems
    assert base.tag.startswith("keelson/base:")
