"""The layered image pipeline: build the tree under images/ in FROM order, tag by content, push to
a registry and verify what the registry serves.

An image is a directory with a Dockerfile under one of the tree's groups (`base`, `runtime/*`,
`service/*`, `cluster/*`). Its name is its path (`runtime/python`), its local reference
`keelson/<name>:<content tag>` and its registry repository `<registry>/<name>`. The graph comes
from the Dockerfiles alone: a FROM naming `keelson/<name>` (written out or through an ARG default)
is an edge to that image. The content tag is a digest of the build context, the parents' content
tags and any bundle files the image takes, so a change anywhere above an image changes its tag:
an image whose tag exists locally is unchanged, everything else is built.
"""

import hashlib
import json
import os
import re
import shlex
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from keelson import dockercli, external, hostimage
from keelson.bundle import spec as bundle_spec
from keelson.bundle import store as bundle_store
from keelson.errors import BundleError, ImageError
from keelson.paths import project_root, state_dir

NAMESPACE = "keelson/"
# Top-level directories of images/ that hold the pipeline's tree (lab-host and testing are built
# by the lab and the tests themselves).
TREE_GROUPS = ("base", "runtime", "service", "cluster")
# Local images the pipeline does not build but knows how to make: name -> (tag, ensure).
PROVIDED: dict[str, tuple[Callable[[], str], Callable[[Callable[[str], None]], str]]] = {
    "rootfs": (hostimage.rootfs_tag, hostimage.ensure_rootfs),
}
VERSION_LABEL = "org.opencontainers.image.version"
# Bumped when the digest recipe changes, so old tags are not taken for new content.
DIGEST_SCHEME = "keelson-images/1"
MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
)

Progress = Callable[[str], None]


def default_images_dir() -> Path:
    return project_root() / "images"


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
# The graph


@dataclass(frozen=True)
class FromLine:
    """One FROM of a Dockerfile: where it is, what it names, and what that resolves to."""

    line: int
    token: str  # the image as written, possibly with ${ARG}
    ref: str  # after ARG substitution
    parent: str | None = None  # a tree image this FROM builds on
    provided: str | None = None  # a local image made outside the tree (the rootfs)


@dataclass
class Image:
    """One image to build. NAME is its path under images/, or path@version when its VERSION
    lists several versions (one image each: the Kubernetes components of every pinned minor)."""

    name: str
    directory: Path
    froms: list[FromLine] = field(default_factory=list)
    version: str | None = None
    bundle_files: list[str] = field(default_factory=list)
    path: str = ""

    def __post_init__(self) -> None:
        self.path = self.path or self.name

    @property
    def dockerfile(self) -> Path:
        return self.directory / "Dockerfile"

    @property
    def repository(self) -> str:
        return NAMESPACE + self.path

    @property
    def parents(self) -> list[str]:
        return list(dict.fromkeys(f.parent for f in self.froms if f.parent))


@dataclass
class Tree:
    root: Path
    images: dict[str, Image]

    def children(self, name: str) -> list[str]:
        return sorted(n for n, image in self.images.items() if name in image.parents)

    def order(self, targets: Iterable[str] | None = None) -> list[str]:
        """Image names, parents before children: TARGETS and their ancestors, or the whole tree."""
        wanted = set(self.images) if targets is None else self._with_ancestors(targets)
        done: list[str] = []
        seen: set[str] = set()

        def visit(name: str) -> None:
            if name in seen:
                return
            seen.add(name)
            for parent in self.images[name].parents:
                visit(parent)
            done.append(name)

        for name in sorted(wanted):
            visit(name)
        return done

    def _with_ancestors(self, targets: Iterable[str]) -> set[str]:
        wanted: set[str] = set()
        stack = list(targets)
        while stack:
            name = stack.pop()
            if name not in self.images:
                variants = [n for n, image in self.images.items() if image.path == name]
                if not variants:
                    known = ", ".join(sorted(self.images))
                    raise ImageError(f"no image {name!r} under {self.root} (images: {known})")
                stack.extend(variants)
                continue
            if name not in wanted:
                wanted.add(name)
                stack.extend(self.images[name].parents)
        return wanted


