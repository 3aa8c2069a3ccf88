"""Inventory loading and validation, before anything touches a host.

The rules live in one place, the preflight role (`tasks/inventory.yml`); `validate` runs them on
the controller through playbooks/validate-inventory.yml, and every playbook keelson runs starts
with them (site.yml's and scale.yml's preflight, the others' first play imports
validate-inventory.yml; run_playbook turns a failure there into a refusal: one run instead of
two), so `keelson inventory validate`, every command and a plain `ansible-playbook` refuse
exactly the same inventories. `validate` runs alone only for `keelson inventory validate` and
before a question (reset, remove-node, certs renew).
"""

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from keelson import external
from keelson.errors import InventoryError, RunFailed
from keelson.paths import project_root
from keelson.runner import run_playbook


def resolve(path: str) -> Path:
    """The inventory path as given, or a clear error when it does not exist."""
    inv = Path(path).expanduser()
    if not inv.exists():
        raise InventoryError(f"inventory not found: {path}")
    return inv.resolve()


def _listed(inventory: Path) -> dict[str, Any]:
    """`ansible-inventory --list` of INVENTORY (parse errors become InventoryError)."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(project_root() / "ansible.cfg"))
    exe = Path(sys.executable).parent / "ansible-inventory"
    proc = external.run(
        [str(exe) if exe.exists() else "ansible-inventory", "-i", str(inventory), "--list"],
        timeout=external.QUICK,
        error=InventoryError,
        capture_output=True,
        text=True,
        env=env,
    )
    if proc.returncode != 0:
        raise InventoryError(_parse_error(proc.stderr, inventory))
    listed: dict[str, Any] = json.loads(proc.stdout)
    return listed


def host_vars(inventory: Path, host: str) -> dict[str, Any]:
    """HOST's variables as the inventory sets them (group_vars merged; not templated)."""
    data = _listed(inventory)
    if host not in _hosts_of("all", data):
        raise InventoryError(f"{inventory}: no host {host}")
    return dict(data.get("_meta", {}).get("hostvars", {}).get(host) or {})


def load_groups(inventory: Path) -> dict[str, list[str]]:
    """Group -> hosts as Ansible parses INVENTORY (parse errors become InventoryError)."""
    data = _listed(inventory)
    groups: dict[str, list[str]] = {}
    for group, body in data.items():
        if group == "_meta" or not isinstance(body, dict):
            continue
        groups[group] = _hosts_of(group, data)
    return groups


def _hosts_of(group: str, data: dict[str, dict[str, list[str]]]) -> list[str]:
    body = data.get(group, {})
    hosts = list(body.get("hosts", []))
    for child in body.get("children", []):
        hosts += [h for h in _hosts_of(child, data) if h not in hosts]
    return hosts


def _parse_error(stderr: str, inventory: Path) -> str:
    """One line from ansible-inventory's errors: the first plugin's reason and its location."""
    reasons = re.findall(r"Failed to parse inventory with '(\w+)' plugin: (.+)", stderr)
    origins = re.findall(r"Origin: (\S+:\d+:\d+)", stderr)
    if reasons:
        # The INI plugin's complaint about a YAML file only adds noise.
        _plugin, reason = next((r for r in reasons if r[0] != "ini"), reasons[0])
        where = origins[0] if origins else str(inventory)
        return f"{where}: {reason.strip()}"
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in lines:
        for marker in ("[ERROR]:", "ERROR!"):
            if marker in line:
                return f"{inventory}: {line.split(marker, 1)[1].strip()}"
    return f"{inventory}: cannot be parsed: {lines[-1] if lines else 'unknown error'}"


def parse(inventory: Path) -> dict[str, list[str]]:
    """Group -> hosts of INVENTORY, refused when it cannot be parsed or has no host."""
    groups = load_groups(inventory)
    if not groups.get("all"):
        raise InventoryError(f"{inventory}: defines no hosts")
    return groups


def check(inventory: Path) -> None:
    """Run the preflight inventory rules on INVENTORY (parsed already: `parse`) alone: for
    `keelson inventory validate`, and before a question that an inventory refused by the rules
    should never reach. (Every playbook keelson runs starts with the same rules: run_playbook.)"""
    result = run_playbook("validate-inventory.yml", inventory, kind="validate", quiet=True)
    try:
        result.raise_for_failure()
    except RunFailed as exc:
        message = result.failures[0].message if result.failures else str(exc)
        raise InventoryError(f"{inventory}: {message}") from None


def validate(inventory: Path) -> dict[str, list[str]]:
    """Parse INVENTORY and run the preflight inventory rules; return its groups."""
    groups = parse(inventory)
    check(inventory)
    return groups
