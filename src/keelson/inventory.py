"""Inventory loading and validation, before anything touches a host.

The rules live in one place, the preflight role (`tasks/inventory.yml`); `validate` runs them on
the controller through playbooks/validate-inventory.yml, and site.yml runs them as its first task
(where `keelson deploy` takes them from: one run instead of two), so `keelson inventory validate`,
`keelson deploy` and a plain `ansible-playbook site.yml` refuse exactly the same inventories.
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
from keelson.progress import RunResult
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


# The preflight's check of the inventory alone (roles/preflight/tasks/inventory.yml), the first
# task site.yml runs (on the controller; no host is contacted before it, and nothing changes
# until it passed): a run that fails there was refused for its inventory.
INVENTORY_CHECK = "Check groups, host names, addresses and every role variable of the inventory"


def parse(inventory: Path) -> dict[str, list[str]]:
    """Group -> hosts of INVENTORY, refused when it cannot be parsed or has no host."""
    groups = load_groups(inventory)
    if not groups.get("all"):
        raise InventoryError(f"{inventory}: defines no hosts")
    return groups


def raise_if_refused(inventory: Path, result: RunResult) -> None:
    """InventoryError (exit 3: nothing changed) when RESULT failed in the inventory check."""
    first = result.failures[0] if result.failures else None
    if first is not None and INVENTORY_CHECK in first.task:
        raise InventoryError(f"{inventory}: {first.message}")


def check(inventory: Path) -> None:
    """Run the preflight inventory rules on INVENTORY (parsed already: `parse`). (`keelson
    deploy` runs the same rules as the first task of site.yml instead: raise_if_refused.)"""
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
