"""Each role's preflight lists every problem of the host's settings in one refusal, before any
task changes the host. Run for real with ansible-playbook against this machine (connection
local: the tasks only read facts and variables)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def preflight(role: str, variables: dict[str, Any], tmp_path: Path) -> str:
    """Output of the ROLE's tasks/preflight.yml on localhost with VARIABLES set; must fail."""
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
                                "name": role,
                                "tasks_from": "preflight",
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
                    "children": {"etcd": {"hosts": {"localhost": {}, "ghost": {}}}},
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
    ("role", "variables", "expected"),
    [
        (
            "common",
            {
                "common_hostname": "bad_name",
                "common_ntp_servers": [],
                "common_journald_system_max_use": "lots",
                "common_hosts_groups": ["nowhere"],
            },
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
            [
                "node_exporter_web_listen_address '0.0.0.0:99999' is not host:port",
                "node_exporter_textfile_directory 'relative' must be an absolute path",
                "(got Bad-Name)",
                "systemd listed in both",
            ],
        ),
    ],
    ids=["common", "containerd", "etcd", "node_exporter"],
)
def test_every_problem_is_listed_in_one_refusal(
    role: str, variables: dict[str, Any], expected: list[str], tmp_path: Path
) -> None:
    text = preflight(role, variables, tmp_path)
    for problem in expected:
        assert problem in text, f"{problem!r} not in:\n{text}"
    assert text.count("FAILED!") == 1, text
