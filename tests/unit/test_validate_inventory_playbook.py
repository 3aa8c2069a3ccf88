"""Inventory checks (playbooks/validate-inventory.yml): controller only, no host is contacted,
so they run with the unit tests (the preflight role's host checks are its molecule scenario's).

Every host points at a closed loopback port, so a check that tried to connect would fail.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from scenario_helpers import PROJECT, Run, run_playbook

Validate = Callable[..., Run]

MANIFEST = PROJECT / "molecule" / "preflight" / "bundle-manifest.json"
VALIDATE_INVENTORY = PROJECT / "playbooks" / "validate-inventory.yml"
GOOD = """\
all:
  vars:
    ansible_connection: ssh
    ansible_port: 1
    preflight_fail_on_swap: false
    kube_version: v1.36.3
    kube_pod_cidr: 10.244.0.0/16
    kube_service_cidr: 10.96.0.0/12
    bundle_manifest: MANIFEST
  children:
    etcd:
      hosts:
        node1: {ansible_host: 127.0.0.11}
    kube_control_plane:
      hosts:
        node1:
    kube_node:
      hosts:
        node2: {ansible_host: 127.0.0.12}
        node3: {ansible_host: 127.0.0.13}
""".replace("MANIFEST", str(MANIFEST))


@pytest.fixture
def validate_inventory() -> Validate:
    """Run playbooks/validate-inventory.yml as `keelson inventory validate` does: the project's
    ansible.cfg and nothing from molecule's environment."""

    def run(inventory: Path, *extra: str) -> Run:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "MOLECULE_"))}
        env["ANSIBLE_CONFIG"] = str(PROJECT / "ansible.cfg")
        return run_playbook(["-i", str(inventory), *extra, str(VALIDATE_INVENTORY)], env)

    return run


def write(tmp_path: Path, text: str, name: str = "hosts.yml") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_good_inventory_passes_without_reaching_any_host(
    tmp_path: Path, validate_inventory: Validate
) -> None:
    result = validate_inventory(write(tmp_path, GOOD))
    assert result.rc == 0, result
    assert "Inventory OK: 3 hosts" in result.text
    assert "unreachable=0" in result.text and "changed=0" in result.text


def test_unknown_variable_is_named_with_a_suggestion(
    tmp_path: Path, validate_inventory: Validate
) -> None:
    inventory = write(tmp_path, GOOD)
    write(tmp_path, "preflight_max_clock_skew_secnds: 3\n", "group_vars/kube_node.yml")
    result = validate_inventory(inventory)
    assert result.rc != 0, result
    assert (
        "node2, node3: unknown variable 'preflight_max_clock_skew_secnds' (did you mean "
        "'preflight_max_clock_skew_seconds'?)" in result.text
    ), result


def test_a_playbooks_parameters_given_as_extra_vars_pass_once_declared(
    tmp_path: Path, validate_inventory: Validate
) -> None:
    inventory = write(tmp_path, GOOD)
    restore = ["-e", "etcd_restore_snapshot=x", "-e", "etcd_restore_confirm=true"]
    refused = validate_inventory(inventory, *restore)
    assert refused.rc != 0 and "unknown variable 'etcd_restore_confirm'" in refused.text
    declared = [
        "-e",
        '{"preflight_playbook_parameters": ["etcd_restore_snapshot", "etcd_restore_confirm"]}',
    ]
    passed = validate_inventory(inventory, *restore, *declared)
    assert passed.rc == 0, passed


def test_problem_on_every_host_is_one_line(tmp_path: Path, validate_inventory: Validate) -> None:
    inventory = write(tmp_path, GOOD)
    write(tmp_path, "preflight_nonsense: 1\n", "group_vars/all.yml")
    result = validate_inventory(inventory)
    assert result.rc != 0, result
    assert "all hosts: unknown variable 'preflight_nonsense'" in result.text, result
    assert "problems:" not in result.text


def test_boolean_given_as_string_is_refused(tmp_path: Path, validate_inventory: Validate) -> None:
    inventory = write(tmp_path, GOOD)
    write(tmp_path, 'preflight_fail_on_swap: "yes"\n', "host_vars/node2.yml")
    result = validate_inventory(inventory)
    assert result.rc != 0, result
    assert (
        "node2: preflight_fail_on_swap is 'yes' (a string), not a boolean: "
        "write true or false without quotes" in result.text
    ), result


def test_ini_boolean_is_a_string_and_refused(tmp_path: Path, validate_inventory: Validate) -> None:
    inventory = write(
        tmp_path,
        """\
        [etcd]
        node1 ansible_host=127.0.0.11 ansible_port=1 preflight_fail_on_swap=true
        [kube_control_plane]
        node1
        [kube_node]
        node1
        """,
        "hosts.ini",
    )
    result = validate_inventory(inventory)
    assert result.rc != 0, result
    assert "node1: preflight_fail_on_swap is 'true' (a string), not a boolean" in result.text


def test_even_etcd_group_is_refused(tmp_path: Path, validate_inventory: Validate) -> None:
    inventory = write(
        tmp_path,
        GOOD.replace(
            "        node1: {ansible_host: 127.0.0.11}\n",
            "        node1: {ansible_host: 127.0.0.11}\n        node2:\n",
        ),
    )
    result = validate_inventory(inventory)
    assert result.rc != 0, result
    assert "group 'etcd' has 2 hosts (node1, node2)" in result.text, result
    assert "odd number of members (1, 3, 5)" in result.text


