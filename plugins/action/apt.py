"""keelson.platform.apt: ansible.builtin.apt with a fast path for packages already installed.

Takes apt's own arguments. When `state` is `present` (apt's default) and every `name` is a plain
package name that dpkg lists as installed, the task ends there, unchanged, after one
`dpkg-query`: apt itself would load its whole package cache (and, with `update_cache` and a
stale `cache_valid_time`, download the package lists) only to find nothing to do, the slowest
task of a re-run on every host. Anything else (a missing package, a version pin, another state)
runs ansible.builtin.apt with the same arguments, which installs and reports as usual.
"""

from __future__ import annotations

import re
import shlex
from typing import Any

from ansible.plugins.action import ActionBase

# A package name as dpkg-query takes it (no version pin, no wildcard, no .deb path).
PLAIN_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")
QUERY = "dpkg-query --show --showformat='${Package} ${db:Status-Status}\\n'"


def installed(dpkg_query_stdout: str) -> set[str]:
    """Names dpkg-query reports in the `installed` status."""
    names = set()
    for line in dpkg_query_stdout.splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[1] == "installed":
            names.add(fields[0])
    return names


def requested(args: dict[str, Any]) -> list[str] | None:
    """The package names apt is asked to keep present, or None when the fast path cannot decide
    (another state, a pin, a .deb, an upgrade, no names)."""
    names = args.get("name", args.get("pkg", args.get("package")))
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",")]
    if not names or args.get("state", "present") != "present":
        return None
    if args.get("deb") or args.get("upgrade") not in (None, "no", False):
        return None
    if not all(isinstance(n, str) and PLAIN_NAME.match(n) for n in names):
        return None
    return list(names)


class ActionModule(ActionBase):
    _supports_check_mode = True
    _supports_async = False

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        args = dict(self._task.args)
        names = requested(args)
        if names is not None:
            query = self._low_level_execute_command(
                f"{QUERY} {' '.join(shlex.quote(n) for n in names)}"
            )
            present = installed(query.get("stdout", ""))
            if all(n in present for n in names):
                result.update(changed=False, msg=f"already installed: {', '.join(names)}")
                return result
        result.update(
            self._execute_module(
                module_name="ansible.builtin.apt", module_args=args, task_vars=task_vars
            )
        )
        return result
