"""The one way keelson runs an external program: every call has a timeout, and a program that
is missing or runs past its timeout becomes one line naming the command, raised as the calling
domain's error (so it carries that domain's exit code)."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Sequence
from typing import Any

from keelson.errors import KeelsonError

# Timeouts by kind of call, in seconds. Generous: they exist so that nothing waits forever on a
# hung engine or host, not to race the work.
QUICK = 60  # a query: docker inspect, ansible-inventory, ssh-keygen, systemctl in a container
DOCKER = 600  # a docker command that changes something: run, network, cp, exec of a script
BUILD = 3600  # a docker build, a Go build, debootstrap: minutes on 2 cores
INTERACTIVE = 4 * 3600  # a command the operator runs through keelson (kubectl)


def _shown(argv: Sequence[str]) -> str:
    return shlex.join(str(a) for a in argv[:3]) + (" ..." if len(argv) > 3 else "")


def run(
    argv: Sequence[str],
    *,
    timeout: float,
    error: type[KeelsonError] = KeelsonError,
    **kwargs: Any,
) -> subprocess.CompletedProcess[Any]:
    """subprocess.run(ARGV, check=False, timeout=TIMEOUT, **KWARGS); raises ERROR (one line)
    when the program is missing or does not finish in time."""
    try:
        return subprocess.run(list(argv), timeout=timeout, check=False, **kwargs)
    except subprocess.TimeoutExpired:
        raise error(f"`{_shown(argv)}` did not finish within {timeout:g}s") from None
    except FileNotFoundError:
        missing = f"{argv[0]} not found: is it installed and on PATH? (see `keelson doctor`)"
        raise error(missing) from None