def test_missing_group_is_named(tmp_path: Path, validate_inventory: Validate) -> None:
    result = validate_inventory(write(tmp_path, GOOD.replace("kube_node:", "kube_nodes:")))
    assert result.rc != 0, result
    assert (
        "group 'kube_node' is missing or empty: put at least one host in it "
        "(did you mean 'kube_nodes'?)" in result.text
    ), result


def test_empty_inventory_is_refused(tmp_path: Path, validate_inventory: Validate) -> None:
    result = validate_inventory(write(tmp_path, "all:\n  children:\n    etcd:\n"))
    assert result.rc != 0, result
    for group in ("etcd", "kube_control_plane", "kube_node"):
        assert f"group '{group}' is missing or empty" in result.text, result


def test_two_hosts_with_the_same_address_are_refused(
    tmp_path: Path, validate_inventory: Validate
) -> None:
    result = validate_inventory(write(tmp_path, GOOD.replace("127.0.0.13", "127.0.0.12")))
    assert result.rc != 0, result
    assert "node2, node3: same address '127.0.0.12': each host needs its own" in result.text


def test_every_problem_is_reported_in_one_run(tmp_path: Path, validate_inventory: Validate) -> None:
    inventory = write(
        tmp_path,
        GOOD.replace("127.0.0.13", "127.0.0.12").replace("kube_control_plane:", "control_plane:"),
    )
    write(tmp_path, "preflight_fail_on_swap: 'no'\n", "host_vars/node3.yml")
    result = validate_inventory(inventory)
    assert result.rc != 0, result
    assert "3 problems: " in result.text, result


def test_a_host_defined_twice_is_a_parse_error(
    tmp_path: Path, validate_inventory: Validate
) -> None:
    inventory = write(
        tmp_path,
        """\
        all:
          children:
            etcd:
              hosts:
                node1: {ansible_host: 127.0.0.11}
                node1: {ansible_host: 127.0.0.12}
            kube_control_plane:
              hosts:
                node1:
            kube_node:
              hosts:
                node1:
        """,
    )
    result = validate_inventory(inventory)
    assert result.rc != 0, result
    assert "Found duplicate mapping key 'node1'" in result.text, result


def test_kubernetes_settings_are_checked_against_the_bundle(
    tmp_path: Path, validate_inventory: Validate
) -> None:
    inventory = write(tmp_path, GOOD)
    write(
        tmp_path,
        "kube_version: v1.35.0\nkube_pod_cidr: 10.96.0.0/16\netcd_backup_keep_last: 3\n",
        "group_vars/all.yml",
    )
    result = validate_inventory(inventory)
    assert result.rc != 0, result
    assert "kube_version v1.35.0 is not in the bundle (it has: v1.36.3)" in result.text, result
    assert "kube_pod_cidr 10.96.0.0/16 and kube_service_cidr 10.96.0.0/12 overlap" in result.text
    # Those two and nothing else: etcd_backup_keep_last beside them is a valid option.
    assert "2 problems: " in result.text, result


def test_every_variable_is_checked_against_its_spec_on_every_host(
    tmp_path: Path, validate_inventory: Validate
) -> None:
    """Integers, choices and list elements (not only booleans, lists and mappings), for group and
    host variables alike, and the names Kubernetes and SSH will be given: all in one line."""
    inventory = write(
        tmp_path,
        GOOD.replace("node3: {ansible_host: 127.0.0.13}", "Node_3: {ansible_host: 127.0.0.13}"),
    )
    write(tmp_path, "preflight_min_cpus: two\netcd_install_source: bundel\n", "group_vars/etcd.yml")
    write(
        tmp_path,
        "preflight_ports: [{port: 10250, grups: [kube_node]}]\nansible_port: 70000\n",
        "host_vars/node2.yml",
    )
    result = validate_inventory(inventory)
    assert result.rc != 0, result
    assert "5 problems: " in result.text, result
    for problem in (
        "node2: ansible_port '70000' is not a TCP port (1-65535)",
        "Node_3: not a valid Kubernetes node name",
        "node1: etcd_install_source is 'bundel', not one of: bundle, package (did you mean"
        " 'bundle'?)",
        "node1: preflight_min_cpus is 'two' (a string), not an integer",
        "node2: preflight_ports: preflight_ports.grups. Supported parameters include:",
    ):
        assert problem in result.text, (problem, result)


def test_a_cluster_setting_a_host_sees_differently_is_refused(
    tmp_path: Path, validate_inventory: Validate
) -> None:
    inventory = write(tmp_path, GOOD)
    write(tmp_path, "kube_version: v1.35.9\n", "host_vars/node3.yml")
    result = validate_inventory(inventory)
    assert result.rc != 0, result
    assert (
        "kube_version differs between Kubernetes hosts ('v1.36.3' on node1, node2; 'v1.35.9' on"
        " node3): it is one setting of the whole cluster; set it once, in group_vars/all.yml"
        in result.text
    ), result
