"""Filters behind the common role: the verdict on the running kernel parameters.

Plain data in, plain data out, so tests/unit/test_common_filters.py checks them without Ansible.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def sysctl_state(stdout: str, wanted: Mapping[str, Any]) -> dict[str, Any]:
    """Compare `sysctl NAME...` output (`name = value` lines; an unknown name prints no line)
    with the wanted values: `unknown` lists the names the kernel lacks, `differing` maps each
    known name whose running value is not the wanted one to that running value, and `set` holds
    `name=value` for each of those, as `sysctl --write` takes them, and `report` says it in one
    line (`name=value (it is running)`, for the drift check). Values compare field by
    field (sysctl separates the numbers of a range with a tab)."""
    running: dict[str, str] = {}
    for line in stdout.splitlines():
        name, separator, value = line.partition(" = ")
        if separator:
            running[name.strip()] = value.strip()
    unknown = [name for name in wanted if name not in running]
    differing = {
        name: running[name]
        for name, value in wanted.items()
        if name in running and running[name].split() != str(value).split()
    }
    assignments = [f"{name}={' '.join(str(wanted[name]).split())}" for name in differing]
    report = "; ".join(
        f"{a} (it is {' '.join(differing[n].split())})"
        for n, a in zip(differing, assignments, strict=True)
    )
    return {"unknown": unknown, "differing": differing, "set": assignments, "report": report}


class FilterModule:
    """common role helpers as Jinja filters."""

    def filters(self) -> dict[str, Any]:
        return {"sysctl_state": sysctl_state}
