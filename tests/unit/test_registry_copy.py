"""keelson.images.registry.copy between two real registries (the tree's service/registry image,
the one lab registries and the image cache run), with an image Docker built and pushed into the
first: the second serves the same manifests (same digests) and Docker pulls the image from it."""

from __future__ import annotations

import json
import subprocess
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from keelson import dockercli, images
from keelson.errors import ImageError
from keelson.images import cache, registry


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def registries() -> Iterator[tuple[str, str]]:
    """Two empty registries on 127.0.0.1."""
    if not dockercli.engine_running():
        pytest.fail("the Docker engine is not running: run `make setup` first")
    image = images.ensure_image(cache.REGISTRY_IMAGE, lambda message: None)
    names = [f"keelson-test-registry-{uuid.uuid4().hex[:8]}" for _ in range(2)]
    try:
        addresses = []
        for name in names:
            docker("run", "--detach", "--name", name, "--publish", "127.0.0.1::5000", image)
            address = docker("port", name, "5000/tcp").split()[0]
            assert cache.answers(address), name
            addresses.append(address)
        yield addresses[0], addresses[1]
    finally:
        subprocess.run(["docker", "rm", "--force", *names], capture_output=True, check=False)


def manifest(address: str, repository: str, tag: str) -> tuple[str, bytes]:
    request = urllib.request.Request(
        f"http://{address}/v2/{repository}/manifests/{tag}",
        headers={"Accept": ", ".join(registry.MANIFEST_TYPES)},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.headers["Docker-Content-Digest"], response.read()


def test_copy_gives_the_target_the_same_manifests_and_a_pullable_image(
    registries: tuple[str, str], tmp_path: Path
) -> None:
    source, target = registries
    (tmp_path / "payload").write_bytes(uuid.uuid4().bytes * 4096)
    (tmp_path / "Dockerfile").write_text("FROM scratch\nCOPY payload /payload\n")
    local = f"keelson-test/copied:{uuid.uuid4().hex[:8]}"
    docker("build", "--quiet", "--tag", local, str(tmp_path))
    built = docker("image", "inspect", "--format", "{{.Id}}", local).strip()
    pulled = f"{target}/test/copied:v1"
    try:
        for tag in ("v1", "content"):
            docker("tag", local, f"{source}/test/copied:{tag}")
            docker("push", f"{source}/test/copied:{tag}")
            docker("rmi", f"{source}/test/copied:{tag}")

        registry.copy(source, target, "test/copied", ["v1", "content"])
        registry.copy(source, target, "test/copied", ["v1"])  # again: the blobs are there

        for tag in ("v1", "content"):
            assert manifest(target, "test/copied", tag) == manifest(source, "test/copied", tag)
        document = json.loads(manifest(target, "test/copied", "v1")[1])
        assert document["config"]["digest"] == built
        docker("pull", pulled)
        assert docker("image", "inspect", "--format", "{{.Id}}", pulled).strip() == built
    finally:
        subprocess.run(["docker", "rmi", local, pulled], capture_output=True, check=False)


def test_copy_of_a_tag_the_source_lacks_names_it(registries: tuple[str, str]) -> None:
    source, target = registries
    with pytest.raises(ImageError) as err:
        registry.copy(source, target, "test/missing", ["v9"])
    assert "GET manifest test/missing:v9 answered 404" in str(err.value)
