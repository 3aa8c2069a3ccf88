"""The `release` source: download official artifacts and check them against published sha256s.

`base_url` is the upstream (https://, so a path such as dl.k8s.io/release/... is the official
URL) or an HTTP mirror laid out the same way. A digest that differs from the published one is
refused, naming the file and both digests, and nothing is left at the artifact's path.
"""

import hashlib
import re
import urllib.error
import urllib.request
from pathlib import Path, PurePosixPath
from typing import Any

from keelson.bundle import store
from keelson.bundle.spec import Build
from keelson.errors import BundleError

HEX64 = re.compile(r"^[0-9a-f]{64}$")
TIMEOUT = 60


def url_for(base_url: str, path: str) -> str:
    base = base_url if base_url.endswith("://") else base_url.rstrip("/") + "/"
    return base + path


def _open(url: str) -> Any:
    try:
        return urllib.request.urlopen(url, timeout=TIMEOUT)
    except urllib.error.HTTPError as exc:
        raise BundleError(f"download {url}: HTTP {exc.code} {exc.reason}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise BundleError(f"download {url}: {exc}") from exc


def parse_checksum(text: str, filename: str, where: str) -> str:
    """The digest for `filename` in a checksum file: a bare digest, or `sha256sum` lines."""
    tokens = text.split()
    if len(tokens) == 1 and HEX64.match(tokens[0].lower()):
        return tokens[0].lower()
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and HEX64.match(parts[0].lower()):
            name = parts[1].lstrip("*")
            if name == filename or PurePosixPath(name).name == filename:
                return parts[0].lower()
    raise BundleError(f"{where} lists no sha256 for {filename}")


def expected_sha256(build: Build, base_url: str, artifact: str) -> str:
    pinned = build.pinned_sha256.get(artifact)
    if pinned:
        return pinned.lower()
    checksum_path = build.checksum_path(artifact)
    if checksum_path is None:
        raise BundleError(
            f"{build.name}: upstream publishes no checksum for {artifact}; "
            f"pin it under `sha256:` in versions.yml"
        )
    url = url_for(base_url, checksum_path)
    with _open(url) as resp:
        text = resp.read(1 << 20).decode(errors="replace")
    return parse_checksum(text, PurePosixPath(artifact).name, url)


def fetch(build: Build, base_url: str, artifact: str, root: Path) -> store.FileEntry:
    """Download one artifact into `root` if its digest matches the published one."""
    expected = expected_sha256(build, base_url, artifact)
    url = url_for(base_url, artifact)
    final = root / artifact
    sha = hashlib.sha256()
    size = 0
    with store.atomic_target(final) as tmp:
        with _open(url) as resp, tmp.open("wb") as out:
            while chunk := resp.read(1 << 20):
                sha.update(chunk)
                size += len(chunk)
                out.write(chunk)
        digest = sha.hexdigest()
        if digest != expected:
            raise BundleError(
                f"checksum mismatch for {artifact}: downloaded sha256 {digest}, "
                f"published {expected}; refused (nothing kept)"
            )
    return store.FileEntry(artifact, digest, size)
