"""Building the bundle: each pinned component built (or downloaded) once into the root, keyed by
what its artifacts depend on; listing what is built, verifying the root against its manifest,
and checking that each binary reports the version it is pinned at."""

import hashlib
import json
import os
import subprocess
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from keelson import table
from keelson.bundle import gomod, release, source, spec, store, webui
from keelson.bundle.recipes import RECIPES, Recipe
from keelson.errors import BundleError

SOURCES = ("source", "release")
# Bumped when what a build puts in the root changes (2: checksum files beside the artifacts).
LAYOUT = 2
Progress = Callable[[str], None]


def default_source() -> str:
    chosen = os.environ.get("KEELSON_BUNDLE_SOURCE", "source")
    if chosen not in SOURCES:
        raise BundleError(f"KEELSON_BUNDLE_SOURCE={chosen}: expected one of {', '.join(SOURCES)}")
    return chosen


def build_id(build: spec.Build) -> str:
    return f"{build.component}@{build.version}"


def recipe_for(build: spec.Build) -> Recipe:
    try:
        return RECIPES[build.component]
    except KeyError:
        raise BundleError(f"{build.component}: no build recipe in keelson.bundle.recipes") from None


def cache_key(build: spec.Build, source_name: str, go_version: str) -> str:
    """What the artifacts depend on: a change to any of these rebuilds the component."""
    recipe = recipe_for(build)
    material: dict[str, Any] = {
        "layout": LAYOUT,
        "source": source_name,
        "build": {k: v for k, v in asdict(build).items() if k != "pinned_sha256"},
    }
    if source_name == "source":
        material["go"] = go_version
        recipe_fields = asdict(recipe)
        for binary in recipe_fields["binaries"]:
            del binary["version_args"]  # how to check a binary is not what builds it
        material["recipe"] = recipe_fields
        if recipe.web_ui:
            material["web_ui"] = webui.TOOLS
    else:
        material["pinned"] = build.pinned_sha256
    blob = json.dumps(material, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _complete(root: Path, files: list[dict[str, Any]]) -> bool:
    """Every file of a build in place with its recorded size (verify rehashes; this is fast)."""
    for f in files:
        path = root / f["path"]
        if not path.is_file() or path.stat().st_size != f["size"]:
            return False
    return bool(files)


@dataclass
class Result:
    build: spec.Build
    cached: bool
    seconds: float
    files: int
    size: int


def _human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def artifacts_of(build: spec.Build) -> list[str]:
    if build.per_binary:
        return [build.artifact_path(b.name) for b in recipe_for(build).binaries]
    return [build.artifact_path()]


def _produce(
    item: spec.Build,
    source_name: str,
    base_url: str,
    root: Path,
    go_version: str,
    progress: Progress,
) -> list[store.FileEntry]:
    """Put one component version's artifacts, and their checksum files, into the root."""
    if source_name == "source":
        paths = source.build_from_source(item, recipe_for(item), root, go_version, progress)
        entries = [store.FileEntry.of(root, p) for p in paths]
    else:
        entries = [release.fetch(item, base_url, a, root) for a in artifacts_of(item)]
    checksums: dict[str, list[store.FileEntry]] = {}
    for entry in entries:
        published_at = item.checksum_path(entry.path)
        if published_at:
            checksums.setdefault(published_at, []).append(entry)
    return entries + store.write_checksum_files(checksums, root)


def build(
    *,
    only: list[str] | None = None,
    kubernetes: list[str] | None = None,
    source_name: str | None = None,
    root: Path | None = None,
    base_url: str | None = None,
    versions_file: Path | None = None,
    progress: Progress = print,
) -> list[Result]:
    """Build (or fetch) every selected component version that is not already in the bundle."""
    source_name = source_name or default_source()
    if source_name not in SOURCES:
        raise BundleError(f"unknown source {source_name}: expected one of {', '.join(SOURCES)}")
    versions = spec.load(versions_file)
    root = root or store.default_root()
    root.mkdir(parents=True, exist_ok=True)
    manifest = store.Manifest(root)
    go_version = gomod.local_go_version() if source_name == "source" else ""
    base = base_url or versions.release_base_url
    results = []
    for item in versions.select(only, kubernetes):
        ident = build_id(item)
        key = cache_key(item, source_name, go_version)
        with store.locked(root / ".locks" / f"{ident}.lock"):
            known = manifest.builds().get(ident)
            files = [f for f in manifest.files() if f["build"] == ident]
            if known and known.get("key") == key and _complete(root, files):
                size = sum(f["size"] for f in files)
                progress(f"{item.name}: cached ({len(files)} files, {_human(size)})")
                results.append(Result(item, True, 0.0, len(files), size))
                continue
            if source_name == "source":
                where = "Go module proxy"
            else:
                where = "upstream" if base == versions.release_base_url else base
            progress(f"{item.name}: starting ({source_name}, from {where})")
            manifest.forget(ident)
            started = time.monotonic()
            entries = _produce(item, source_name, base, root, go_version, progress)
            seconds = time.monotonic() - started
            info = {
                "key": key,
                "source": source_name,
                "seconds": round(seconds, 1),
                "built_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "go": go_version or None,
            }
            manifest.record(ident, info, entries, item.component, item.version)
            size = sum(e.size for e in entries)
            progress(f"{item.name}: built in {seconds:.0f}s ({len(entries)} files, {_human(size)})")
            results.append(Result(item, False, seconds, len(entries), size))
    return results


@dataclass
class Row:
    component: str
    version: str
    status: str
    files: int
    size: int
    source: str
    seconds: float | None


def list_builds(root: Path | None = None, versions_file: Path | None = None) -> list[Row]:
    """Every pinned component version and whether the bundle holds it."""
    versions = spec.load(versions_file)
    root = root or store.default_root()
    manifest = store.Manifest(root)
    builds = manifest.builds() if manifest.file.exists() else {}
    all_files = manifest.files() if manifest.file.exists() else []
    rows = []
    for item in versions.builds:
        ident = build_id(item)
        files = [f for f in all_files if f["build"] == ident]
        info = builds.get(ident)
        if info is None:
            status = "not built"
        elif _complete(root, files):
            status = "built"
        else:
            status = "incomplete"
        rows.append(
            Row(
                item.component,
                item.version,
                status,
                len(files),
                sum(f["size"] for f in files),
                info["source"] if info else "-",
                info.get("seconds") if info else None,
            )
        )
    return rows


def render_list(root: Path) -> str:
    """`keelson bundle list`: the table of list_builds and the bundle root."""
    rows = [
        (
            row.component,
            row.version,
            row.status,
            row.files,
            table.size(row.size) if row.files else "-",
            row.source + (f" ({row.seconds:.0f}s)" if row.seconds is not None else ""),
        )
        for row in list_builds(root)
    ]
    columns = ("COMPONENT", "VERSION", "STATUS", "FILES>", "SIZE>", "SOURCE")
    return f"{table.render(columns, rows)}\nbundle root: {root}"


def verify(root: Path | None = None) -> tuple[int, list[store.Problem], list[str]]:
    return store.verify(root or store.default_root())


@dataclass
class VersionCheck:
    build: spec.Build
    binary: str
    ok: bool
    output: str


def _extract(build: spec.Build, root: Path, names: list[str], into: Path) -> dict[str, Path]:
    """The named binaries of a built component, as runnable files under `into`."""
    if build.per_binary:
        return {name: root / build.artifact_path(name) for name in names}
    artifact = root / build.artifact_path()
    kind = store.archive_kind(artifact.name)
    if kind == "file":
        return {names[0]: artifact}
    found: dict[str, Path] = {}
    if kind == "zip":
        with zipfile.ZipFile(artifact) as zf:
            for member in zf.namelist():
                name = PurePosixPath(member).name
                if name in names:
                    (into / name).write_bytes(zf.read(member))
                    found[name] = into / name
    else:
        with tarfile.open(artifact) as tar:
            for info in tar.getmembers():
                name = PurePosixPath(info.name).name
                handle = tar.extractfile(info) if info.isfile() else None
                if name in names and handle is not None:
                    (into / name).write_bytes(handle.read())
                    found[name] = into / name
    for path in found.values():
        path.chmod(0o755)
    return found


def check_versions(
    root: Path | None = None, versions_file: Path | None = None, only: list[str] | None = None
) -> list[VersionCheck]:
    """Run each built binary's version command: it must name the pinned release."""
    root = root or store.default_root()
    built = {
        (r.component, r.version) for r in list_builds(root, versions_file) if r.status == "built"
    }
    checks = []
    for item in spec.load(versions_file).select(only):
        if (item.component, item.version) not in built:
            continue
        binaries = recipe_for(item).binaries
        with tempfile.TemporaryDirectory(prefix="keelson-version-") as tmp:
            paths = _extract(item, root, [b.name for b in binaries], Path(tmp))
            for binary in binaries:
                path = paths.get(binary.name)
                if path is None:
                    checks.append(VersionCheck(item, binary.name, False, "not in the artifact"))
                    continue
                try:
                    proc = subprocess.run(
                        [str(path), *binary.version_args],
                        capture_output=True,
                        text=True,
                        timeout=60,
                        check=False,
                        cwd=tmp,
                    )
                    output = proc.stdout + proc.stderr
                except (OSError, subprocess.TimeoutExpired) as exc:
                    output = str(exc)
                lines = [line.strip() for line in output.splitlines() if line.strip()]
                named = [line for line in lines if item.bare in line]
                shown = (named or lines or ["(no output)"])[0]
                checks.append(VersionCheck(item, binary.name, bool(named), shown))
    return checks
