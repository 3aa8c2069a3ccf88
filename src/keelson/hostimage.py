"""The lab host image: a debootstrap root filesystem, then images/lab-host/Dockerfile on top.

Both layers are tagged by the content of their definition, so a changed definition builds a new
image and an unchanged one is reused (a warm `lab up` builds nothing).
"""

import hashlib
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from keelson import dockercli, external
from keelson.errors import ControllerError, LabError
from keelson.paths import checkout_root

ROOTFS_REPO = "keelson/rootfs"
HOST_REPO = "keelson/lab-host"
# Stable name for tools that cannot compute the content tag (molecule platforms).
HOST_IMAGE_LATEST = f"{HOST_REPO}:latest"
DEBIAN_MIRROR = "http://deb.debian.org/debian"

Progress = Callable[[str], None]


def _definition_dir() -> Path:
    return checkout_root("the lab host image") / "images" / "lab-host"


def _digest(paths: list[Path], extra: str = "") -> str:
    sha = hashlib.sha256(extra.encode())
    for path in sorted(paths):
        sha.update(path.name.encode())
        sha.update(path.read_bytes())
    return sha.hexdigest()[:12]


def read_rootfs_recipe(path: Path) -> dict[str, str]:
    """Parse rootfs.env (KEY=VALUE lines, # comments)."""
    recipe: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise LabError(f"{path}: expected KEY=VALUE, got {raw!r}")
        recipe[key.strip()] = value.strip()
    missing = {"SUITE", "VARIANT", "INCLUDE"} - recipe.keys()
    if missing:
        raise LabError(f"{path}: missing {', '.join(sorted(missing))}")
    return recipe


def _build_rootfs(tag: str, recipe: dict[str, str], progress: Progress) -> None:
    if shutil.which("debootstrap") is None:
        raise ControllerError("debootstrap not found: apt-get install debootstrap")
    progress(f"building root filesystem {tag} with debootstrap (about a minute)")
    with tempfile.TemporaryDirectory(prefix="keelson-rootfs-", dir="/var/tmp") as tmp:
        rootfs = Path(tmp) / "rootfs"
        cmd = [
            "debootstrap",
            f"--variant={recipe['VARIANT']}",
            f"--include={recipe['INCLUDE']}",
            recipe["SUITE"],
            str(rootfs),
            recipe.get("MIRROR", DEBIAN_MIRROR),
        ]
        proc = external.run(
            cmd, timeout=external.BUILD, error=LabError, capture_output=True, text=True
        )
        if proc.returncode != 0:
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-1:]
            raise LabError(f"debootstrap failed: {' '.join(tail)}")
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        try:
            imported = dockercli.result("import", "-", tag, error=LabError, stdin=tar.stdout)
        finally:
            if tar.stdout is not None:
                tar.stdout.close()  # a failed import must not leave tar blocked on the pipe
            try:
                tar.wait(timeout=external.QUICK)
            except subprocess.TimeoutExpired:
                tar.kill()
                tar.wait()
        if imported.returncode != 0 or tar.returncode != 0:
            raise LabError(f"docker import of {tag} failed: {imported.stderr.decode().strip()}")


def rootfs_tag() -> str:
    """The content-tagged root filesystem reference (computed; nothing is built)."""
    return f"{ROOTFS_REPO}:{_digest([_definition_dir() / 'rootfs.env'])}"


def ensure_rootfs(progress: Progress) -> str:
    """Import the debootstrap root filesystem if missing; return its reference.

    Shared by the lab host image and the image pipeline's `base` (images/base).
    """
    tag = rootfs_tag()
    if dockercli.inspect("image", tag) is None:
        _build_rootfs(tag, read_rootfs_recipe(_definition_dir() / "rootfs.env"), progress)
    return tag


def ensure_host_image(progress: Progress) -> str:
    """Build what is missing and return the content-tagged lab host image reference."""
    definition = _definition_dir()
    rootfs_tag = ensure_rootfs(progress)
    files = [p for p in definition.iterdir() if p.is_file() and p.suffix != ".md"]
    host_tag = f"{HOST_REPO}:{_digest(files, extra=rootfs_tag)}"
    if dockercli.inspect("image", host_tag) is None:
        progress(f"building lab host image {host_tag}")
        dockercli.run(
            "build",
            "--quiet",
            "--build-arg",
            f"ROOTFS_IMAGE={rootfs_tag}",
            "--tag",
            host_tag,
            str(definition),
        )
    current = dockercli.inspect("image", HOST_IMAGE_LATEST)
    if current is None or host_tag not in current.get("RepoTags", []):
        dockercli.run("tag", host_tag, HOST_IMAGE_LATEST)
    return host_tag
