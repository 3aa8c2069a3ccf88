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
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.errors import ArgumentTypeError, ArgumentValueError

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


# Kubernetes names a node after its inventory host: a DNS-1123 subdomain (kubeadm refuses others).
_NODE_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_HOST_NAME = re.compile(
    r"[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*"
)
# What useradd accepts on Debian (NAME_REGEX without the trailing $ of machine accounts).
_USER_NAME = re.compile(r"[a-z_][a-z0-9_-]{0,31}")
# argument_specs types whose every value passes: nothing to read, nothing to template.
_ANY_VALUE_TYPES = ("str", "raw", "path")
_TYPE_NAMES = {"int": "an integer", "float": "a number", "str": "a string", "path": "a path"}
# Keys of an argument_specs option that say nothing about a value the inventory gives.
_DOCUMENTATION_KEYS = ("description", "short_description", "version_added", "default")


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


def _needs_value(spec: Mapping[str, Any]) -> bool:
    """Whether an option's spec can refuse a value (otherwise it is not read, so not templated)."""
    return str(spec.get("type", "str")) not in _ANY_VALUE_TYPES or any(
        key in spec for key in ("choices", "elements", "options")
    )


def _validation_spec(spec: Mapping[str, Any]) -> dict[str, Any]:
    """An option's spec for Ansible's ArgumentSpecValidator: documentation keys dropped, at every
    level (a default would be filled in for a missing suboption and then validated)."""
    cleaned: dict[str, Any] = {k: v for k, v in spec.items() if k not in _DOCUMENTATION_KEYS}
    if isinstance(cleaned.get("options"), Mapping):
        cleaned["options"] = {
            key: _validation_spec(sub or {}) for key, sub in cleaned["options"].items()
        }
    return cleaned


def _plain(value: Any) -> Any:
    """VALUE as plain Python data. Ansible hands variables over in lazy containers that carry
    the whole templating context, and ArgumentSpecValidator deep-copies what it validates: with a
    playbook's roles loaded, copying those took 10 s of every deploy (28 options)."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, str):
        return str(value)
    return value


def _option_problem(name: str, value: Any, spec: Mapping[str, Any]) -> str | None:
    """What is wrong with VALUE for the option NAME: booleans, lists and mappings must be real
    ones (a quoted 'false' is true in a condition); everything else is what Ansible's own
    argument validation would refuse when the role starts (type, choices, elements, suboptions),
    said here before any host is touched."""
    expected = str(spec.get("type", "str"))
    problem = _type_problem(name, value, expected)
    if problem:
        return problem
    result = ArgumentSpecValidator({name: _validation_spec(spec)}).validate({name: _plain(value)})
    for error in result.errors.errors:
        shown = f"'{value}'" if isinstance(value, str) else str(value)
        if isinstance(error, ArgumentTypeError) and error.msg.startswith(f"argument '{name}' "):
            return (
                f"{name} is {shown} (a {_type_name(value)}), not "
                f"{_TYPE_NAMES.get(expected, 'of type ' + expected)}"
            )
        if isinstance(error, ArgumentValueError) and error.msg.startswith(f"value of {name} "):
            choices = [str(choice) for choice in spec.get("choices") or []]
            return f"{name} is {shown}, not one of: {', '.join(choices)}" + _did_you_mean(
                str(value), choices
            )
        return f"{name}: {error.msg}"
    return None


def _address_problems(host: str, variables: Mapping[str, Any]) -> tuple[str | None, list[str]]:
    """The address SSH will be given for HOST, and what is wrong with its connection settings."""
    problems: list[str] = []
    try:
        address = str(variables.get("ansible_host", host))
        port = variables.get("ansible_port")
        user = variables.get("ansible_user")
    except Exception as error:  # a broken template in a connection variable
        return None, [f"{host}: its connection settings cannot be resolved ({error})"]
    if not _is_address(address):
        problems.append(
            f"{host}: ansible_host '{address}' is neither an IP address nor a host name"
            " (no scheme, port or spaces: a port goes in ansible_port)"
        )
    if port is not None and not (str(port).isdigit() and 0 < int(port) < 65536):
        problems.append(f"{host}: ansible_port '{port}' is not a TCP port (1-65535)")
    if user is not None and not _USER_NAME.fullmatch(str(user)):
        problems.append(
            f"{host}: ansible_user '{user}' is not a user name (lowercase letters, digits,"
            " '_' and '-', starting with a letter or '_', at most 32 characters)"
        )
    return address, problems


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return len(text) <= 253 and _HOST_NAME.fullmatch(text) is not None
    return True


def inventory_problems(
    hostvars: Mapping[str, Mapping[str, Any]],
    groups: Mapping[str, Sequence[str]],
    role_specs: Mapping[str, Any],
    required_groups: Sequence[str],
    parameters: Sequence[str] = (),
) -> list[str]:
    """Everything wrong with an inventory, one line per problem, naming hosts and the fix.

    hostvars: host name -> its variables (Ansible's `hostvars`; values are read, and so
      templated, only where a check needs them: the connection variables and the role options
      whose spec can refuse a value).
    groups: group name -> host names (Ansible's `groups`).
    role_specs: role name -> the parsed meta/argument_specs.yml of that role.
    required_groups: groups that must exist and hold at least one host.
    parameters: the running playbook's own parameters (extra vars such as
      etcd_restore_snapshot), which hostvars holds too: not inventory variables, not checked.
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
        address, address_problems = _address_problems(host, hostvars[host])
        problems.extend(address_problems)
        if address is not None:
            addresses.setdefault(address, []).append(host)
    for address, hosts in addresses.items():
        if len(hosts) > 1:
            problems.append(
                f"{', '.join(hosts)}: same address '{address}': each host needs its own "
                "ansible_host (a host listed twice under different names is deployed twice)"
            )

    kube_hosts = list(groups.get("kube_control_plane") or []) + list(groups.get("kube_node") or [])
    for host in dict.fromkeys(kube_hosts):
        if len(host) > 253 or not _NODE_NAME.fullmatch(host):
            problems.append(
                f"{host}: not a valid Kubernetes node name (nodes are named after their inventory"
                " host): use lowercase letters, digits, '-' and '.', starting and ending with a"
                " letter or digit"
            )

    declared = _declared_options(role_specs)
    # problem text -> hosts it applies to, in first-seen order
    per_host: dict[str, list[str]] = {}
    for host in all_hosts:
        variables = hostvars[host]
        for name in sorted(variables):
            if name in parameters:
                continue
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
                if not _needs_value(options[name]):
                    continue
                try:
                    value = variables[name]
                except Exception as error:  # a template that fails for this host
                    problem = f"{name} cannot be resolved ({error})"
                else:
                    problem = _option_problem(name, value, options[name]) or ""
            if problem:
                per_host.setdefault(problem, []).append(host)
    problems.extend(
        f"{_hosts_label(hosts, all_hosts)}: {problem}" for problem, hosts in per_host.items()
    )
    return problems