def _discover(root: Path) -> dict[str, Path]:
    """name -> directory of each Dockerfile in the tree's groups (image dirs are not descended)."""
    found: dict[str, Path] = {}

    def walk(directory: Path) -> None:
        if (directory / "Dockerfile").is_file():
            found[directory.relative_to(root).as_posix()] = directory
            return
        for sub in sorted(p for p in directory.iterdir() if p.is_dir()):
            walk(sub)

    for group in TREE_GROUPS:
        if (root / group).is_dir():
            walk(root / group)
    return found


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Dockerfile instructions with the number of the line they start on (continuations joined,
    comments dropped)."""
    parts: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not parts and not stripped):
            continue
        if not parts:
            start = number
        if stripped.endswith("\\"):
            parts.append(stripped[:-1].strip())
            continue
        parts.append(stripped)
        yield start, " ".join(p for p in parts if p)
        parts = []
    if parts:
        yield start, " ".join(p for p in parts if p)


_VARIABLE = re.compile(r"\$\{(\w+)(?::([-+])([^}]*))?\}|\$(\w+)")


def _substitute(value: str, args: dict[str, str], where: str) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(4)
        current = args.get(name)
        if match.group(2) == "-":
            return current if current else match.group(3)
        if match.group(2) == "+":
            return match.group(3) if current else ""
        if current is None:
            raise ImageError(f"{where}: ${{{name}}} has no value: give `ARG {name}` a default")
        return current

    return _VARIABLE.sub(replace, value)


def _split(value: str, where: str) -> list[str]:
    try:
        return shlex.split(value)
    except ValueError as exc:
        raise ImageError(f"{where}: cannot parse {value!r}: {exc}") from None


def _repository_of(ref: str) -> str:
    """`keelson/base:1.0` -> `keelson/base`; `host:5000/x@sha256:..` -> `host:5000/x`."""
    name = ref.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last) + last.index(":")]
    return name


def parse_dockerfile(
    path: Path, known: set[str], display: str
) -> tuple[list[FromLine], str | None]:
    """The FROM lines of PATH resolved against the KNOWN image names, and its version label.

    DISPLAY is how errors name the file (a path relative to the images dir).
    """
    global_args: dict[str, str] = {}  # ARGs before the first FROM: what FROM lines may use
    stage_args: dict[str, str] = {}  # ARGs of the current stage: what its LABELs may use
    stages: set[str] = set()
    froms: list[FromLine] = []
    version: str | None = None
    for line, instruction in _logical_lines(path.read_text()):
        keyword, _, rest = instruction.partition(" ")
        keyword = keyword.upper()
        where = f"{display}:{line}"
        if keyword == "ARG":
            scope = stage_args if froms else global_args
            for item in _split(rest, where):
                name, sep, default = item.partition("=")
                if sep:
                    scope[name] = _substitute(default, scope, where)
                elif froms and name in global_args:
                    scope[name] = global_args[name]  # `ARG NAME` in a stage: the global default
        elif keyword == "FROM":
            words = [w for w in _split(rest, where) if not w.startswith("--")]
            if not words:
                raise ImageError(f"{where}: FROM names no image")
            token = words[0]
            ref = _substitute(token, global_args, where)
            froms.append(_resolve(line, token, ref, stages, known, where))
            if len(words) >= 3 and words[1].lower() == "as":
                stages.add(words[2].lower())
            stage_args = {}
        elif keyword == "LABEL":
            for item in _split(rest, where):
                key, _, value = item.partition("=")
                if key == VERSION_LABEL:
                    version = _substitute(value, stage_args, where)
    if not froms:
        raise ImageError(f"{display}: no FROM line")
    return froms, version


def _resolve(
    line: int, token: str, ref: str, stages: set[str], known: set[str], where: str
) -> FromLine:
    if ref.lower() in stages:
        return FromLine(line, token, ref)  # an earlier stage of this Dockerfile
    repository = _repository_of(ref)
    if not repository.startswith(NAMESPACE):
        return FromLine(line, token, ref)  # scratch or an image made elsewhere
    name = repository.removeprefix(NAMESPACE)
    if name in PROVIDED:
        return FromLine(line, token, ref, provided=name)
    if name in known:
        return FromLine(line, token, ref, parent=name)
    raise ImageError(
        f"{where}: FROM {ref} names no image of the tree (no Dockerfile in images/{name}/)"
    )


def _read_lines(path: Path) -> list[str]:
    lines = (raw.strip() for raw in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _pinned_versions(component: str, where: str) -> list[str]:
    """The version(s) versions.yml pins for COMPONENT (the bundle's single list of versions)."""
    try:
        pins = bundle_spec.load()
    except BundleError as exc:
        raise ImageError(f"{where}: {exc}") from None
    versions = [b.version for b in pins.builds if b.component == component]
    if not versions:
        raise ImageError(f"{where}: versions.yml pins no component {component!r}")
    return versions


def _versions(name: str, directory: Path, label: str | None) -> list[str | None]:
    """VERSION's lines (`versions.yml:<component>` expands to the pins), else the label."""
    version_file = directory / "VERSION"
    if not version_file.is_file():
        return [label]
    versions: list[str] = []
    for entry in _read_lines(version_file):
        if entry.startswith("versions.yml:"):
            component = entry.partition(":")[2].strip()
            versions.extend(_pinned_versions(component, f"{name}/VERSION"))
        else:
            versions.append(entry)
    return list(dict.fromkeys(versions)) or [label]


def _bundle_files(name: str, directory: Path, version: str | None) -> list[str]:
    bundle_file = directory / "BUNDLE"
    if not bundle_file.is_file():
        return []
    files = []
    for entry in _read_lines(bundle_file):
        if ("{version}" in entry or "{bare}" in entry) and not version:
            raise ImageError(f"{name}/BUNDLE: uses {{version}} but {name} has no version")
        bare = (version or "").removeprefix("v")
        files.append(entry.replace("{version}", version or "").replace("{bare}", bare))
    names = [Path(entry).name for entry in files]
    if len(set(names)) != len(names):
        raise ImageError(f"{name}/BUNDLE: two files share a name (they land in bundle/)")
    return files


def load_tree(root: Path | None = None) -> Tree:
    """Read every Dockerfile of the tree under ROOT (default: the project's images/)."""
    root = (root or default_images_dir()).resolve()
    if not root.is_dir():
        raise ImageError(f"no images directory at {root}")
    found = _discover(root)
    images: dict[str, Image] = {}
    for path, directory in found.items():
        froms, label = parse_dockerfile(directory / "Dockerfile", set(found), f"{path}/Dockerfile")
        versions = _versions(path, directory, label)
        for version in versions:
            name = f"{path}@{version}" if len(versions) > 1 else path
            bundle = _bundle_files(path, directory, version)
            images[name] = Image(name, directory, froms, version, bundle, path)
    for image in images.values():
        for from_line in image.froms:
            if from_line.parent and from_line.parent not in images:
                raise ImageError(
                    f"{image.path}/Dockerfile:{from_line.line}: FROM {from_line.ref}: "
                    f"{from_line.parent} has several versions; only images without children may"
                )
    tree = Tree(root, images)
    _check_acyclic(tree)
    return tree


def _check_acyclic(tree: Tree) -> None:
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        image = tree.images[name]
        for from_line in image.froms:
            parent = from_line.parent
            if parent is None:
                continue
            if state.get(parent) == 1:
                cycle = [*path[path.index(parent) :], name, parent]
                raise ImageError(
                    f"{name}/Dockerfile:{from_line.line}: FROM {from_line.ref} closes a cycle "
                    f"({' FROM '.join(cycle)})"
                )
            if parent not in state:
                visit(parent, [*path, name])
        state[name] = 2

    for name in sorted(tree.images):
        if name not in state:
            visit(name, [])


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
# Build


@dataclass
class BuildReport:
    built: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    planned: list[Planned] = field(default_factory=list)

    def summary(self) -> str:
        text = f"{len(self.built)} built, {len(self.unchanged)} unchanged"
        return text + (f", {len(self.skipped)} skipped" if self.skipped else "")


def _pinned_dockerfile(planned: Planned, by_name: dict[str, Planned]) -> str:
    """The Dockerfile with each tree FROM pinned to the exact content tag just computed."""
    lines = planned.image.dockerfile.read_text().splitlines(keepends=True)
    for from_line in planned.image.froms:
        if from_line.parent:
            pinned = by_name[from_line.parent].tag
        elif from_line.provided:
            pinned = PROVIDED[from_line.provided][0]()
        else:
            continue
        for index in range(from_line.line - 1, len(lines)):
            if from_line.token in lines[index]:
                lines[index] = lines[index].replace(from_line.token, pinned, 1)
                break
    return "".join(lines)


def _log_path(name: str) -> Path:
    return state_dir() / "images" / "logs" / f"{name.replace('/', '_')}.log"


def _docker_build(
    planned: Planned, by_name: dict[str, Planned], bundle: Path, no_cache: bool = False
) -> None:
    image = planned.image
    with tempfile.TemporaryDirectory(prefix="keelson-image-") as tmp:
        dockerfile = Path(tmp) / "Dockerfile"
        dockerfile.write_text(_pinned_dockerfile(planned, by_name))
        context = image.directory
        if image.bundle_files:
            # Bundle files join a copy of the context as bundle/<file name>.
            context = Path(tmp) / "context"
            shutil.copytree(image.directory, context, symlinks=True)
            (context / "bundle").mkdir(exist_ok=True)
            for rel in image.bundle_files:
                target = context / "bundle" / Path(rel).name
                try:
                    os.link(bundle / rel, target)
                except OSError:
                    shutil.copy2(bundle / rel, target)
        cmd = [
            "build",
            *(["--no-cache"] if no_cache else []),
            "--file",
            str(dockerfile),
            "--tag",
            planned.tag,
            "--label",
            f"io.keelson.image={image.path}",
            "--label",
            f"io.keelson.image.digest={planned.digest}",
            str(context),
        ]
        proc = dockercli.result(*cmd, error=ImageError, timeout=external.BUILD, text=True)
    if proc.returncode != 0:
        log = _log_path(image.name)
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(proc.stdout + proc.stderr)
        tail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-1:] or ["no output"]
        raise ImageError(f"{image.name}: docker build failed: {tail[0]} (full log: {log})")


