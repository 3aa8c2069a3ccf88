"""Thin wrapper over the docker CLI: the one place keelson talks to the Docker engine."""

import json
import shutil
import subprocess
from typing import Any

from keelson.errors import ControllerError, LabError


def available() -> bool:
    return shutil.which("docker") is not None


def run(*args: str, stdin: str | None = None, check: bool = True) -> str:
    """Run `docker ARGS`; return stdout, or raise LabError with docker's own message."""
    if not available():
        raise ControllerError("docker CLI not found: install docker.io (see `keelson doctor`)")
    proc = subprocess.run(
        ["docker", *args], input=stdin, capture_output=True, text=True, check=False
    )
    if check and proc.returncode != 0:
        message = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
        raise LabError(f"docker {args[0]} failed: {message[-1] if message else proc.returncode}")
    return proc.stdout


def succeeds(*args: str) -> bool:
    proc = subprocess.run(["docker", *args], capture_output=True, check=False)
    return proc.returncode == 0


def inspect(kind: str, name: str) -> dict[str, Any] | None:
    """`docker KIND inspect NAME` as a dict, or None when it does not exist."""
    proc = subprocess.run(
        ["docker", kind, "inspect", name], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        return None
    data: list[dict[str, Any]] = json.loads(proc.stdout)
    return data[0] if data else None


def engine_running() -> bool:
    return available() and succeeds("info")