_CLUSTER_SETTINGS = ("kube_version", "kube_pod_cidr", "kube_service_cidr")


def _cluster_settings(
    hostvars: Mapping[str, Mapping[str, Any]], hosts: Sequence[str]
) -> tuple[dict[str, Any], list[str]]:
    """The cluster-wide settings as the first of HOSTS has them, and one problem for each
    setting that another host sees differently (a host_vars file or a group's vars)."""
    settings: dict[str, Any] = {}
    problems: list[str] = []
    for name in _CLUSTER_SETTINGS:
        seen: dict[str, list[str]] = {}
        for host in hosts:
            try:
                value = str(hostvars[host].get(name) or "")
            except Exception as error:  # a template that fails for this host
                value = f"(cannot be resolved: {error})"
            seen.setdefault(value, []).append(host)
        settings[name] = next(iter(seen), "")
        if len(seen) > 1:
            problems.append(
                f"{name} differs between Kubernetes hosts ("
                + "; ".join(f"'{value}' on {', '.join(names)}" for value, names in seen.items())
                + "): it is one setting of the whole cluster; set it once, in group_vars/all.yml"
            )
    return settings, problems


def kubernetes_problems(
    hostvars: Mapping[str, Mapping[str, Any]],
    groups: Mapping[str, Sequence[str]],
    bundle_versions: Sequence[str] | None,
    manifest: str = "the bundle manifest",
) -> list[str]:
    """What keeps the inventory's cluster-wide Kubernetes settings from working, one line each.

    hostvars: host name -> its variables; kube_version, kube_pod_cidr and kube_service_cidr are
      read on every Kubernetes host (missing ones are reported, and so are differences).
    bundle_versions: Kubernetes releases whose kubelet the bundle manifest lists; None when there
      is no manifest.
    """
    kube_hosts = list(
        dict.fromkeys(
            list(groups.get("kube_control_plane") or []) + list(groups.get("kube_node") or [])
        )
    )
    if not kube_hosts:
        return []
    settings, problems = _cluster_settings(hostvars, kube_hosts)
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
            "role_specs": role_specs,
            "inventory_problems": inventory_problems,
            "cgroup_mounts": cgroup_mounts,
            "listeners": listeners,
            "port_problems": port_problems,
            "kubernetes_problems": kubernetes_problems,
            "bundle_kubernetes_versions": bundle_kubernetes_versions,
        }
