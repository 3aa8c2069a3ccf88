"""Exception tree: every error a user can cause or meet has a message and an exit code.

The CLI turns these into one line on stderr (a traceback only with --debug).
"""

from typing import Any


def one_line(text: Any) -> str:
    """TEXT (a message, an exception) as one line: its non-blank lines joined with " | "."""
    lines = [line.strip() for line in str(text).strip().splitlines() if line.strip()]
    return " | ".join(lines) if lines else "(no message)"


class KeelsonError(Exception):
    """Base of every expected failure."""

    exit_code = 1


class UsageError(KeelsonError):
    """Bad command-line input (a missing file, an impossible option)."""

    exit_code = 2


class InventoryError(KeelsonError):
    """The inventory is malformed or breaks a rule; nothing was changed on any host."""

    exit_code = 3


class RunFailed(KeelsonError):
    """A playbook run failed on a host (a task failed)."""

    exit_code = 4


class HostUnreachable(RunFailed):
    """A host could not be reached over SSH."""

    exit_code = 5


class ControllerError(KeelsonError):
    """The controller machine lacks something (Docker, debootstrap, ...)."""

    exit_code = 6


class LabError(KeelsonError):
    """The local lab could not be created or queried."""

    exit_code = 7


class ImageError(KeelsonError):
    """The image tree is inconsistent (a cycle, an unknown FROM), a build failed or the registry
    does not serve what was pushed."""

    exit_code = 8


class BundleError(KeelsonError):
    """The offline bundle could not be built, fetched or verified (a checksum mismatch, a failed
    Go build, a missing or modified file)."""

    exit_code = 9


class DriftFound(KeelsonError):
    """`deploy --check` found hosts that differ from the inventory (each finding was printed)."""

    exit_code = 10


class CredentialsError(KeelsonError):
    """The controller's credentials backup could not be written, read or restored (a wrong
    passphrase, a damaged file, a file there that differs); nothing was restored."""

    exit_code = 11
