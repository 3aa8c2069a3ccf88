"""Thin wrapper over the docker CLI: the one place keelson talks to the Docker engine."""

import json
import shutil
from typing import Any

from keelson import external
from keelson.errors import ControllerError, LabError


def available() -> bool:
    return shutil.which("docker") is not None


def run(*args: str, stdin: str | None = None, check: bool = True) -> str:
    """Run `docker ARGS`; return stdout, or raise LabError with docker's own message."""
    if not available():
        raise ControllerError("docker CLI not found: install docker.io (see `keelson doctor`)")
    proc = external.run(
        ["docker", *args],
        timeout=external.DOCKER,
        error=LabError,
        input=stdin,
        capture_output=True,
        text=True,
    )
    if check and proc.returncode != 0:
        message = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
        raise LabError(f"docker {args[0]} failed: {message[-1] if message else proc.returncode}")
    return str(proc.stdout)


def succeeds(*args: str) -> bool:
    proc = external.run(
        ["docker", *args], timeout=external.QUICK, error=LabError, capture_output=True
    )
    return proc.returncode == 0


def inspect(kind: str, name: str) -> dict[str, Any] | None:
    """`docker KIND inspect NAME` as a dict, or None when it does not exist."""
    proc = external.run(
        ["docker", kind, "inspect", name],
        timeout=external.QUICK,
        error=LabError,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        return None
    data: list[dict[str, Any]] = json.loads(proc.stdout)
    return data[0] if data else None


def engine_running() -> bool:
    return available() and succeeds("info")
