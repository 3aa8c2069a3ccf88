"""The registry: pushing built images and verifying what it serves."""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from keelson import dockercli, external
from keelson.errors import ImageError
from keelson.images import cache
from keelson.images.builder import BuildReport, build, local_image_id
from keelson.images.tags import Planned, plan
from keelson.images.tree import Progress, Tree

MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
)


# ---------------------------------------------------------------------------------------------
# Registry


def _registry_url(registry: str) -> str:
    if registry.startswith(("http://", "https://")):
        return registry.rstrip("/")
    host = registry.split(":", 1)[0]
    loopback = host == "localhost" or host.startswith("127.")
    return f"{'http' if loopback else 'https'}://{registry}"


def _registry_host(registry: str) -> str:
    return registry.split("://", 1)[-1].rstrip("/")


def _request(url: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(
        url, method=method, headers={"Accept": ", ".join(MANIFEST_TYPES)}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers.items()), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers.items()), b""
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ImageError(f"registry {url.split('/v2/')[0]} does not answer: {reason}") from None


@dataclass(frozen=True)
class RemoteManifest:
    digest: str
    config: str
    layers: tuple[str, ...]


def remote_manifest(registry: str, name: str, tag: str) -> RemoteManifest | None:
    """GET /v2/<name>/manifests/<tag>: the manifest's digest, config and layers, or None."""
    status, headers, body = _request(f"{_registry_url(registry)}/v2/{name}/manifests/{tag}")
    if status == 404:
        return None
    if status != 200:
        raise ImageError(f"registry {registry}: GET manifest {name}:{tag} answered {status}")
    document: dict[str, Any] = json.loads(body)
    digest = headers.get("Docker-Content-Digest") or "sha256:" + hashlib.sha256(body).hexdigest()
    layers = tuple(str(layer["digest"]) for layer in document.get("layers", []))
    return RemoteManifest(digest, str(document.get("config", {}).get("digest", "")), layers)


@dataclass
class PushReport:
    pushed: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return f"{len(self.pushed)} pushed, {len(self.present)} already in the registry"


def _in_registry(registry: str, planned: Planned, image_id: str) -> bool:
    for tag in planned.remote_tags:
        found = remote_manifest(registry, planned.image.path, tag)
        if found is None or found.config != image_id:
            return False
    return True


def push(
    tree: Tree,
    registry: str,
    progress: Progress,
    targets: Iterable[str] | None = None,
    bundle: Path | None = None,
) -> tuple[BuildReport, PushReport]:
    """Build what is missing, then push each image under its content and version tags: into the
    machine's image cache first (`docker push`, which compresses its layers: once per machine),
    then from the cache to REGISTRY over the registry API (images/cache.py says why)."""
    built = build(tree, progress, targets, bundle)
    report = PushReport()
    cache_registry = ""
    for planned in built.planned:
        if planned.skipped:
            continue
        name = planned.image.name
        image_id = local_image_id(planned.tag)
        assert image_id is not None, planned.tag
        if _in_registry(registry, planned, image_id):
            report.present.append(name)
            continue
        cache_registry = cache_registry or cache.endpoint(progress)
        if not _in_registry(cache_registry, planned, image_id):
            progress(f"pushing {name} into the image cache")
            _docker_push(cache_registry, planned)
        progress(f"pushing {name} as {', '.join(planned.remote_tags)}")
        copy(cache_registry, registry, planned.image.path, planned.remote_tags)
        report.pushed.append(name)
    return built, report


def _docker_push(registry: str, planned: Planned) -> None:
    host = _registry_host(registry)
    for tag in planned.remote_tags:
        remote = f"{host}/{planned.image.path}:{tag}"
        dockercli.run("tag", planned.tag, remote, error=ImageError)
        proc = dockercli.result("push", remote, error=ImageError, timeout=external.BUILD, text=True)
        # The registry-named tag is only a vehicle for the push.
        dockercli.run("rmi", remote, error=ImageError, check=False)
        if proc.returncode != 0:
            tail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-1:] or ["?"]
            raise ImageError(f"docker push {remote} failed: {tail[0]}")


