#!/usr/bin/python
"""keelson.platform.files: a role's directories and files in one task.

Every Ansible task costs the controller about 50 ms per host before any work is done, whatever
it does; a role that writes five files and their directories in seven tasks pays that seven
times on every host of every run. This module takes the whole list and does what
ansible.builtin.file (state directory or absent) and ansible.builtin.copy (content) would do
for each entry, with check mode and diffs, in one task. Templates are rendered on the
controller by the task itself: `content: "{{ lookup('ansible.builtin.template', 'x.j2') }}"`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: files
short_description: Directories and files of a role in one task
description:
  - Applies each entry of I(files) in order, as ansible.builtin.file (directory, absent) or
    ansible.builtin.copy (content) would, and reports which paths changed.
  - A directory entry with I(exclusive) set loses every child the list does not name and
    I(keep) does not keep (a foreign drop-in, a registry no longer configured).
options:
  files:
    description: The entries, applied in order (list a directory before what it holds).
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description: Absolute path.
        type: path
        required: true
      state:
        description: C(file) writes I(content); C(directory) creates; C(absent) removes.
        type: str
        choices: [file, directory, absent]
        default: file
      content:
        description: The whole content of a C(file) entry.
        type: str
      owner:
        description: Owner of the file or directory.
        type: str
        default: root
      group:
        description: Group of the file or directory.
        type: str
        default: root
      mode:
        description: Permissions, as ansible.builtin.file takes them.
        type: raw
      exclusive:
        description: For a C(directory), remove its children that no entry names.
        type: bool
        default: false
      keep:
        description: For an I(exclusive) directory, names of children that other tasks write.
        type: list
        elements: str
        default: []
author: keelson
"""

RETURN = r"""
changed_paths:
  description: The paths created, rewritten, re-permissioned or removed, in order.
  type: list
  elements: str
  returned: always
"""

# Larger files are compared but not shown in a diff.
DIFF_LIMIT = 256 * 1024


def _text(data: bytes) -> str | None:
    if len(data) > DIFF_LIMIT or b"\0" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _kind(path: str) -> str:
    if os.path.islink(path):
        return "link"
    if os.path.isdir(path):
        return "directory"
    if os.path.exists(path):
        return "file"
    return "absent"


def _attributes(
    module: AnsibleModule, entry: dict[str, Any], changed: bool, diffs: list[dict[str, Any]]
) -> bool:
    """Owner, group and mode as the entry wants them; a change goes into the diff."""
    args = {
        "path": entry["path"],
        "owner": entry["owner"],
        "group": entry["group"],
        "mode": entry["mode"],
        "attributes": None,
        "secontext": None,
    }
    diff: dict[str, Any] = {"before": {"path": entry["path"]}, "after": {"path": entry["path"]}}
    changed_here = module.set_fs_attributes_if_different(args, False, diff, expand=False)
    if changed_here:
        diffs.append(diff)
    return changed or bool(changed_here)


def _remove(module: AnsibleModule, path: str) -> None:
    if module.check_mode:
        return
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _directory(module: AnsibleModule, entry: dict[str, Any], diffs: list[dict[str, Any]]) -> bool:
    path = entry["path"]
    kind = _kind(path)
    if kind not in ("absent", "directory"):
        module.fail_json(msg=f"{path} is a {kind}, not a directory: move it away first")
    changed = kind == "absent"
    if changed:
        diffs.append(
            {
                "before": {"path": path, "state": "absent"},
                "after": {"path": path, "state": "directory"},
            }
        )
        if module.check_mode:
            return True
        os.makedirs(path)
    return _attributes(module, entry, changed, diffs)


def _file(module: AnsibleModule, entry: dict[str, Any], diffs: list[dict[str, Any]]) -> bool:
    path = entry["path"]
    if entry["content"] is None:
        module.fail_json(msg=f"{path}: a file entry needs content")
    wanted = entry["content"].encode("utf-8")
    kind = _kind(path)
    if kind == "directory":
        module.fail_json(msg=f"{path} is a directory, not a file: move it away first")
    current = None
    if kind == "file":
        with open(path, "rb") as f:
            current = f.read()
    changed = current != wanted
    if changed:
        before = "" if current is None else _text(current)
        after = _text(wanted)
        if before is not None and after is not None:
            diffs.append(
                {"before_header": path, "after_header": path, "before": before, "after": after}
            )
        else:
            diffs.append(
                {
                    "before_header": path,
                    "after_header": path,
                    "before": "(not shown)\n",
                    "after": "(not shown)\n",
                }
            )
        if module.check_mode:
            # Its attributes are set when it is written.
            return True
        directory = os.path.dirname(path)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".keelson-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(wanted)
            module.atomic_move(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return _attributes(module, entry, changed, diffs)


def _absent(module: AnsibleModule, path: str, diffs: list[dict[str, Any]]) -> bool:
    kind = _kind(path)
    if kind == "absent":
        return False
    diffs.append(
        {"before": {"path": path, "state": kind}, "after": {"path": path, "state": "absent"}}
    )
    _remove(module, path)
    return True


def _foreign(entry: dict[str, Any], named: set[str]) -> list[str]:
    """Children of an exclusive directory that no entry names (nor holds a named path) and
    that it does not keep."""
    directory = entry["path"]
    if not os.path.isdir(directory):
        return []
    children = sorted(set(os.listdir(directory)) - set(entry["keep"]))
    paths = [os.path.join(directory, name) for name in children]
    return [p for p in paths if p not in named and not any(n.startswith(p + "/") for n in named)]


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "files": {
                "type": "list",
                "elements": "dict",
                "required": True,
                "options": {
                    "path": {"type": "path", "required": True},
                    "state": {
                        "type": "str",
                        "default": "file",
                        "choices": ["file", "directory", "absent"],
                    },
                    "content": {"type": "str"},
                    "owner": {"type": "str", "default": "root"},
                    "group": {"type": "str", "default": "root"},
                    "mode": {"type": "raw"},
                    "exclusive": {"type": "bool", "default": False},
                    "keep": {"type": "list", "elements": "str", "default": []},
                },
            }
        },
        supports_check_mode=True,
    )
    entries = module.params["files"]
    for entry in entries:
        entry["path"] = os.path.normpath(entry["path"])
        if not os.path.isabs(entry["path"]):
            module.fail_json(msg=f"{entry['path']}: paths must be absolute")
    named = {e["path"] for e in entries if e["state"] != "absent"}
    changed_paths: list[str] = []
    diffs: list[dict[str, Any]] = []
    for entry in entries:
        path = entry["path"]
        if entry["state"] == "directory":
            if _directory(module, entry, diffs):
                changed_paths.append(path)
            if entry["exclusive"]:
                for child in _foreign(entry, named):
                    _absent(module, child, diffs)
                    changed_paths.append(child)
        elif entry["state"] == "file":
            if _file(module, entry, diffs):
                changed_paths.append(path)
        elif _absent(module, path, diffs):
            changed_paths.append(path)
    result: dict[str, Any] = {"changed": bool(changed_paths), "changed_paths": changed_paths}
    if module._diff:
        result["diff"] = diffs
    module.exit_json(**result)


if __name__ == "__main__":
    main()
