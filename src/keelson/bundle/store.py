"""The bundle root on disk: where the cache lives, the manifest, atomic writes, archives.

Every artifact is written to a temporary name beside its final path and renamed into place; a
component enters manifest.json only after all its files are in place, so an interrupted build
leaves nothing that `bundle verify` or a cache check would take for a finished one.
"""

import contextlib
import fcntl
import gzip
import hashlib
import json
import os
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from keelson.errors import BundleError

MANIFEST = "manifest.json"
SHA256SUMS = "SHA256SUMS"
FORMAT = 1
TMP_MARK = ".keelson-tmp-"


def cache_dir() -> Path:
    """${KEELSON_CACHE:-~/.cache/keelson}/bundle: outside the checkout, shared by checkouts."""
    base = os.environ.get("KEELSON_CACHE")
    return (Path(base) if base else Path.home() / ".cache" / "keelson") / "bundle"


def default_root() -> Path:
    return cache_dir() / "root"


def sha256_file(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            sha.update(chunk)
    return sha.hexdigest()


@dataclass(frozen=True)
class FileEntry:
    path: str
    sha256: str
    size: int

    @classmethod
    def of(cls, root: Path, rel: str) -> "FileEntry":
        full = root / rel
        return cls(rel, sha256_file(full), full.stat().st_size)


def tmp_path(final: Path) -> Path:
    return final.with_name(f"{final.name}{TMP_MARK}{os.getpid()}")


@contextlib.contextmanager
def atomic_target(final: Path) -> Iterator[Path]:
    """A temporary path to write; renamed to `final` on success, removed on any failure."""
    final.parent.mkdir(parents=True, exist_ok=True)
    # Callers hold the lock for `final`: leftovers of a killed writer can go.
    for stale in final.parent.glob(f"{final.name}{TMP_MARK}*"):
        stale.unlink(missing_ok=True)
    tmp = tmp_path(final)
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive flock on `path` (two `bundle build`s never build the same thing twice)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# Archives are reproducible: sorted members, fixed owner, mode and time, no gzip timestamp.
_MTIME = 0


def write_tar_gz(target: Path, members: list[tuple[str, Path]], directory: str = "") -> None:
    with (
        target.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=_MTIME) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        if directory:
            info = tarfile.TarInfo(directory)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, _MTIME
            tar.addfile(info)
        for name, source in sorted(members):
            info = tarfile.TarInfo(f"{directory}/{name}" if directory else name)
            info.size, info.mode, info.mtime = source.stat().st_size, 0o755, _MTIME
            with source.open("rb") as fh:
                tar.addfile(info, fh)


def write_zip(target: Path, members: list[tuple[str, Path]]) -> None:
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, source in sorted(members):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o100755 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w") as out, source.open("rb") as fh:
                while chunk := fh.read(1 << 20):
                    out.write(chunk)


def write_checksum_files(checksums: dict[str, list[FileEntry]], root: Path) -> list[FileEntry]:
    """Checksum files where upstream publishes them (`sha256sum` lines), so a served bundle is
    also a mirror the `release` source can check against. Returns their entries."""
    written = []
    for path, entries in sorted(checksums.items()):
        text = "".join(f"{e.sha256}  {PurePosixPath(e.path).name}\n" for e in entries)
        with atomic_target(root / path) as tmp:
            tmp.write_text(text)
        written.append(FileEntry.of(root, path))
    return written


def archive_kind(path: str) -> str:
    if path.endswith((".tar.gz", ".tgz")):
        return "tar.gz"
    if path.endswith(".zip"):
        return "zip"
    return "file"


class Manifest:
    """manifest.json: every file with path, sha256, size, component, version, and each build's
    cache key. Updated under a lock by re-reading it, so concurrent builds of different
    components do not lose each other's entries."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.file = root / MANIFEST

    def read(self) -> dict[str, Any]:
        if not self.file.exists():
            return {"format": FORMAT, "builds": {}, "files": []}
        try:
            data: dict[str, Any] = json.loads(self.file.read_text())
        except (OSError, ValueError) as exc:
            raise BundleError(f"{self.file}: unreadable manifest ({exc})") from exc
        if data.get("format") != FORMAT:
            raise BundleError(f"{self.file}: manifest format {data.get('format')} unknown")
        return data

    def builds(self) -> dict[str, dict[str, Any]]:
        builds: dict[str, dict[str, Any]] = self.read()["builds"]
        return builds

    def files(self) -> list[dict[str, Any]]:
        files: list[dict[str, Any]] = self.read()["files"]
        return files

    @contextlib.contextmanager
    def _update(self) -> Iterator[dict[str, Any]]:
        with locked(self.root / ".manifest.lock"):
            data = self.read()
            yield data
            data["files"].sort(key=lambda f: f["path"])
            with atomic_target(self.file) as tmp:
                tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
            sums = "".join(f"{f['sha256']}  {f['path']}\n" for f in data["files"])
            with atomic_target(self.root / SHA256SUMS) as tmp:
                tmp.write_text(sums)

    def forget(self, build_id: str) -> None:
        with self._update() as data:
            data["builds"].pop(build_id, None)
            data["files"] = [f for f in data["files"] if f["build"] != build_id]

    def record(
        self,
        build_id: str,
        info: dict[str, Any],
        entries: list[FileEntry],
        component: str,
        version: str,
    ) -> None:
        with self._update() as data:
            data["builds"][build_id] = info
            paths = {e.path for e in entries}
            data["files"] = [
                f for f in data["files"] if f["build"] != build_id and f["path"] not in paths
            ]
            data["files"] += [
                {
                    "path": e.path,
                    "sha256": e.sha256,
                    "size": e.size,
                    "component": component,
                    "version": version,
                    "build": build_id,
                }
                for e in entries
            ]


@dataclass
class Problem:
    path: str
    message: str


def verify(root: Path) -> tuple[int, list[Problem], list[str]]:
    """Recompute every sha256 in the manifest: (files checked, problems, files not listed)."""
    manifest = Manifest(root)
    if not manifest.file.exists():
        raise BundleError(f"no {MANIFEST} in {root}: run `keelson bundle build` first")
    files = manifest.files()
    problems: list[Problem] = []
    for entry in files:
        full = root / entry["path"]
        if not full.is_file():
            problems.append(Problem(entry["path"], "missing"))
            continue
        digest = sha256_file(full)
        if digest != entry["sha256"]:
            problems.append(
                Problem(entry["path"], f"sha256 {digest}, manifest says {entry['sha256']}")
            )
    listed = {f["path"] for f in files} | {MANIFEST, SHA256SUMS}
    extra = sorted(
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
        and str(p.relative_to(root)) not in listed
    )
    return len(files), problems, extra
