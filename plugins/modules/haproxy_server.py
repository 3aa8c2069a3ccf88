#!/usr/bin/python
"""keelson.platform.haproxy_server: put a server of a local HAProxy into drain or back to ready.

Through HAProxy's runtime API (its admin socket): a drained server takes no new connections and
keeps the ones it has, so an API server about to restart is out of the node-local endpoint's
rotation before it goes away. Only the state the runtime holds changes; a reload of HAProxy puts
every server back to the configuration's (ready). Idempotent, and honours check mode.
"""

from __future__ import annotations

import socket
from typing import Any

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: haproxy_server
short_description: Drain a server of the local HAProxy, or make it ready again
options:
  socket:
    description: HAProxy's admin socket (C(stats socket ... level admin)).
    type: path
    required: true
  backend:
    description: The backend the server is in.
    type: str
    required: true
  server:
    description: The server's name in the backend.
    type: str
    required: true
  state:
    description: C(drain) takes no new connections; C(ready) takes them again.
    type: str
    choices: [drain, ready]
    required: true
author: keelson
"""

RETURN = r"""
previous:
  description: The server's state before the task (drain or ready).
  type: str
  returned: always
"""

# srv_admin_state flags (HAProxy's server admin states): forced and inherited drain.
_DRAIN_FLAGS = 0x08 | 0x10


def _ask(path: str, command: str) -> str:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(path)
        s.sendall(command.encode() + b"\n")
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def server_state(answer: str, server: str) -> str | None:
    """drain or ready for SERVER in the answer of `show servers state BACKEND`; None when the
    backend has no such server. Columns: be_id be_name srv_id srv_name srv_addr srv_op_state
    srv_admin_state ..."""
    for line in answer.splitlines():
        fields = line.split()
        if line.startswith("#") or len(fields) < 7 or fields[3] != server:
            continue
        return "drain" if int(fields[6]) & _DRAIN_FLAGS else "ready"
    return None


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "socket": {"type": "path", "required": True},
            "backend": {"type": "str", "required": True},
            "server": {"type": "str", "required": True},
            "state": {"type": "str", "choices": ["drain", "ready"], "required": True},
        },
        supports_check_mode=True,
    )
    p: dict[str, Any] = module.params
    try:
        previous = server_state(
            _ask(p["socket"], f"show servers state {p['backend']}"), p["server"]
        )
    except OSError as e:
        module.fail_json(msg=f"HAProxy's admin socket {p['socket']}: {e}")
    if previous is None:
        module.fail_json(msg=f"HAProxy has no server {p['server']} in backend {p['backend']}")
    changed = previous != p["state"]
    if changed and not module.check_mode:
        answer = _ask(p["socket"], f"set server {p['backend']}/{p['server']} state {p['state']}")
        if answer.strip():
            module.fail_json(
                msg=f"HAProxy refused {p['state']} for {p['server']}: {answer.strip()}"
            )
    module.exit_json(changed=changed, previous=previous)


if __name__ == "__main__":
    main()
