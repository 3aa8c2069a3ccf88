"""Port checks on host2: a foreign process on a keelson port fails the run, keelson's own
service on it (a re-run) passes."""

from __future__ import annotations

from collections.abc import Callable

from scenario_helpers import Run

testinfra_hosts = ["ansible://preflight-host2"]


def test_foreign_process_on_a_keelson_port_fails(
    listener_on_9100: Callable[[str], None], on_molecule_hosts: Callable[..., Run]
) -> None:
    listener_on_9100("python3-foreign")
    result = on_molecule_hosts()
    assert result.rc != 0, result
    assert (
        "- preflight-host2: port 9100/tcp (reserved for node_exporter, prometheus-node-exporter)"
        " is in use by 'python3-foreign' (pid " in result.text
    ), result
    assert "preflight-host1: port" not in result.text


def test_keelson_service_on_its_port_passes(
    listener_on_9100: Callable[[str], None], on_molecule_hosts: Callable[..., Run]
) -> None:
    # ss shows 'prometheus-node': the kernel keeps 15 characters of a process name.
    listener_on_9100("prometheus-node-exporter")
    result = on_molecule_hosts()
    assert result.rc == 0, result
