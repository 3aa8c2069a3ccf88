"""Each role's preflight lists every problem of the host's settings in one refusal, before any
task changes the host. Run for real with ansible-playbook against this machine (connection
local: the tasks only read facts and variables)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def preflight(
    role: str,
    variables: dict[str, Any],
    tmp_path: Path,
    groups: dict[str, Any] | None = None,
    tasks_from: str = "preflight",
) -> str:
    """Output of the ROLE's tasks/preflight.yml (or TASKS_FROM) on localhost with VARIABLES set;
    must fail. The inventory's etcd group holds localhost and ghost; GROUPS adds groups (or
    replaces it)."""
    playbook = tmp_path / "preflight.yml"
    playbook.write_text(
        yaml.safe_dump(
            [
                {
                    "name": "Preflight",
                    "hosts": "localhost",
                    "gather_facts": True,
                    "vars": variables,
                    "tasks": [
                        {
                            "name": "Preflight of the role",
                            "ansible.builtin.include_role": {
                                "name": f"keelson.platform.{role}",
                                "tasks_from": tasks_from,
                            },
                        }
                    ],
                }
            ]
        )
    )
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        yaml.safe_dump(
            {
                "all": {
                    "hosts": {
                        "localhost": {
                            "ansible_connection": "local",
                            "ansible_python_interpreter": sys.executable,
                        }
                    },
                    "children": {
                        "etcd": {"hosts": {"localhost": {}, "ghost": {}}},
                        **(groups or {}),
                    },
                }
            }
        )
    )
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory),
         "--limit", "localhost", str(playbook)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
             "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )  # fmt: skip
    assert proc.returncode != 0, proc.stdout
    return " ".join(proc.stdout.split())


@pytest.mark.parametrize(
    ("role", "variables", "groups", "expected"),
    [
        (
            "common",
            {
                "common_hostname": "bad_name",
                "common_ntp_servers": [],
                "common_journald_system_max_use": "lots",
                "common_hosts_groups": ["nowhere"],
            },
            {},
            [
                "common_hostname 'bad_name' is not a valid host name",
                "common_ntp_servers is empty",
                "common_journald_system_max_use 'lots' is not a size",
                "common_hosts_groups names groups the inventory does not have (nowhere)",
            ],
        ),
        (
            "containerd",
            {
                "containerd_cgroup_driver": "weird",
                "containerd_sandbox_image": "no tag",
                "containerd_state_dir": "relative/state",
                "containerd_install_source": "package",
            },
            {},
            [
                'containerd_cgroup_driver is "weird"',
                'containerd_sandbox_image "no tag" is not an image reference',
                "containerd_state_dir must be absolute paths",
            ],
        ),
        (
            "etcd",
            {
                "etcd_client_port": 2380,
                "etcd_election_timeout": 100,
                "etcd_data_dir": "/",
                "etcd_install_source": "package",
            },
            {},
            [
                "the etcd group has 2 hosts (ghost, localhost)",
                "ghost of the etcd group are not in this play",
                "etcd_data_dir must be absolute paths without spaces",
                "etcd_client_port (2380) and etcd_peer_port (2380) two different ports",
                "etcd_election_timeout (100 ms) must be at least 5 times",
            ],
        ),
        (
            "node_exporter",
            {
                "node_exporter_web_listen_address": "0.0.0.0:99999",
                "node_exporter_textfile_directory": "relative",
                "node_exporter_enabled_collectors": ["systemd", "Bad-Name"],
                "node_exporter_disabled_collectors": ["systemd"],
            },
            {},
            [
                "node_exporter_web_listen_address '0.0.0.0:99999' is not host:port",
                "node_exporter_textfile_directory 'relative' must be an absolute path",
                "(got Bad-Name)",
                "systemd listed in both",
            ],
        ),
        (
            "containerd",
            {
                "containerd_root_dir": "/run/containerd",
                "containerd_registries": [
                    {"name": "registry.lab:5000", "server": "registry.lab:5000"},
                    {
                        "name": "mirrored.lab",
                        "mirrors": [{"url": "https://m.lab", "ca_file": "ca.pem"}],
                    },
                ],
                "containerd_install_source": "package",
            },
            {},
            [
                'containerd_root_dir and containerd_state_dir are both "/run/containerd"',
                'containerd_registries entry "registry.lab:5000": server "registry.lab:5000" '
                "must start with http:// or https://",
                'containerd_registries entry "mirrored.lab": mirror ca_file "ca.pem" '
                "must be an absolute path",
            ],
        ),
        (
            "kube_node",
            {
                "kube_version": "1.36",
                "kube_service_cidr": "10.96.0.0",
                "kube_node_max_pods": 0,
                "kube_node_upstream_nameservers": ["dns.lab", "10.0.0.2", "10.0.0.3", "10.0.0.4"],
                "kube_node_lb_metrics_address": "node1:8405",
            },
            {
                "kube_control_plane": {
                    "hosts": {
                        "cp1": {"ansible_host": "10.0.0.1"},
                        "cp2": {"ansible_host": "10.0.0.2 x"},
                    }
                }
            },
            [
                'kube_version "1.36" is not a release such as v1.36.3',
                'kube_service_cidr "10.96.0.0" is not a network',
                "kube_node_max_pods is 0; it must be a positive number",
                "kube_node_upstream_nameservers holds entries that are not IP addresses (dns.lab)",
                'kube_node_lb_metrics_address "node1:8405" is not an IP address',
                "kube_node_upstream_nameservers lists 4 nameservers",
                'fix the ansible_host of cp2 ("10.0.0.2 x")',
            ],
        ),
        (
            "kube_node",
            {
                "kube_version": "v1.36.3",
                "kube_service_cidr": "10.96.0.0/12",
                "kube_node_max_pods": -1,
            },
            {},
            [
                "kube_node_max_pods is -1; it must be a positive number",
                "the inventory group kube_control_plane holds no host",
            ],
        ),
        (
            "kube_control_plane",
            {
                "kube_version": "v1.36",
                "kube_image_repository": "Registry.lab/cluster",
                "kube_pod_cidr": "10.244.0.0/16",
                "kube_service_cidr": "ten",
                "kube_control_plane_ignore_preflight_errors": ["Swap", "ALL"],
                "kube_control_plane_components_bind_address": "node1",
                "kube_control_plane_kube_proxy_metrics_address": "0.0.0.0:10249",
            },
            {},
            [
                'kube_version "v1.36" is not a release such as v1.36.3',
                'kube_image_repository "Registry.lab/cluster" is not a registry host[:port]',
                'kube_service_cidr "ten" is not a network',
                "the inventory group kube_control_plane holds no host",
                'kube_control_plane_ignore_preflight_errors (Swap, ALL) contains "all"',
                'kube_control_plane_components_bind_address "node1" is not an IP address',
                'kube_control_plane_kube_proxy_metrics_address "0.0.0.0:10249" is not an IP',
            ],
        ),
        (
            "etcd_backup",
            {
                "etcd_backup_keep_last": 0,
                "etcd_backup_keep_weekly": -1,
                "etcd_backup_local_directory": "relative",
                "etcd_backup_store_directory": "/srv/backups/",
            },
            {"etcd_backup_store": {"hosts": {"localhost": {}, "store2": {}}}},
            [
                "the group etcd_backup_store holds 2 hosts (localhost, store2); it takes one",
                "the backup store localhost (group etcd_backup_store) is an etcd member",
                "etcd_backup_keep_last is 0; the store must keep at least 1 backup",
                "etcd_backup_keep_weekly is -1; write 0 or more",
                'etcd_backup_local_directory "relative", '
                'etcd_backup_store_directory "/srv/backups/" must be absolute directories',
            ],
        ),
        (
            "etcd_backup",
            {"etcd_backup_local_keep": 0, "etcd_backup_keep_daily": -7},
            {"etcd": {"hosts": {"ghost": {}}}},
            [
                "localhost: not in the group 'etcd' and not the backup store",
                "etcd_backup_local_keep is 0; each member must keep at least 1 backup",
                "etcd_backup_keep_daily is -7; write 0 or more",
            ],
        ),
    ],
    ids=[
        "common",
        "containerd",
        "etcd",
        "node_exporter",
        "containerd-registries",
        "kube_node",
        "kube_node-no-control-plane",
        "kube_control_plane",
        "etcd_backup",
        "etcd_backup-retention",
    ],
)
def test_every_problem_is_listed_in_one_refusal(
    role: str,
    variables: dict[str, Any],
    groups: dict[str, Any],
    expected: list[str],
    tmp_path: Path,
) -> None:
    text = preflight(role, variables, tmp_path, groups)
    for problem in expected:
        assert problem in text, f"{problem!r} not in:\n{text}"
    assert text.count("FAILED!") == 1, text


def test_a_restore_without_room_beside_the_data_is_refused(tmp_path: Path) -> None:
    """A member whose file system cannot hold twice the snapshot is refused before anything is
    restored or stopped: a real df of this machine against a sparse 8 TiB snapshot."""
    snapshot = tmp_path / "etcd-big.db"
    with snapshot.open("wb") as f:
        f.truncate(2**43)
    data_dir = tmp_path / "etcd"
    variables = {
        "etcd_backup_verified_snapshot": {"db": str(snapshot)},
        "etcd_data_dir": str(data_dir),
    }
    text = preflight("etcd", variables, tmp_path, tasks_from="restore_room")
    assert re.search(
        rf"localhost has [0-9.]+ MiB free beside {data_dir} and needs 16777216.0 MiB"
        r" \(twice the snapshot\) to restore it; free some space, then run again\."
        r" Nothing was stopped\.",
        text,
    ), text
