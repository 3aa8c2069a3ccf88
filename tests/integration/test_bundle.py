"""The bundle's source path with real Go: crictl (the smallest pinned component) built through the
Go module proxy, stamped with its release, cached, verified and served as a files mirror.

Cold cost on a fresh machine is about a minute (module downloads and compile of crictl only);
the generated module and Go's caches live in the user cache, so re-runs take seconds. Kubernetes
is never built here: `keelson bundle build` (or tests/bench/bundle.py) measures that.
"""

import hashlib
import json
import shutil
import subprocess
import tarfile
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from keelson import bundle
from keelson.bundle import spec
from tests.integration.conftest import keelson

pytestmark = pytest.mark.integration

if shutil.which("go") is None:
    pytest.skip("the source build needs a Go toolchain on PATH", allow_module_level=True)


@pytest.fixture(scope="module")
def crictl_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("bundle-root")
    first = keelson("bundle", "build", "--only", "crictl", "--root", str(root))
    assert first.code == 0, first.err
    yield root


def _crictl() -> spec.Build:
    return spec.load().select(only=["crictl"])[0]


def test_crictl_reports_the_pinned_release(crictl_root: Path, tmp_path: Path) -> None:
    build = _crictl()
    with tarfile.open(crictl_root / build.artifact_path()) as tar:
        assert tar.getnames() == ["crictl"]
        tar.extractall(tmp_path, filter="data")
    out = subprocess.run(
        [str(tmp_path / "crictl"), "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == f"crictl version {build.version}"


def test_second_build_is_cached(crictl_root: Path) -> None:
    again = keelson("bundle", "build", "--only", "crictl", "--root", str(crictl_root))
    assert again.code == 0, again.err
    assert f"crictl {_crictl().version}: cached" in again.out
    assert "0 built, 1 cached" in again.out


def test_verify_passes_then_names_a_modified_file(crictl_root: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(crictl_root, copy)
    assert keelson("bundle", "verify", "--root", str(copy)).code == 0
    artifact = _crictl().artifact_path()
    with (copy / artifact).open("ab") as fh:
        fh.write(b"\0")
    tampered = keelson("bundle", "verify", "--root", str(copy))
    assert tampered.code == 9
    assert f"FAILED {artifact}" in tampered.err


def test_serve_is_a_files_mirror(crictl_root: Path) -> None:
    server = bundle.make_server(crictl_root, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        with urllib.request.urlopen(f"{base}/manifest.json", timeout=10) as resp:
            manifest = json.load(resp)
        entry = next(f for f in manifest["files"] if f["component"] == "crictl")
        with urllib.request.urlopen(f"{base}/{entry['path']}", timeout=10) as resp:
            assert hashlib.sha256(resp.read()).hexdigest() == entry["sha256"]
    finally:
        server.shutdown()
        server.server_close()
