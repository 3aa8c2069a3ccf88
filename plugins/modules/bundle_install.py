#!/usr/bin/python
"""Install a role's artifacts from the files mirror in one task (the bundle role's install step).

For every item of a plan (plugins/filter/bundle.py: bundle_plan) it makes sure that:
the cache and install directories exist (root, 0755); the cached file has the plan's sha256 (a
missing or different file is downloaded to a temporary file, checked, and only then put in
place: a wrong download keeps nothing); an archive is unpacked into its own directory
(into a temporary directory first, renamed into place when complete); every link points at its
target. A service named in services whose running program is not the file its link points at
(a new binary linked by a run that was interrupted before the restart) has its link reported as
relinked too, so the next run still restarts it. One module run instead of a task per step: on a
re-run each task result costs the controller about as much as the work, so the steps are loops
inside the module.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url

DOCUMENTATION = r"""
module: bundle_install
short_description: Download, check, unpack and link the artifacts of a bundle plan
description:
  - Used by the bundle role's install entry point; see the module's docstring.
options:
  plan:
    description:
      - The plan items (name, url, sha256, unpack, cache_dir, cached_file, install_dir, links,
        link_list, problem).
    type: list
    elements: dict
    required: true
  cache_dir:
    description: The cache's root directory.
    type: path
    required: true
  install_dir:
    description: The root under which archives are unpacked.
    type: path
    required: true
  services:
    description:
      - systemd units that run a linked program (unit, link); a running unit whose program is not
        the link's current target has the link reported in relinked.
    type: list
    elements: dict
    default: []
  timeout:
    description: Seconds to wait for the mirror.
    type: int
    default: 60
"""

RETURN = r"""
relinked:
  description:
    - The links that were made or changed, and the links of services still running another file
      (the including role restarts its service).
  type: list
  elements: str
