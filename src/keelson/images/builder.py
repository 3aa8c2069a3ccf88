"""Building the planned images with docker, in FROM order."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from keelson import dockercli, external
from keelson.errors import ImageError
from keelson.images.tags import Planned, default_bundle_dir, plan
from keelson.images.tree import PROVIDED, Progress, Tree, load_tree
from keelson.paths import state_dir

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