def copy(source: str, target: str, repository: str, tags: Iterable[str]) -> None:
    """Copy REPOSITORY's TAGS from registry SOURCE to TARGET over the registry API: the blobs
    TARGET lacks, then each tag's manifest byte for byte (same digests as in SOURCE)."""
    src, dst = _registry_url(source), _registry_url(target)
    for tag in tags:
        status, headers, body = _request(f"{src}/v2/{repository}/manifests/{tag}")
        if status != 200:
            raise ImageError(
                f"registry {source}: GET manifest {repository}:{tag} answered {status}"
            )
        document = json.loads(body)
        digests = [document["config"]["digest"]] + [layer["digest"] for layer in document["layers"]]
        for digest in digests:
            if _request(f"{dst}/v2/{repository}/blobs/{digest}", method="HEAD")[0] != 200:
                _copy_blob(f"{src}/v2/{repository}/blobs/{digest}", dst, repository, digest)
        kind = headers.get("Content-Type", MANIFEST_TYPES[0])
        _send(f"{dst}/v2/{repository}/manifests/{tag}", "PUT", body, {"Content-Type": kind})


def _copy_blob(url: str, dst: str, repository: str, digest: str) -> None:
    """The blob at URL into registry DST, streamed (a monolithic upload: POST, then one PUT)."""
    started = _send(f"{dst}/v2/{repository}/blobs/uploads/", "POST", b"", {})
    location = urllib.parse.urljoin(dst, started.get("Location", ""))
    separator = "&" if "?" in location else "?"
    try:
        with urllib.request.urlopen(url, timeout=30) as blob:
            size = blob.headers.get("Content-Length")
            data = blob if size else blob.read()
            headers = {"Content-Type": "application/octet-stream"}
            headers["Content-Length"] = size or str(len(data))
            _send(f"{location}{separator}digest={digest}", "PUT", data, headers)
    except urllib.error.HTTPError as exc:
        raise ImageError(f"GET {url} answered {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise ImageError(f"GET {url}: {getattr(exc, 'reason', exc)}") from None


def _send(url: str, method: str, data: Any, headers: dict[str, str]) -> dict[str, str]:
    """METHOD URL with DATA (bytes or a file to stream); the response headers of a 2xx answer."""
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=external.DOCKER) as response:
            return dict(response.headers.items())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace").strip()[:200]
        raise ImageError(f"{method} {url.split('?')[0]} answered {exc.code}: {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ImageError(f"registry {url.split('/v2/')[0]} does not answer: {reason}") from None


@dataclass
class VerifyReport:
    verified: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def verify(
    tree: Tree,
    registry: str,
    targets: Iterable[str] | None = None,
    bundle: Path | None = None,
) -> VerifyReport:
    """Check through the registry's HTTP API that it serves every image of the tree: each tag's
    manifest, the same manifest under the content and the version tag, the local image's config
    digest, and every blob."""
    report = VerifyReport()
    base_url = _registry_url(registry)
    for planned in plan(tree, targets, bundle):
        if planned.skipped:
            continue
        name = planned.image.name
        problems: list[str] = []
        repo = planned.image.path
        manifests = {tag: remote_manifest(registry, repo, tag) for tag in planned.remote_tags}
        for tag, found in manifests.items():
            if found is None:
                problems.append(f"{repo}:{tag} is not in the registry")
        content = manifests[planned.digest or ""]
        if content is not None:
            image_id = local_image_id(planned.tag)
            if image_id is not None and content.config != image_id:
                problems.append(f"{repo}:{planned.digest} holds {content.config}, not {image_id}")
            for tag, found in manifests.items():
                if found is not None and found.digest != content.digest:
                    problems.append(f"{repo}:{tag} is {found.digest}, not {content.digest}")
            for blob in (content.config, *content.layers):
                status, _, _ = _request(f"{base_url}/v2/{repo}/blobs/{blob}", method="HEAD")
                if status != 200:
                    problems.append(f"{repo}: blob {blob} answers {status}")
        if problems:
            report.problems.extend(problems)
        else:
            report.verified.append(name)
    return report
