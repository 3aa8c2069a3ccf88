"""Unit tests of the preflight role's filters (plugins/filter/preflight.py)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from role_plugins import load_filter_plugin

plugin = load_filter_plugin("preflight")

SPECS: dict[str, Any] = {
    "containerd": {
        "argument_specs": {
            "main": {
                "options": {
                    "containerd_registry_mirrors": {"type": "list"},
                    "containerd_config": {"type": "dict"},
                    "containerd_service_enabled": {"type": "bool"},
                    "containerd_version": {},
                    "containerd_install_source": {
                        "type": "str",
                        "choices": ["bundle", "package"],
                        "description": "Where containerd comes from.",
                    },
                    "containerd_registry_hosts": {
                        "type": "list",
                        "elements": "dict",
                        "options": {
                            "host": {"type": "str", "required": True},
                            "port": {"type": "int", "default": 443},
                        },
                    },
                }
            }
        }
    },
    "node": {"argument_specs": {"main": {"options": {"node_labels": {"type": "dict"}}}}},
    "node_exporter": {
        "argument_specs": {
            "main": {"options": {"node_exporter_port": {"type": "int"}}},
            "install": {"options": {"node_exporter_version": {"type": "str"}}},
        }
    },
}

GROUPS = {
    "all": ["node1", "node2", "node3"],
    "ungrouped": [],
    "etcd": ["node1"],
    "kube_control_plane": ["node1"],
    "kube_node": ["node2", "node3"],
}
REQUIRED = ["etcd", "kube_control_plane", "kube_node"]


def _hostvars(**extra: dict[str, Any]) -> dict[str, dict[str, Any]]:
    hostvars: dict[str, dict[str, Any]] = {
        host: {"inventory_hostname": host} for host in GROUPS["all"]
    }
    for host, variables in extra.items():
        hostvars[host].update(variables)
    return hostvars


def problems(hostvars: Mapping[str, Any], groups: Mapping[str, Any] = GROUPS) -> list[str]:
    result: list[str] = plugin.inventory_problems(hostvars, groups, SPECS, REQUIRED)
    return result


def test_a_good_inventory_has_no_problems() -> None:
    hostvars = _hostvars(
        node1={
            "containerd_registry_mirrors": ["m"],
            "containerd_service_enabled": True,
            "node_exporter_version": "1.5.0",
            "node_exporter_port": "9100",  # a string of digits is an integer to Ansible too
            "containerd_install_source": "package",
            "containerd_registry_hosts": [{"host": "registry.lab"}, {"host": "r", "port": 80}],
            "ansible_host": "10.0.0.1",
            "ansible_port": 22,
            "ansible_user": "debian",
            "some_user_variable": "x",
        },
        node2={"ansible_host": "node2.example.org", "ansible_port": "2222"},
        node3={"ansible_host": "fd00::3"},
    )
    assert problems(hostvars) == []


@pytest.mark.parametrize(
    ("variables", "problem"),
    [
        (
            {"node_exporter_port": "ninety"},
            "node_exporter_port is 'ninety' (a string), not an integer",
        ),
        ({"node_exporter_port": 91.5}, "node_exporter_port is 91.5 (a float), not an integer"),
        (
            {"containerd_install_source": "bundel"},
            "containerd_install_source is 'bundel', not one of: bundle, package"
            " (did you mean 'bundle'?)",
        ),
        (
            {"containerd_registry_hosts": [{"port": 80}]},
            "containerd_registry_hosts: missing required arguments: host found in"
            " containerd_registry_hosts",
        ),
        (
            {"containerd_registry_hosts": [{"host": "r", "prot": 80}]},
            "containerd_registry_hosts: containerd_registry_hosts.prot. Supported parameters"
            " include: host, port.",
        ),
    ],
)
def test_values_are_checked_against_their_spec(variables: dict[str, Any], problem: str) -> None:
    """Types beyond bool, list and dict, choices, list elements and suboptions: what Ansible's
    argument validation would refuse when the role starts, refused before any host changes."""
    assert problems(_hostvars(node2=variables)) == [f"node2: {problem}"]


class _LazyList(list[Any]):
    """Stands in for Ansible's lazy containers, which carry the whole templating context:
    deep-copying one (as ArgumentSpecValidator does with what it validates) cost seconds."""

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        raise AssertionError("the inventory's value itself was deep-copied")


def test_validated_values_are_copied_as_plain_data_not_as_ansibles_containers() -> None:
    hosts = _LazyList([{"host": "registry.lab"}])
    assert problems(_hostvars(node2={"containerd_registry_hosts": hosts})) == []
    bad = _LazyList([{"port": 80}])
    assert problems(_hostvars(node2={"containerd_registry_hosts": bad})) == [
        "node2: containerd_registry_hosts: missing required arguments: host found in"
        " containerd_registry_hosts"
    ]


@pytest.mark.parametrize(
    ("variables", "problem"),
    [
        (
            {"ansible_host": "ssh://10.0.0.2"},
            "ansible_host 'ssh://10.0.0.2' is neither an IP address nor a host name",
        ),
        (
            {"ansible_host": "10.0.0.2:2222"},
            "ansible_host '10.0.0.2:2222' is neither an IP address nor a host name",
        ),
        ({"ansible_port": 70000}, "ansible_port '70000' is not a TCP port (1-65535)"),
        ({"ansible_port": "ssh"}, "ansible_port 'ssh' is not a TCP port (1-65535)"),
        ({"ansible_user": "Deploy User"}, "ansible_user 'Deploy User' is not a user name"),
    ],
)
def test_connection_settings_ssh_cannot_use_are_refused(
    variables: dict[str, Any], problem: str
) -> None:
    (found,) = problems(_hostvars(node2=variables))
    assert found.startswith(f"node2: {problem}"), found


@pytest.mark.parametrize("name", ["Node1", "node_1", "node1-", "-node1", "node..1"])
def test_kubernetes_hosts_need_a_valid_node_name(name: str) -> None:
    groups = {
        "all": [name, "store"],
        "etcd": [name],
        "kube_control_plane": [name],
        "kube_node": [name],
    }
    hostvars = {name: {"ansible_host": "10.0.0.1"}, "store": {"ansible_host": "10.0.0.2"}}
    assert problems(hostvars, groups) == [
        f"{name}: not a valid Kubernetes node name (nodes are named after their inventory host):"
        " use lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"
    ]


def test_hosts_outside_kubernetes_keep_their_names() -> None:
    groups = {
        **GROUPS,
        "all": [*GROUPS["all"], "Backup_Store"],
        "etcd_backup_store": ["Backup_Store"],
    }
    hostvars = {**_hostvars(), "Backup_Store": {"ansible_host": "10.0.0.9"}}
    assert problems(hostvars, groups) == []


def test_missing_group_suggests_a_similar_group() -> None:
    groups = {**GROUPS, "kube_nodes": GROUPS["kube_node"], "kube_node": []}
    assert problems(_hostvars(), groups) == [
        "group 'kube_node' is missing or empty: put at least one host in it"
        " (did you mean 'kube_nodes'?)"
    ]


def test_even_etcd_group_is_refused() -> None:
    groups = {**GROUPS, "etcd": ["node1", "node2"]}
    (problem,) = problems(_hostvars(), groups)
    assert problem.startswith("group 'etcd' has 2 hosts (node1, node2)")
    assert "odd number" in problem


def test_the_backup_store_is_one_host_outside_etcd() -> None:
    assert problems(_hostvars(), {**GROUPS, "etcd_backup_store": ["node3"]}) == []
    (problem,) = problems(_hostvars(), {**GROUPS, "etcd_backup_store": ["node1"]})
    assert problem.startswith("node1: in both 'etcd' and 'etcd_backup_store'")
    (problem,) = problems(_hostvars(), {**GROUPS, "etcd_backup_store": ["node2", "node3"]})
    assert problem.startswith("group 'etcd_backup_store' has 2 hosts (node2, node3)")


def test_hosts_sharing_an_address_are_named() -> None:
    hostvars = _hostvars(node1={"ansible_host": "10.0.0.5"}, node3={"ansible_host": "10.0.0.5"})
    (problem,) = problems(hostvars)
    assert problem.startswith("node1, node3: same address '10.0.0.5'")


def test_a_host_name_is_its_address_without_ansible_host() -> None:
    hostvars = _hostvars(node1={"ansible_host": "node2"})
    (problem,) = problems(hostvars)
    assert problem.startswith("node1, node2: same address 'node2'")


def test_unknown_variable_with_suggestion_collapses_hosts() -> None:
    hostvars = _hostvars(
        node1={"containerd_registy_mirrors": []}, node2={"containerd_registy_mirrors": []}
    )
    assert problems(hostvars) == [
        "node1, node2: unknown variable 'containerd_registy_mirrors' (did you mean "
        "'containerd_registry_mirrors'?): role containerd declares no such option"
    ]


def test_problem_on_every_host_says_all_hosts() -> None:
    hostvars = _hostvars(**{host: {"containerd_nonsense": 1} for host in GROUPS["all"]})
    assert problems(hostvars) == [
        "all hosts: unknown variable 'containerd_nonsense': role containerd declares no such option"
    ]


def test_single_host_inventory_names_the_host_not_all_hosts() -> None:
    groups = {
        "all": ["solo"],
        "etcd": ["solo"],
        "kube_control_plane": ["solo"],
        "kube_node": ["solo"],
    }
    assert problems({"solo": {"containerd_nonsense": 1}}, groups) == [
        "solo: unknown variable 'containerd_nonsense': role containerd declares no such option"
    ]


def test_longest_role_prefix_owns_the_variable() -> None:
    hostvars = _hostvars(
        node1={"node_exporter_port": 9100, "node_labels": {}, "node_exporter_prot": 1}
    )
    assert problems(hostvars) == [
        "node1: unknown variable 'node_exporter_prot' (did you mean 'node_exporter_port'?): "
        "role node_exporter declares no such option"
    ]


def test_the_playbooks_own_parameters_are_no_inventory_variables() -> None:
    # etcd-restore.yml's extra vars are in every host's hostvars, named like etcd's options.
    hostvars = _hostvars(**{h: {"containerd_restore_confirm": True} for h in GROUPS["all"]})
    assert problems(hostvars) != []
    passed = plugin.inventory_problems(
        hostvars, GROUPS, SPECS, REQUIRED, parameters=["containerd_restore_confirm"]
    )
    assert passed == []


def test_options_of_every_entry_point_are_known() -> None:
    assert problems(_hostvars(node2={"node_exporter_version": "1.5.0"})) == []


@pytest.mark.parametrize("value", ["true", "yes", "False"])
def test_booleans_given_as_strings_are_refused(value: str) -> None:
    (problem,) = problems(_hostvars(node2={"containerd_service_enabled": value}))
    assert problem == (
        f"node2: containerd_service_enabled is '{value}' (a string), not a boolean:"
        " write true or false without quotes"
    )


def test_boolean_given_as_number_is_refused() -> None:
    (problem,) = problems(_hostvars(node2={"containerd_service_enabled": 1}))
    assert "containerd_service_enabled is 1 (a int), not a boolean" in problem


def test_list_and_dict_given_as_strings_are_refused() -> None:
    hostvars = _hostvars(node3={"containerd_registry_mirrors": "a,b", "containerd_config": "x"})
    assert problems(hostvars) == [
        "node3: containerd_config is a string, not a mapping: write it as a YAML mapping",
        "node3: containerd_registry_mirrors is a string, not a list: write it as a YAML list",
    ]


class _StrictVars(Mapping[str, Any]):
    """Host variables that fail when a value no check needs is read (templated)."""

    def __init__(self, data: dict[str, Any], readable: set[str]) -> None:
        self._data = data
        self._readable = readable

    def __getitem__(self, key: str) -> Any:
        if key not in self._data:
            raise KeyError(key)
        if key not in self._readable:
            raise AssertionError(f"{key} was read")
        if isinstance(self._data[key], Exception):
            raise self._data[key]
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


def test_only_needed_values_are_read() -> None:
    data = {
        "containerd_version": "{{ undefined }}",
        "other": "{{ undefined }}",
        "ansible_host": "10.0.0.9",
    }
    hostvars = _hostvars()
    hostvars["node1"] = _StrictVars(data, readable={"ansible_host"})  # type: ignore[assignment]
    assert problems(hostvars) == []


def test_a_value_that_cannot_be_templated_is_reported() -> None:
    data = {"containerd_service_enabled": RuntimeError("'foo' is undefined")}
    hostvars = _hostvars()
    hostvars["node1"] = _StrictVars(data, readable={"containerd_service_enabled"})  # type: ignore[assignment]
    assert problems(hostvars) == [
        "node1: containerd_service_enabled cannot be resolved ('foo' is undefined)"
    ]


def test_role_specs_reads_every_sibling_role(tmp_path: Path) -> None:
    for role in ("alpha", "beta"):
        (tmp_path / role / "meta").mkdir(parents=True)
        (tmp_path / role / "meta/argument_specs.yml").write_text(
            f"argument_specs:\n  main:\n    options:\n      {role}_x: &x\n        type: bool\n"
            f"  other:\n    options:\n      {role}_y: *x\n"
        )
    (tmp_path / "gamma/tasks").mkdir(parents=True)  # a role without specs is left out
    specs = plugin.role_specs(str(tmp_path))
    assert sorted(specs) == ["alpha", "beta"]
    assert specs["beta"]["argument_specs"]["other"]["options"]["beta_y"] == {"type": "bool"}


HYBRID = """\
tmpfs /sys/fs/cgroup tmpfs ro,nosuid,nodev,noexec,size=4096k,mode=755 0 0
cgroup /sys/fs/cgroup/cpu cgroup rw,nosuid,nodev,noexec,relatime,cpu 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,nosuid,nodev,noexec,relatime,memory 0 0
cgroup /sys/fs/cgroup/systemd cgroup rw,nosuid,nodev,noexec,relatime,name=systemd 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,nosuid,nodev,noexec,relatime 0 0
"""


def test_cgroup_hybrid() -> None:
    assert plugin.cgroup_mounts(HYBRID) == {"mode": "hybrid", "read_only": []}


def test_cgroup_v1_and_read_only_mounts() -> None:
    mounts = "\n".join(
        line.replace("rw,", "ro,") for line in HYBRID.splitlines() if "unified" not in line
    )
    assert plugin.cgroup_mounts(mounts) == {
        "mode": "v1",
        "read_only": ["/sys/fs/cgroup/cpu", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/systemd"],
    }


def test_cgroup_v2() -> None:
    mounts = "proc /proc proc rw 0 0\ncgroup2 /sys/fs/cgroup cgroup2 rw,nosuid,nsdelegate 0 0\n"
    assert plugin.cgroup_mounts(mounts) == {"mode": "v2", "read_only": []}


def test_cgroup_none() -> None:
    assert plugin.cgroup_mounts("proc /proc proc rw 0 0\n")["mode"] == "none"


SS = """\
LISTEN 0      128          0.0.0.0:22         0.0.0.0:* users:(("sshd",pid=105,fd=3))
LISTEN 0      5            0.0.0.0:9100       0.0.0.0:* users:(("python3",pid=812,fd=3))
LISTEN 0      4096      127.0.0.11:37305      0.0.0.0:*
LISTEN 0      4096               *:2379 *:* users:(("etcd",pid=7,fd=8),("etcd",pid=7,fd=9))
LISTEN 0      128             [::]:22            [::]:* users:(("sshd",pid=105,fd=4))
"""


def test_listeners_are_parsed() -> None:
    found = plugin.listeners(SS)
    assert [(item["address"], item["port"]) for item in found] == [
        ("0.0.0.0", 22),
        ("0.0.0.0", 9100),
        ("127.0.0.11", 37305),
        ("*", 2379),
        ("[::]", 22),
    ]
    assert found[1]["processes"] == [{"name": "python3", "pid": 812}]
    assert found[2]["processes"] == []


PORTS = [
    {"port": 2379, "groups": ["etcd"], "owners": ["etcd"]},
    {"port": 9100, "groups": ["all"], "owners": ["node_exporter", "prometheus-node-exporter"]},
    {"port": 37305},
]


def test_foreign_process_on_a_port_is_named() -> None:
    assert plugin.port_problems(plugin.listeners(SS), PORTS[:2], ["kube_node"]) == [
        "port 9100/tcp (reserved for node_exporter, prometheus-node-exporter) is in use by"
        " 'python3' (pid 812): stop that process or move it to another port"
    ]


def test_owner_may_hold_its_port_even_with_a_truncated_name() -> None:
    sockets = plugin.listeners(
        'LISTEN 0 4096 *:9100 *:* users:(("prometheus-node",pid=3,fd=3))\n' + SS.splitlines()[3]
    )
    assert plugin.port_problems(sockets, PORTS[:2], ["etcd"]) == []


def test_ports_of_other_groups_are_ignored() -> None:
    sockets = [{"port": 2379, "address": "*", "processes": [{"name": "python3", "pid": 1}]}]
    assert plugin.port_problems(sockets, PORTS[:1], ["kube_node"]) == []
    assert len(plugin.port_problems(sockets, PORTS[:1], ["etcd"])) == 1


def test_a_listener_without_a_visible_process_is_reported() -> None:
    (problem,) = plugin.port_problems(plugin.listeners(SS), PORTS[2:], [])
    assert problem.startswith("port 37305/tcp is in use by an unknown process")