"""

_CHUNK = 1024 * 1024


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def runs_another_file(pid: int, link: str) -> bool:
    """True when process PID runs another program than the file LINK points at now."""
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:  # ended meanwhile: nothing runs
        return False
    # A file replaced in place leaves the process on the deleted one, under the same path.
    return exe.endswith(" (deleted)") or exe != os.path.realpath(link)


class _Installer:
    def __init__(self, module: AnsibleModule) -> None:
        self.module = module
        self.check = module.check_mode
        self.diffs: list[dict[str, str]] = []
        self.relinked: list[str] = []
        self.changed = False

    def note(self, header: str, before: str, after: str) -> None:
        """A change (made, or in check mode one that would be), with its diff."""
        self.diffs.append({"before_header": header, "before": before + "\n", "after": after + "\n"})
        self.changed = True

    def owned_by_root(self, path: str, mode: int) -> None:
        """PATH owned by root:root with MODE."""
        stat = os.stat(path)
        if (stat.st_mode & 0o7777, stat.st_uid, stat.st_gid) != (mode, 0, 0):
            self.note(
                path, f"{stat.st_mode & 0o7777:o} {stat.st_uid}:{stat.st_gid}", f"{mode:o} 0:0"
            )
            if not self.check:
                os.chown(path, 0, 0)
                os.chmod(path, mode)

    def directory(self, path: str) -> None:
        if os.path.islink(path) or (os.path.exists(path) and not os.path.isdir(path)):
            self.module.fail_json(msg=f"{path} exists and is not a directory")
        if not os.path.isdir(path):
            self.note(path, "absent", "directory")
            if self.check:
                return
            os.makedirs(path, mode=0o755)
        self.owned_by_root(path, 0o755)

    def cached_file(self, item: dict) -> None:
        """The item's cached file with its sha256 (downloaded when missing or different)."""
        dest, want = item["cached_file"], item["sha256"]
        mode = 0o644 if item["unpack"] else 0o755
        have = _sha256(dest) if os.path.isfile(dest) else None
        if have != want:
            self.note(
                dest, f"sha256 {have}" if have else "absent", f"sha256 {want} from {item['url']}"
            )
            if self.check:
                return
            self._download(item, dest, want, mode)
        self.owned_by_root(dest, mode)

    def _download(self, item: dict, dest: str, want: str, mode: int) -> None:
        handle, partial = tempfile.mkstemp(prefix=".download-", dir=os.path.dirname(dest))
        try:
            digest = hashlib.sha256()
            try:
                with os.fdopen(handle, "wb") as out:
                    response = open_url(item["url"], timeout=self.module.params["timeout"])
                    for block in iter(lambda: response.read(_CHUNK), b""):
                        digest.update(block)
                        out.write(block)
            except Exception as error:  # any failure of the mirror: one line naming it
                self.module.fail_json(msg=f"{item['name']}: cannot download {item['url']}: {error}")
            got = digest.hexdigest()
            if got != want:
                self.module.fail_json(
                    msg=(
                        f"{item['name']}: the checksum of {item['url']} is {got}, not the bundle's"
                        f" {want}: nothing was installed (a damaged or altered file on the mirror)"
                    )
                )
            os.chmod(partial, mode)
            os.replace(partial, dest)
        finally:
            if os.path.exists(partial):
                os.unlink(partial)

    def unpacked_dir(self, item: dict) -> None:
        """The archive unpacked into install_dir, whole (unpacked beside it, then renamed)."""
        target = item["install_dir"]
        first = next(iter(item["links"].values()))
        if os.path.exists(os.path.join(target, first)):
            return
        self.note(target, "not unpacked", f"unpacked from {item['cached_file']}")
        if self.check:
            return
        partial = tempfile.mkdtemp(prefix=f".{item['name']}-", dir=os.path.dirname(target))
        try:
            os.chmod(partial, 0o755)
            rc, _, err = self.module.run_command(
                ["tar", "-xf", item["cached_file"], "-C", partial, "--no-same-owner"]
            )
            if rc != 0:
                self.module.fail_json(msg=f"{item['cached_file']}: cannot unpack: {err.strip()}")
            if not os.path.exists(os.path.join(partial, first)):
                self.module.fail_json(msg=f"{item['name']}: {item['cached_file']} holds no {first}")
            if os.path.isdir(target):
                shutil.rmtree(target)
            os.rename(partial, target)
        finally:
            if os.path.isdir(partial):
                shutil.rmtree(partial)

    def main_pid(self, unit: str) -> int:
        """The main process of UNIT, 0 when it does not run."""
        rc, out, err = self.module.run_command(
            ["systemctl", "show", "--property=MainPID", "--value", unit]
        )
        if rc != 0:
            self.module.fail_json(msg=f"{unit}: cannot read its main process: {err.strip()}")
        return int(out.strip() or 0)

    def link(self, path: str, target: str) -> None:
        current = os.readlink(path) if os.path.islink(path) else None
        if current == target:
            return
        if current is None and os.path.isdir(path):
            self.module.fail_json(msg=f"{path} is a directory: it cannot become a link to {target}")
        if not os.path.isdir(os.path.dirname(path)):
            self.module.fail_json(msg=f"{path}: its directory does not exist")
        before = f"-> {current}" if current else ("a file" if os.path.lexists(path) else "absent")
        self.note(path, before, f"-> {target}")
        self.relinked.append(path)
        if self.check:
            return
        partial = f"{path}.keelson-new"
        if os.path.lexists(partial):
            os.unlink(partial)
        os.symlink(target, partial)
        os.replace(partial, path)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "plan": {"type": "list", "elements": "dict", "required": True},
            "cache_dir": {"type": "path", "required": True},
            "install_dir": {"type": "path", "required": True},
            "services": {"type": "list", "elements": "dict", "default": []},
            "timeout": {"type": "int", "default": 60},
        },
        supports_check_mode=True,
    )
    plan = module.params["plan"]
    problems = [item["problem"] for item in plan if item.get("problem")]
    if problems:
        module.fail_json(msg="; ".join(problems))
    installer = _Installer(module)
    for path in [module.params["cache_dir"], module.params["install_dir"]]:
        installer.directory(path)
    for item in plan:
        installer.directory(item["cache_dir"])
        installer.cached_file(item)
        if item["unpack"]:
            installer.unpacked_dir(item)
        for entry in item["link_list"]:
            installer.link(entry["key"], entry["value"])
    for service in module.params["services"]:
        link, pid = service["link"], installer.main_pid(service["unit"])
        if pid and link not in installer.relinked and runs_another_file(pid, link):
            installer.relinked.append(link)
    module.exit_json(
        changed=installer.changed,
        relinked=installer.relinked,
        diff=installer.diffs,
    )


if __name__ == "__main__":
    main()
