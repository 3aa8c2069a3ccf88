"""The docker CLI: the one place keelson runs `docker`. Every call names the domain it serves
(`error`): a failure is one line raised as that domain's error, so it carries that domain's exit
code (a failed `docker tag` while pushing images exits as an image error, 8)."""

import json
import shutil
import subprocess
from typing import Any

from keelson import external
from keelson.errors import ControllerError, KeelsonError, LabError

Error = type[KeelsonError]


def available() -> bool:
    return shutil.which("docker") is not None


def result(
    *args: str, error: Error, timeout: float = external.DOCKER, **kwargs: Any
) -> subprocess.CompletedProcess[Any]:
    """`docker ARGS` as it ended, whatever its exit status (for callers that read a failed
    command's output: a build log, systemd's state in a container). KWARGS go to subprocess."""
    if not available():
        raise ControllerError("docker CLI not found: install docker.io (see `keelson doctor`)")
    kwargs.setdefault("capture_output", True)
    return external.run(["docker", *args], timeout=timeout, error=error, **kwargs)


def run(
    *args: str,
    error: Error = LabError,
    stdin: str | None = None,
    check: bool = True,
    timeout: float = external.DOCKER,
) -> str:
    """Run `docker ARGS`; return stdout, or raise ERROR with docker's own last line."""
    proc = result(*args, error=error, timeout=timeout, input=stdin, text=True)
    if check and proc.returncode != 0:
        message = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
        raise error(f"docker {args[0]} failed: {message[-1] if message else proc.returncode}")
    return str(proc.stdout)


def succeeds(*args: str, error: Error = LabError) -> bool:
    return result(*args, error=error, timeout=external.QUICK).returncode == 0


def inspect(kind: str, name: str, error: Error = LabError) -> dict[str, Any] | None:
    """`docker KIND inspect NAME` as a dict, or None when it does not exist."""
    proc = result(kind, "inspect", name, error=error, timeout=external.QUICK, text=True)
    if proc.returncode != 0:
        return None
    data: list[dict[str, Any]] = json.loads(proc.stdout)
    return data[0] if data else None


def engine_running() -> bool:
    return available() and succeeds("info")
