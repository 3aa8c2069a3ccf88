"""keelson.platform.haproxy_server (plugins/modules/haproxy_server.py) run by Ansible on this
machine against a stand-in for HAProxy's runtime API: a Unix socket that answers `show servers
state` and `set server ... state` as HAProxy 2.6 does (HAProxy is not installed on the
controller; the upgrade's integration test drains real ones on the lab's nodes)."""

from __future__ import annotations

import socket
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from role_plugins import run_module

HEADER = (
    "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight "
    "srv_iweight srv_time_since_last_change srv_check_status srv_check_result "
    "srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id "
    "srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr "
    "srv_agent_port\n"
)


class StandInRuntimeApi:
    """HAProxy's admin socket for one backend (kube-apiserver) of two servers."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.admin = {"apiserver1": 0, "apiserver2": 0}
        self.commands: list[str] = []
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(str(path))
        self._server.listen()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            with conn:
                command = conn.makefile().readline().strip()
                self.commands.append(command)
                conn.sendall(self._answer(command).encode())

    def _answer(self, command: str) -> str:
        words = command.split()
        if words[:3] == ["show", "servers", "state"] and words[3:] == ["kube-apiserver"]:
            lines = [
                f"3 kube-apiserver {i} {name} 172.31.247.1{i} 2 {admin} 1 1 9 6 3 4 6 0 0 0 - "
                "6443 - 1 0 - - 0"
                for i, (name, admin) in enumerate(self.admin.items(), start=1)
            ]
            return HEADER + "\n".join(lines) + "\n\n"
        if words[:2] == ["set", "server"] and words[3] == "state":
            backend, server = words[2].split("/")
            if backend != "kube-apiserver":
                return "No such backend.\n\n"
            if server not in self.admin:
                return "No such server.\n\n"
            self.admin[server] = 0x08 if words[4] == "drain" else 0
            return "\n"
        return "Unknown command.\n\n"

    def close(self) -> None:
        self._server.close()


@pytest.fixture
def api() -> Iterator[StandInRuntimeApi]:
    # A short path: Unix socket paths are limited to 108 bytes.
    with tempfile.TemporaryDirectory(prefix="hap") as directory:
        stand_in = StandInRuntimeApi(Path(directory) / "admin.sock")
        yield stand_in
        stand_in.close()


def server(api: StandInRuntimeApi, tmp_path: Path, state: str, *flags: str) -> dict[str, Any]:
    args = {"socket": str(api.path), "backend": "kube-apiserver", "server": "apiserver2"}
    return run_module("keelson.platform.haproxy_server", {**args, "state": state}, tmp_path, *flags)


def test_drains_then_readies_a_server_and_changes_nothing_the_second_time_with_a_stand_in(
    api: StandInRuntimeApi, tmp_path: Path
) -> None:
    first = server(api, tmp_path, "drain")
    assert (first["changed"], first["previous"]) == (True, "ready")
    assert api.admin == {"apiserver1": 0, "apiserver2": 0x08}
    assert "set server kube-apiserver/apiserver2 state drain" in api.commands
    again = server(api, tmp_path, "drain")
    assert (again["changed"], again["previous"]) == (False, "drain")
    ready = server(api, tmp_path, "ready")
    assert (ready["changed"], ready["previous"]) == (True, "drain")
    assert api.admin["apiserver2"] == 0


def test_check_mode_reports_the_change_and_sends_no_command_with_a_stand_in(
    api: StandInRuntimeApi, tmp_path: Path
) -> None:
    result = server(api, tmp_path, "drain", "--check")
    assert result["changed"] is True
    assert api.admin["apiserver2"] == 0
    assert not [c for c in api.commands if c.startswith("set ")]


def test_a_missing_socket_or_server_fails_naming_it(api: StandInRuntimeApi, tmp_path: Path) -> None:
    missing = run_module(
        "keelson.platform.haproxy_server",
        {"socket": str(tmp_path / "none.sock"), "backend": "kube-apiserver", "server": "a",
         "state": "drain"},
        tmp_path,
    )  # fmt: skip
    assert missing.get("failed") is True
    assert "none.sock" in missing["msg"]
    ghost = run_module(
        "keelson.platform.haproxy_server",
        {"socket": str(api.path), "backend": "kube-apiserver", "server": "apiserver9",
         "state": "drain"},
        tmp_path,
    )  # fmt: skip
    assert ghost.get("failed") is True
    assert "no server apiserver9 in backend kube-apiserver" in ghost["msg"]
