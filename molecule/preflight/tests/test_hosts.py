"""Host checks on the scenario's real systemd hosts: what passes, and that each refusal names
the host and the fix."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scenario_helpers import Run

OnHosts = Callable[..., Run]
HOSTS = ("preflight-host1", "preflight-host2")


def recap(result: Run, host: str) -> dict[str, int]:
    match = re.search(rf"^{host}\s+:\s+(.*)$", result.output, re.MULTILINE)
    assert match, result
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", match.group(1))}


def test_check_mode_passes_and_changes_nothing(on_molecule_hosts: OnHosts) -> None:
    result = on_molecule_hosts("--check")
    assert result.rc == 0, result
    for host in HOSTS:
        assert recap(result, host)["changed"] == 0, result


def test_cgroup_mode_is_detected_as_the_kernel_mounts_it(
    host: Any, on_molecule_hosts: OnHosts
) -> None:
    root = host.run("stat -fc %T /sys/fs/cgroup").stdout.strip()
    unified = host.run("stat -fc %T /sys/fs/cgroup/unified").stdout.strip()
    v1 = host.run("awk '$3 == \"cgroup\"' /proc/self/mounts").stdout.strip()
    expected = "v2" if root == "cgroup2fs" else "hybrid" if unified == "cgroup2fs" and v1 else "v1"
    name = host.backend.get_hostname()
    result = on_molecule_hosts("-v", "--limit", name)
    assert result.rc == 0, result
    assert re.search(rf"Debian \d+, cgroup {expected}, \d+ CPUs", result.text), result


def test_refusals_name_host_and_fix(on_molecule_hosts: OnHosts) -> None:
    extra = {
        "preflight_allowed_cgroup_modes": [],
        "preflight_supported_distributions": [{"name": "Debian", "versions": ["99"]}],
        "preflight_control_plane_min_memory_mb": 100_000_000,
        # The hosts share this machine's clock: pretend the controller read 2100-01-01 instead.
        "_preflight_controller_time_before": 4102444800,
        "_preflight_controller_time_after": 4102444800,
    }
    result = on_molecule_hosts("-e", json.dumps(extra))
    assert result.rc != 0, result
    for host in HOSTS:
        assert re.search(
            rf"- {host}: runs Debian \d+ \(Debian family\); supported: Debian 99", result.text
        ), result
        assert re.search(rf"- {host}: cgroup mode is (v1|hybrid|v2), allowed: none:", result.text)
        assert re.search(
            rf"- {host}: clock differs from the controller's by \d+ s \(at most 5 allowed\)",
            result.text,
        ), result
    # only host1 is in kube_control_plane
    assert re.search(
        r"- preflight-host1: has \d+ MB of memory, needs at least 100000000 MB", result.text
    ), result
    assert "preflight-host2: has" not in result.text
    assert recap(result, "preflight-host1")["changed"] == 0


def test_unreachable_host_stops_every_host(tmp_path: Path, on_molecule_hosts: OnHosts) -> None:
    ghost = tmp_path / "ghost.yml"
    ghost.write_text(
        "kube_node:\n  hosts:\n    preflight-ghost:\n"
        "      ansible_connection: community.docker.docker\n"
    )
    # Without any_errors_fatal: the role itself must stop the reachable hosts.
    playbook = tmp_path / "site.yml"
    playbook.write_text(
        "- name: Preflight\n  hosts: all\n  gather_facts: false\n"
        "  roles: [keelson.platform.preflight]\n"
        "- name: Deploy\n  hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - name: Change something\n      ansible.builtin.debug:\n        msg: DEPLOYED\n"
    )
    result = on_molecule_hosts(playbook=playbook, inventories=(ghost,))
    assert result.rc != 0, result
    assert "preflight-ghost: unreachable or failed a check above" in result.text, result
    assert "DEPLOYED" not in result.output
