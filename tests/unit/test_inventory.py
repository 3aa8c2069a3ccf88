"""Inventory parsing through the real ansible-inventory with the project's ansible.cfg."""

import json
import shutil
from pathlib import Path

import pytest
import yaml

from keelson.errors import InventoryError
from keelson.inventory import (
    INVENTORY_CHECK,
    load_groups,
    raise_if_refused,
    resolve,
    validate,
)
from keelson.paths import project_root
from keelson.progress import Failure, RunResult

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
