"""Content tags: a digest of an image's build context, its parents' tags and the bundle files
it takes; the plan of what to build, and the tree as text."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

from keelson.bundle import store as bundle_store
from keelson.images.tree import PROVIDED, Image, Tree, _read_lines

# Bumped when the digest recipe changes, so old tags are not taken for new content.
DIGEST_SCHEME = "keelson-images/1"


def default_bundle_dir() -> Path:
    """Where `keelson bundle build` leaves binaries, laid out like their download sites."""
    return bundle_store.default_root()


def _bundle_manifest(bundle: Path) -> dict[str, tuple[str, int]]:
    """path -> (sha256, size) from the bundle's manifest (empty when there is none)."""
    files = bundle_store.Manifest(bundle).files()
    return {str(f["path"]): (str(f["sha256"]), int(f["size"])) for f in files}


def _bundle_sha256(bundle: Path, rel: str, manifest: dict[str, tuple[str, int]]) -> str:
    """The manifest's sha256 when the file still has the recorded size (`keelson bundle verify`
    checks the rest), else the file's own digest."""
    known = manifest.get(rel)
    if known and (bundle / rel).stat().st_size == known[1]:
        return known[0]
    return bundle_store.sha256_file(bundle / rel)


# ---------------------------------------------------------------------------------------------
# Content tags


def _ignore_patterns(directory: Path) -> list[str]:
    ignore = directory / ".dockerignore"
    return _read_lines(ignore) if ignore.is_file() else []


def _ignored(rel: str, patterns: list[str]) -> bool:
    parts = rel.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        bare = pattern.strip("/").removeprefix("**/")
        if any(fnmatch(p, bare) or fnmatch(p.rsplit("/", 1)[-1], bare) for p in prefixes):
            return True
    return False


def context_files(directory: Path) -> list[Path]:
    """Files docker sends as the build context (minus .dockerignore's simple patterns)."""
    patterns = _ignore_patterns(directory)
    files = []
    for path in sorted(directory.rglob("*")):
        rel = path.relative_to(directory).as_posix()
        if (path.is_file() or path.is_symlink()) and not _ignored(rel, patterns):
            files.append(path)
    return files


def context_digest(directory: Path) -> str:
    sha = hashlib.sha256()
    for path in context_files(directory):
        rel = path.relative_to(directory).as_posix()
        if path.is_symlink():
            body = f"link:{os.readlink(path)}".encode()
        else:
            executable = "x" if os.access(path, os.X_OK) else "-"
            body = executable.encode() + path.read_bytes()
        sha.update(f"{rel}\0{len(body)}\0".encode())
        sha.update(body)
    return sha.hexdigest()


@dataclass
class Planned:
    """An image with its content tag, or the reason it cannot be built now."""

    image: Image
    digest: str | None = None
    skipped: str | None = None

    @property
    def tag(self) -> str:
        assert self.digest is not None, self.image.name
        return f"{self.image.repository}:{self.digest}"

    @property
    def remote_tags(self) -> list[str]:
        assert self.digest is not None, self.image.name
        return [self.digest] + ([self.image.version] if self.image.version else [])


def plan(
    tree: Tree, targets: Iterable[str] | None = None, bundle: Path | None = None
) -> list[Planned]:
    """Content tags of TARGETS and their ancestors (the whole tree by default), in build order.

    An image whose bundle files are missing is skipped, and so is everything below it.
    """
    bundle = bundle or default_bundle_dir()
    manifest = _bundle_manifest(bundle)
    planned: dict[str, Planned] = {}
    for name in tree.order(targets):
        image = tree.images[name]
        sha = hashlib.sha256(DIGEST_SCHEME.encode())
        sha.update(f"\0context:{context_digest(image.directory)}\0version:{image.version}".encode())
        skipped = None
        for from_line in image.froms:
            if from_line.parent:
                above = planned[from_line.parent]
                if above.skipped:
                    skipped = f"its parent {from_line.parent} is skipped"
                    break
                sha.update(f"\0from:{above.tag}".encode())
            elif from_line.provided:
                sha.update(f"\0from:{PROVIDED[from_line.provided][0]()}".encode())
            else:
                sha.update(f"\0from:{from_line.ref}".encode())
        # With a manifest, a file it does not list yet belongs to an unfinished bundle build.
        missing = [
            f
            for f in image.bundle_files
            if not (bundle / f).is_file() or (manifest and f not in manifest)
        ]
        if skipped is None and missing:
            name_in_bundle = Path(missing[0]).name
            skipped = f"no {name_in_bundle} in the bundle ({missing[0]}; `keelson bundle build`)"
        if skipped is None:
            for rel in image.bundle_files:
                sha.update(f"\0bundle:{rel}:{_bundle_sha256(bundle, rel, manifest)}".encode())
        planned[name] = Planned(image, None if skipped else sha.hexdigest()[:12], skipped)
    return list(planned.values())


# ---------------------------------------------------------------------------------------------
# Graph


def render_graph(planned: list[Planned], built: set[str] | None = None) -> str:
    """The tree as text: each image under its first tree parent, with version and content tag.

    BUILT, when given, marks images whose content tag is not yet built locally with `*`.
    """
    by_name = {p.image.name: p for p in planned}
    roots: dict[str, list[str]] = {}
    for p in planned:
        if p.image.parents:
            continue
        first = p.image.froms[-1]
        origin = PROVIDED[first.provided][0]() if first.provided else first.ref
        roots.setdefault(origin, []).append(p.image.name)
    lines: list[str] = []

    def label(name: str) -> str:
        p = by_name[name]
        parts = [name]
        if p.image.version and p.image.version != name.partition("@")[2]:
            parts.append(p.image.version)
        parts.append(
            p.digest if p.digest else "(skipped: " + (p.skipped or "").split(" (")[0] + ")"
        )
        extra = p.image.parents[1:]
        if extra:
            parts.append(f"(also FROM {', '.join(extra)})")
        if built is not None and p.digest and name not in built:
            parts.append("*")
        return "  ".join(parts)

    def walk(name: str, prefix: str, last: bool) -> None:
        lines.append(f"{prefix}{'└── ' if last else '├── '}{label(name)}")
        below = [c for c in sorted(by_name) if by_name[c].image.parents[:1] == [name]]
        for index, child in enumerate(below):
            walk(child, prefix + ("    " if last else "│   "), index == len(below) - 1)

    for origin in sorted(roots):
        lines.append(origin)
        for index, name in enumerate(sorted(roots[origin])):
            walk(name, "", index == len(roots[origin]) - 1)
    return "\n".join(lines)
