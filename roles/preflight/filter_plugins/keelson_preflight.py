"""Filters behind the preflight role's checks.

Each filter takes plain data (host variables, inventory groups, the text of /proc/self/mounts,
the output of `ss`) and returns findings, so the checks are unit-tested without Ansible running
(tests/unit/test_preflight_filters.py).
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

# ss truncates a process name to the kernel's 15-character `comm`.
_COMM_LENGTH = 15
_SS_PROCESS = re.compile(r'\("((?:[^"\\]|\\.)*)",pid=(\d+)')


def _did_you_mean(name: str, candidates: Iterable[str]) -> str:
    matches = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.75)
    return f" (did you mean '{matches[0]}'?)" if matches else ""


def _hosts_label(hosts: Sequence[str], all_hosts: Sequence[str]) -> str:
    if len(all_hosts) > 1 and set(hosts) == set(all_hosts):
        return "all hosts"
    return ", ".join(hosts)


def _type_name(value: Any) -> str:
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "mapping"
    if isinstance(value, (list, tuple)):
        return "list"
    return type(value).__name__


def role_specs(roles_dir: str) -> dict[str, Any]:
    """The parsed meta/argument_specs.yml of every role in roles_dir, by role name."""
    return {
        path.parent.parent.name: yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for path in sorted(Path(roles_dir).glob("*/meta/argument_specs.yml"))
    }


def _declared_options(role_specs: Mapping[str, Any]) -> dict[str, dict[str, Mapping[str, Any]]]:
    """Map each role to its options, merged over all entry points of its argument_specs."""
    declared: dict[str, dict[str, Mapping[str, Any]]] = {}
    for role, document in role_specs.items():
        options: dict[str, Mapping[str, Any]] = {}
        entry_points = (document or {}).get("argument_specs") or {}
        for entry_point in entry_points.values():
            for name, spec in ((entry_point or {}).get("options") or {}).items():
                options.setdefault(name, spec or {})
        declared[role] = options
    return declared


def _owning_role(name: str, roles: Iterable[str]) -> str | None:
    """The role whose `<role>_` prefix is the longest one `name` starts with."""
    owners = [role for role in roles if name.startswith(role + "_")]
    return max(owners, key=len) if owners else None


def _type_problem(name: str, value: Any, expected: str) -> str | None:
    if expected == "bool" and not isinstance(value, bool):
        shown = f"'{value}'" if isinstance(value, str) else str(value)
        return (
            f"{name} is {shown} (a {_type_name(value)}), not a boolean: "
            "write true or false without quotes"
        )
    if expected == "list" and (isinstance(value, (str, bytes)) or not isinstance(value, Sequence)):
        return f"{name} is a {_type_name(value)}, not a list: write it as a YAML list"
    if expected == "dict" and not isinstance(value, Mapping):
        return f"{name} is a {_type_name(value)}, not a mapping: write it as a YAML mapping"
    return None


def inventory_problems(
    hostvars: Mapping[str, Mapping[str, Any]],
    groups: Mapping[str, Sequence[str]],
    role_specs: Mapping[str, Any],
    required_groups: Sequence[str],
) -> list[str]:
    """Everything wrong with an inventory, one line per problem, naming hosts and the fix.

    hostvars: host name -> its variables (Ansible's `hostvars`; values are read, and so
      templated, only where a check needs them: `ansible_host` and typed role options).
    groups: group name -> host names (Ansible's `groups`).
    role_specs: role name -> the parsed meta/argument_specs.yml of that role.
    required_groups: groups that must exist and hold at least one host.
    """
    all_hosts = list(groups.get("all") or [])
    problems: list[str] = []

    existing_groups = [name for name in groups if name not in ("all", "ungrouped")]
    for group in required_groups:
        if not groups.get(group):
            problems.append(
                f"group '{group}' is missing or empty: put at least one host in it"
                + _did_you_mean(group, [g for g in existing_groups if groups.get(g)])
            )

    etcd = list(groups.get("etcd") or [])
    if len(etcd) % 2 == 0 and etcd:
        problems.append(
            f"group 'etcd' has {len(etcd)} hosts ({', '.join(etcd)}): etcd keeps quorum only "
            "with an odd number of members (1, 3, 5); add or remove one"
        )

    store = list(groups.get("etcd_backup_store") or [])
    if len(store) > 1:
        problems.append(
            f"group 'etcd_backup_store' has {len(store)} hosts ({', '.join(store)}): "
            "etcd backups go to one store host; keep one"
        )
    for host in store:
        if host in etcd:
            problems.append(
                f"{host}: in both 'etcd' and 'etcd_backup_store': backups must leave the etcd "
                "members; pick a host outside etcd as the store"
            )

    addresses: dict[str, list[str]] = {}
    for host in all_hosts:
        try:
            address = str(hostvars[host].get("ansible_host", host))
        except Exception as error:  # a broken template in ansible_host
            problems.append(f"{host}: ansible_host cannot be resolved ({error})")
            continue
        addresses.setdefault(address, []).append(host)
    for address, hosts in addresses.items():
        if len(hosts) > 1:
            problems.append(
                f"{', '.join(hosts)}: same address '{address}': each host needs its own "
                "ansible_host (a host listed twice under different names is deployed twice)"
            )

    declared = _declared_options(role_specs)
    # problem text -> hosts it applies to, in first-seen order
    per_host: dict[str, list[str]] = {}
    for host in all_hosts:
        variables = hostvars[host]
        for name in sorted(variables):
            role = _owning_role(name, declared)
            if role is None:
                continue
            options = declared[role]
            if name not in options:
                problem = (
                    f"unknown variable '{name}'"
                    + _did_you_mean(name, options)
                    + f": role {role} declares no such option"
                )
            else:
                expected = str(options[name].get("type", "str"))
                if expected not in ("bool", "list", "dict"):
                    continue
                try:
                    value = variables[name]
                except Exception as error:  # a template that fails for this host
                    problem = f"{name} cannot be resolved ({error})"
                else:
                    problem = _type_problem(name, value, expected) or ""
            if problem:
                per_host.setdefault(problem, []).append(host)
    problems.extend(
        f"{_hosts_label(hosts, all_hosts)}: {problem}" for problem, hosts in per_host.items()
    )
    return problems


def kubernetes_problems(
    settings: Mapping[str, Any],
    groups: Mapping[str, Sequence[str]],
    bundle_versions: Sequence[str] | None,
    manifest: str = "the bundle manifest",
) -> list[str]:
    """What keeps the inventory's cluster-wide Kubernetes settings from working, one line each.

    settings: kube_version, kube_pod_cidr, kube_service_cidr (missing ones are reported).
    bundle_versions: Kubernetes releases whose kubelet the bundle manifest lists; None when there
      is no manifest.
    """
    kube_hosts = set(groups.get("kube_control_plane") or []) | set(groups.get("kube_node") or [])
    if not kube_hosts:
        return []
    problems: list[str] = []
    version = str(settings.get("kube_version") or "")
    if not re.fullmatch(r"v\d+\.\d+\.\d+", version):
        problems.append(
            f"kube_version is '{version}': set it to a Kubernetes release such as v1.36.3 "
            "in the inventory's group_vars/all.yml"
        )
    elif bundle_versions is None:
        problems.append(
            f"{manifest} does not exist: build the bundle first "
            f"(keelson bundle build --only kubernetes --kubernetes {version})"
        )
    elif version not in bundle_versions:
        have = ", ".join(sorted(bundle_versions)) or "none"
        problems.append(
            f"kube_version {version} is not in the bundle (it has: {have}): pin it in "
            "versions.yml and run `keelson bundle build`, or pick a version the bundle has"
        )
    networks: dict[str, ipaddress.IPv4Network | ipaddress.IPv6Network] = {}
    for name in ("kube_pod_cidr", "kube_service_cidr"):
        value = str(settings.get(name) or "")
        try:
            networks[name] = ipaddress.ip_network(value, strict=True)
        except ValueError as error:
            problems.append(f"{name} is '{value}', not a network ({error})")
    if len(networks) == 2 and networks["kube_pod_cidr"].overlaps(networks["kube_service_cidr"]):
        problems.append(
            f"kube_pod_cidr {networks['kube_pod_cidr']} and kube_service_cidr "
            f"{networks['kube_service_cidr']} overlap: pick two separate networks"
        )
    control_planes = set(groups.get("kube_control_plane") or [])
    for host in groups.get("etcd") or []:
        if host in (groups.get("kube_node") or []) and host not in control_planes:
            problems.append(
                f"{host}: a worker (kube_node) in the etcd group: etcd members run on "
                "control-plane hosts or on hosts of their own, where workloads cannot starve them"
            )
    return problems


def bundle_kubernetes_versions(manifest_text: str | None) -> list[str] | None:
    """Versions of the Kubernetes builds in a bundle manifest.json whose kubelet it lists."""
    if not manifest_text:
        return None
    files = json.loads(manifest_text).get("files") or []
    return sorted(
        {
            str(f.get("version"))
            for f in files
            if f.get("component") == "kubernetes" and str(f.get("path", "")).endswith("/kubelet")
        }
    )


def cgroup_mounts(mounts: str) -> dict[str, Any]:
    """Cgroup layout from the text of /proc/self/mounts.

    Returns mode ('v2', 'hybrid', 'v1' or 'none') and read_only, the cgroup mount points that
    are mounted read-only (containerd and kubelet must create cgroups in every one of them).
    """
    v1: list[str] = []
    v2: list[str] = []
    read_only: list[str] = []
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 4 or fields[2] not in ("cgroup", "cgroup2"):
            continue
        mount_point, fstype, options = fields[1], fields[2], fields[3].split(",")
        (v2 if fstype == "cgroup2" else v1).append(mount_point)
        if "ro" in options:
            read_only.append(mount_point)
    if "/sys/fs/cgroup" in v2:
        mode = "v2"
    elif v1 and v2:
        mode = "hybrid"
    elif v1:
        mode = "v1"
    else:
        mode = "none"
    return {"mode": mode, "read_only": read_only}


def listeners(ss_output: str) -> list[dict[str, Any]]:
    """Listening sockets from `ss -Hltnp`: port, address and the processes holding each."""
    found = []
    for line in ss_output.splitlines():
        fields = line.split(None, 5)
        if len(fields) < 5:
            continue
        address, _, port = fields[3].rpartition(":")
        if not port.isdigit():
            continue
        users = fields[5] if len(fields) > 5 else ""
        processes = [{"name": name, "pid": int(pid)} for name, pid in _SS_PROCESS.findall(users)]
        found.append({"port": int(port), "address": address, "processes": processes})
    return found


def port_problems(
    sockets: Sequence[Mapping[str, Any]],
    ports: Sequence[Mapping[str, Any]],
    group_names: Sequence[str],
) -> list[str]:
    """Ports this host must have free that a process other than their owners listens on.

    ports: items of preflight_ports ({port, groups, owners}); groups [all] (the default)
    means every host.
    """
    problems = []
    for wanted in ports:
        port_groups = list(wanted.get("groups") or ["all"])
        if "all" not in port_groups and not set(port_groups) & set(group_names):
            continue
        owners = list(wanted.get("owners") or [])
        allowed = {owner[:_COMM_LENGTH] for owner in owners}
        holders: list[str] = []
        for socket in sockets:
            if int(socket["port"]) != int(wanted["port"]):
                continue
            processes = socket.get("processes") or []
            if not processes:
                holders.append("an unknown process (run preflight with become: true to see it)")
            holders.extend(
                f"'{process['name']}' (pid {process['pid']})"
                for process in processes
                if process["name"][:_COMM_LENGTH] not in allowed
            )
        if holders:
            unique = list(dict.fromkeys(holders))
            reserved = f" (reserved for {', '.join(owners)})" if owners else ""
            problems.append(
                f"port {wanted['port']}/tcp{reserved} is in use by {', '.join(unique)}: "
                "stop that process or move it to another port"
            )
    return problems


class FilterModule:
    """Preflight checks as Jinja filters."""

    def filters(self) -> dict[str, Any]:
        return {
            "keelson_role_specs": role_specs,
            "keelson_inventory_problems": inventory_problems,
            "keelson_cgroup_mounts": cgroup_mounts,
            "keelson_listeners": listeners,
            "keelson_port_problems": port_problems,
            "keelson_kubernetes_problems": kubernetes_problems,
            "keelson_bundle_kubernetes_versions": bundle_kubernetes_versions,
        }