def local_image_id(reference: str) -> str | None:
    info = dockercli.inspect("image", reference, error=ImageError)
    return None if info is None else str(info["Id"])


def build(
    tree: Tree,
    progress: Progress,
    targets: Iterable[str] | None = None,
    bundle: Path | None = None,
    no_cache: bool = False,
) -> BuildReport:
    """Build what is missing of TARGETS and their ancestors (the whole tree by default).

    NO_CACHE rebuilds every selected image from scratch under its same content tag: the way to
    take in Debian updates, which the content of the tree does not show.
    """
    bundle = bundle or default_bundle_dir()
    report = BuildReport(planned=plan(tree, targets, bundle))
    by_name = {p.image.name: p for p in report.planned}
    for planned in report.planned:
        name = planned.image.name
        if planned.skipped:
            progress(f"skipping {name}: {planned.skipped}")
            report.skipped.append((name, planned.skipped))
            continue
        if not no_cache and local_image_id(planned.tag) is not None:
            report.unchanged.append(name)
            continue
        if not report.built and not dockercli.engine_running():
            raise ImageError("the Docker engine does not answer: run scripts/setup-host.sh")
        for from_line in planned.image.froms:
            if from_line.provided:
                PROVIDED[from_line.provided][1](progress)
        progress(f"building {name} ({planned.tag})")
        started = time.monotonic()
        _docker_build(planned, by_name, bundle, no_cache)
        progress(f"built {name} in {time.monotonic() - started:.1f}s")
        report.built.append(name)
    return report


