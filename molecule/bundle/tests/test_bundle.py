"""The bundle role on host1, installing from the files mirror that host2 serves (prepare.yml)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from scenario_helpers import molecule_host, molecule_inventory, run_playbook

SCENARIO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def host() -> Any:
    return molecule_host("bundle-host1")


def test_archive_is_unpacked_per_version_and_linked(host: Any) -> None:
    link = host.file("/usr/local/bin/hello")
    assert link.is_symlink and link.linked_to == "/opt/keelson/hello-v1/hello-v1/hello"
    assert host.check_output("hello") == "hello v1"


def test_bare_executable_is_linked_from_the_cache(host: Any) -> None:
    cached = "/var/cache/keelson/bundle/tool-v1/tool.amd64"
    assert host.file("/usr/local/bin/tool").linked_to == cached
    assert host.check_output("tool") == "tool v1"


def test_cached_files_match_the_manifest(host: Any) -> None:
    manifest = json.loads(
        (Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "manifest.json").read_text()
    )
    sums = {Path(f["path"]).name: f["sha256"] for f in manifest["files"]}
    for name in ("hello-v1/hello-v1.tar.gz", "tool-v1/tool.amd64"):
        cached = host.file(f"/var/cache/keelson/bundle/{name}")
        assert cached.sha256sum == sums[Path(name).name]


def _converge_with(artifacts: list[dict[str, Any]]) -> Any:
    extra = json.dumps({"bundle_artifacts": artifacts})
    return run_playbook(
        ["-i", molecule_inventory(), str(SCENARIO / "converge.yml"), "-e", extra],
        env=dict(os.environ),
    )


def test_a_wrong_sha256_is_refused_and_nothing_is_installed(host: Any) -> None:
    artifacts = [
        {
            "name": "hello-v2",
            "path": "example.org/hello/releases/v2/hello-v2.tar.gz",
            "sha256": "0" * 64,
            "links": {"/usr/local/bin/hello": "hello-v2/hello"},
        }
    ]
    run = _converge_with(artifacts)
    assert run.rc != 0
    assert "hello-v2" in run.text and "checksum" in run.text.lower(), run
    # Nothing kept in the artifact's cache directory (the download is refused, not stored).
    assert not host.file("/var/cache/keelson/bundle/hello-v2/hello-v2.tar.gz").exists
    assert host.run_test("ls -A /var/cache/keelson/bundle/hello-v2").stdout == ""
    assert not host.file("/opt/keelson/hello-v2/hello-v2").exists
    assert host.check_output("hello") == "hello v1"  # the installed version still in place


def test_an_artifact_missing_from_the_manifest_is_refused_before_any_download(host: Any) -> None:
    artifacts = [
        {
            "name": "ghost",
            "path": "example.org/ghost.tar.gz",
            "links": {"/usr/local/bin/ghost": "g"},
        }
    ]
    run = _converge_with(artifacts)
    assert run.rc != 0
    assert "example.org/ghost.tar.gz is not in the bundle's manifest" in run.text, run
    assert not host.file("/var/cache/keelson/bundle/ghost").exists
    assert not host.file("/opt/keelson/ghost").exists
