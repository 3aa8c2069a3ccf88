"""What the controller machine has and lacks, with the command that fixes each gap."""

import importlib.metadata
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from keelson import dockercli, external, table


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _package(dist: str, fix: str, required: bool = True) -> Check:
    version = _version(dist)
    return Check(dist, version is not None, version or "not installed", fix, required)


def _collections() -> Check:
    wanted = ("community.general", "ansible.posix", "community.crypto", "community.docker")
    exe = Path(sys.executable).parent / "ansible-galaxy"
    proc = external.run(
        [str(exe) if exe.exists() else "ansible-galaxy", "collection", "list"],
        timeout=external.QUICK,
        capture_output=True,
        text=True,
    )
    missing = [c for c in wanted if c not in proc.stdout]
    return Check(
        "ansible collections",
        not missing,
        "all present" if not missing else "missing " + ", ".join(missing),
        "pip install 'ansible>=11' (Galaxy may be unreachable; the PyPI package carries them)",
    )


def _command(name: str, fix: str, required: bool = True) -> Check:
    path = shutil.which(name)
    return Check(name, path is not None, path or "not found", fix, required)


def checks() -> list[Check]:
    py_ok = sys.version_info >= (3, 11)
    engine = dockercli.engine_running()
    result = [
        Check("python", py_ok, sys.version.split()[0], "install Python 3.11 or newer"),
        _package("ansible-core", "pip install -e '.[dev]'"),
        _package("ansible-runner", "pip install -e '.[dev]'"),
        _collections(),
        _command("ssh", "apt-get install openssh-client"),
        _command("ssh-keygen", "apt-get install openssh-client"),
        _command("docker", "apt-get install docker.io (lab only)", required=False),
        Check(
            "docker engine",
            engine,
            "answering" if engine else "not answering",
            "start dockerd (`scripts/setup-host.sh` does it)",
            required=False,
        ),
        _command("debootstrap", "apt-get install debootstrap (lab image)", required=False),
        _package("molecule", "pip install -e '.[dev]' (role tests)", required=False),
    ]
    free = shutil.disk_usage("/var/lib" if Path("/var/lib").exists() else "/").free
    result.append(
        Check(
            "disk free",
            free > 10 * 2**30,
            f"{free / 2**30:.0f} GiB",
            "the lab needs about 10 GiB (images, host volumes)",
            required=False,
        )
    )
    return result


def report(items: list[Check]) -> tuple[str, bool]:
    """A table of checks and whether every required one passed."""
    rows = [
        (
            "ok" if c.ok else ("MISS" if c.required else "warn"),
            c.name,
            c.detail + ("" if c.ok else f"  -> {c.fix}"),
        )
        for c in items
    ]
    return table.render(("", "CHECK", "FOUND"), rows), all(c.ok for c in items if c.required)