def ensure_image(name: str, progress: Progress) -> str:
    """Build NAME (and its ancestors) from the project's tree if missing; return its local tag."""
    tree = load_tree()
    report = build(tree, progress, targets=[name])
    wanted = next(p for p in report.planned if p.image.name == name)
    if wanted.skipped:
        raise ImageError(f"cannot build {name}: {wanted.skipped}")
    return wanted.tag


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
    """Build what is missing, then push each image under its content and version tags."""
    built = build(tree, progress, targets, bundle)
    report = PushReport()
    host = _registry_host(registry)
    for planned in built.planned:
        if planned.skipped:
            continue
        name = planned.image.name
        image_id = local_image_id(planned.tag)
        assert image_id is not None, planned.tag
        if _in_registry(registry, planned, image_id):
            report.present.append(name)
            continue
        progress(f"pushing {name} as {', '.join(planned.remote_tags)}")
        for tag in planned.remote_tags:
            remote = f"{host}/{planned.image.path}:{tag}"
            dockercli.run("tag", planned.tag, remote, error=ImageError)
            proc = dockercli.result(
                "push", remote, error=ImageError, timeout=external.BUILD, text=True
            )
            # The registry-named tag is only a vehicle for the push.
            dockercli.run("rmi", remote, error=ImageError, check=False)
            if proc.returncode != 0:
                tail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-1:] or ["?"]
                raise ImageError(f"docker push {remote} failed: {tail[0]}")
        report.pushed.append(name)
    return built, report


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


def built_locally(planned: list[Planned]) -> set[str] | None:
    """Names of the planned images whose content tag exists locally (None without Docker)."""
    if not dockercli.engine_running():
        return None
    out = dockercli.run(
        "images", "--filter", "label=io.keelson.image", "--format", "{{.Repository}}:{{.Tag}}",
        error=ImageError,
    )  # fmt: skip
    present = set(out.split())
    return {p.image.name for p in planned if p.digest and p.tag in present}
