#!/usr/bin/python
"""keelson.platform.probe: read-only probes of a host in one task.

A role's checks read a few files, look for a few paths and run a few read-only commands
before they decide anything; as separate slurp, stat and command tasks each costs the
controller about 50 ms per host (keelson.platform.files says why). This module does them all in one
task and changes nothing, in check mode too. The commands run side by side (they only read: a
cluster's answers and each node's drain dry run come back together, not one after another).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: probe
short_description: Read files, look for paths and run read-only commands in one task
description:
  - Never changes the host; runs in check mode as in a normal run.
options:
  read:
    description: Text files to read whole (a missing file reads as null).
    type: list
    elements: path
    default: []
  stat:
    description: Paths to look for.
    type: list
    elements: path
    default: []
  commands:
    description: >-
      Read-only commands by name, each an argv list; a command that fails or does not exist
      is reported (rc, stderr), not a failure of the task.
    type: dict
    default: {}
author: keelson
"""

RETURN = r"""
files:
  description: Each path of I(read) and its text, or null when it does not exist.
  type: dict
  returned: always
paths:
  description: Each path of I(stat) with C(exists) and C(writeable).
  type: dict
  returned: always
commands:
  description: Each command of I(commands) by name with C(rc), C(stdout) and C(stderr).
  type: dict
  returned: always
"""


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return None


def _run(module: AnsibleModule, argv: list[str]) -> dict[str, Any]:
    try:
        rc, out, err = module.run_command(argv, handle_exceptions=False)
    except OSError as e:
        rc, out, err = 127, "", f"{argv[0]}: {e.strerror}"
    return {"rc": rc, "stdout": out, "stderr": err}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "read": {"type": "list", "elements": "path", "default": []},
            "stat": {"type": "list", "elements": "path", "default": []},
            "commands": {"type": "dict", "default": {}},
        },
        supports_check_mode=True,
    )
    p = module.params
    for argv in p["commands"].values():
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
            module.fail_json(msg=f"commands: {argv!r} is not a list of strings (an argv)")
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(p["commands"])))) as pool:
        running = {name: pool.submit(_run, module, argv) for name, argv in p["commands"].items()}
        answers = {name: future.result() for name, future in running.items()}
    module.exit_json(
        changed=False,
        files={path: _read(path) for path in p["read"]},
        paths={
            path: {"exists": os.path.exists(path), "writeable": os.access(path, os.W_OK)}
            for path in p["stat"]
        },
        commands=answers,
    )


if __name__ == "__main__":
    main()
