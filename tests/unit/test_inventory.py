"""Inventory parsing through the real ansible-inventory with the project's ansible.cfg."""

import json
import shutil
from pathlib import Path

import pytest
import yaml

from keelson.errors import InventoryError
from keelson.inventory import load_groups, resolve, validate
from keelson.paths import project_root
from keelson.progress import Failure, RunResult
from keelson.runner import INVENTORY_CHECK, raise_if_refused, run_playbook

ROLES = project_root() / "roles"

GOOD = """\
all:
  hosts:
    a: {ansible_host: 192.0.2.1}
    b: {ansible_host: 192.0.2.2}
  children:
    etcd:
      hosts:
        a: {}
    kube_node:
      hosts:
        a: {}
        b: {}
"""

DUPLICATE = """\
all:
  hosts:
    a: {ansible_host: 192.0.2.1}
    a: {ansible_host: 192.0.2.9}
"""


def test_groups_include_hosts_of_children(tmp_path: Path) -> None:
    inv = tmp_path / "hosts.yml"
    inv.write_text(GOOD)
    groups = load_groups(inv)
    assert sorted(groups["all"]) == ["a", "b"]
    assert groups["etcd"] == ["a"]
    assert groups["kube_node"] == ["a", "b"]


def test_a_host_defined_twice_is_a_parse_error(tmp_path: Path) -> None:
    inv = tmp_path / "hosts.yml"
    inv.write_text(DUPLICATE)
    with pytest.raises(InventoryError) as err:
        load_groups(inv)
    message = str(err.value)
    assert str(inv) in message
    assert "duplicate mapping key 'a'" in message
    assert "\n" not in message


def test_missing_inventory_is_named() -> None:
    with pytest.raises(InventoryError, match="inventory not found: /no/such/inventory"):
        resolve("/no/such/inventory")


def test_sample_inventory_passes_the_preflight_rules(tmp_path: Path) -> None:
    # The sample's Kubernetes release is checked against a bundle manifest that lists it.
    sample = shutil.copytree(project_root() / "inventories" / "sample", tmp_path / "sample")
    manifest = tmp_path / "manifest.json"
    kubelet = "dl.k8s.io/release/v1.36.3/bin/linux/amd64/kubelet"
    entry = {"component": "kubernetes", "version": "v1.36.3", "path": kubelet}
    manifest.write_text(json.dumps({"files": [entry]}))
    all_vars = sample / "group_vars" / "all.yml"
    text = all_vars.read_text()
    assert "bundle_manifest: ~/.cache/keelson/bundle/root/manifest.json" in text
    all_vars.write_text(text.replace("~/.cache/keelson/bundle/root/manifest.json", str(manifest)))
    groups = validate(sample)
    assert len(groups["etcd"]) == 3
    assert len(groups["all"]) == 7


def test_misspelled_variable_fails_with_a_suggestion(tmp_path: Path) -> None:
    inv = tmp_path / "hosts.yml"
    inv.write_text(
        GOOD.replace(
            "b: {ansible_host: 192.0.2.2}",
            "b: {ansible_host: 192.0.2.2}\n  vars: {containerd_sandbox_imgae: 'x'}",
        )
    )
    with pytest.raises(InventoryError) as err:
        validate(inv)
    assert "unknown variable 'containerd_sandbox_imgae'" in str(err.value)
    assert "did you mean 'containerd_sandbox_image'" in str(err.value)


def _failed_in(task: str) -> RunResult:
    failure = Failure(host="node1", task=task, message="all hosts: unknown variable 'x'")
    return RunResult("id", Path("/runs/id"), 2, "failed", {}, [failure], [], 1.0)


def test_a_deploy_that_failed_in_the_inventory_check_was_refused_for_its_inventory() -> None:
    # keelson deploy takes site.yml's first task as the inventory check (no separate run): the
    # name it looks for must be that task's, or refusals would exit 4 instead of 3.
    tasks = yaml.safe_load((ROLES / "preflight" / "tasks" / "inventory.yml").read_text())
    assert INVENTORY_CHECK in tasks[0]["name"]
    with pytest.raises(InventoryError, match=r"^/inv: all hosts: unknown variable 'x'$"):
        raise_if_refused(Path("/inv"), _failed_in(f"preflight : {tasks[0]['name']}"))
    raise_if_refused(Path("/inv"), _failed_in("common : Install base packages"))


PLAYBOOKS = project_root() / "playbooks"


def _first_play_checks_the_inventory(playbook: Path) -> bool:
    first = yaml.safe_load(playbook.read_text())[0]
    imported = first.get("ansible.builtin.import_playbook")
    if imported:
        return imported == "validate-inventory.yml" or _first_play_checks_the_inventory(
            playbook.parent / imported
        )
    imports = [t.get("ansible.builtin.import_role", {}) for t in first.get("tasks", [])]
    roles = [r if isinstance(r, str) else r.get("role") for r in first.get("roles", [])]
    return {"name": "keelson.platform.preflight", "tasks_from": "inventory"} in imports or (
        "keelson.platform.preflight" in roles
    )


@pytest.mark.parametrize(
    "playbook",
    sorted(p.name for p in PLAYBOOKS.glob("*.yml") if p.name != "validate-inventory.yml"),
)
def test_every_playbook_checks_the_inventory_first(playbook: str) -> None:
    # Commands no longer run the check on its own before their playbook: the playbook does.
    assert _first_play_checks_the_inventory(PLAYBOOKS / playbook)


def test_a_command_playbook_refuses_a_bad_inventory_before_contacting_a_host(
    tmp_path: Path,
) -> None:
    # The hosts' addresses answer nothing (TEST-NET-1): a run that reached one would fail
    # unreachable; refused in its first play, it raises the inventory's one line instead.
    inv = tmp_path / "hosts.yml"
    inv.write_text(
        GOOD.replace(
            "b: {ansible_host: 192.0.2.2}",
            "b: {ansible_host: 192.0.2.2}\n  vars: {etcd_heartbeat_intervall: 1}",
        )
    )
    with pytest.raises(InventoryError, match=r"unknown variable 'etcd_heartbeat_intervall'"):
        run_playbook("etcd-status.yml", inv, kind="etcd-status", quiet=True)


def test_the_restore_playbook_declares_its_parameters_to_the_inventory_check() -> None:
    # Its extra vars are named like the etcd role's options: undeclared, every restore would be
    # refused as an inventory with unknown variables.
    first = yaml.safe_load((PLAYBOOKS / "etcd-restore.yml").read_text())[0]
    assert set(first["vars"]["preflight_playbook_parameters"]) == {
        "etcd_restore_snapshot",
        "etcd_restore_confirm",
    }
