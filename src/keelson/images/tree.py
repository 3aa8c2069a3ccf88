"""The image tree under images/: each image's Dockerfile, its FROM edges to other images of the
tree, its versions and the bundle files it takes."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from keelson import hostimage
from keelson.bundle import spec as bundle_spec
from keelson.errors import BundleError, ImageError
from keelson.paths import checkout_root

NAMESPACE = "keelson/"
# Top-level directories of images/ that hold the pipeline's tree (lab-host and testing are built
# by the lab and the tests themselves).
TREE_GROUPS = ("base", "runtime", "service", "cluster")
VERSION_LABEL = "org.opencontainers.image.version"
# Local images the pipeline does not build but knows how to make: name -> (tag, ensure).
PROVIDED: dict[str, tuple[Callable[[], str], Callable[[Callable[[str], None]], str]]] = {
    "rootfs": (hostimage.rootfs_tag, hostimage.ensure_rootfs),
}

Progress = Callable[[str], None]


def default_images_dir() -> Path:
    return checkout_root("the image tree (images/)") / "images"


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
