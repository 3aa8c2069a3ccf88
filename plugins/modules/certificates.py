#!/usr/bin/python
"""keelson.platform.certificates: every X.509 certificate in the given files and kubeconfigs,
with its subject, issuer and expiry, read with the host's openssl. Changes nothing."""

from __future__ import annotations

import base64
import binascii
import calendar
import glob
import re
import time
from typing import Any

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: certificates
short_description: List the certificates in files and kubeconfigs with their expiry
description:
  - Never changes the host; runs in check mode as in a normal run. Needs openssl on the host.
options:
  paths:
    description: Files or glob patterns of PEM files (every certificate in each; keys skipped).
    type: list
    elements: str
    default: []
  kubeconfigs:
    description: Kubeconfigs whose embedded certificates (client and authority data) are listed.
    type: list
    elements: path
    default: []
author: keelson
"""

RETURN = r"""
certificates:
  description: >-
    One entry per certificate: path, what (file, or the kubeconfig field), subject, issuer,
    not_after (seconds since the epoch) and expires (as openssl prints it).
  type: list
  returned: always
"""

PEM = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)
EMBEDDED = re.compile(r"(client-certificate-data|certificate-authority-data):\s*(\S+)")


def _describe(module: AnsibleModule, pem: str) -> dict[str, Any]:
    rc, out, err = module.run_command(
        ["openssl", "x509", "-noout", "-subject", "-issuer", "-enddate", "-nameopt", "RFC2253"],
        data=pem,
        binary_data=True,
    )
    if rc != 0:
        module.fail_json(msg=f"openssl cannot read a certificate: {err.strip()}")
    fields = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    expires = fields.get("notAfter", "").strip()
    not_after = calendar.timegm(time.strptime(expires, "%b %d %H:%M:%S %Y %Z"))
    return {
        "subject": fields.get("subject", "").strip(),
        "issuer": fields.get("issuer", "").strip(),
        "expires": expires,
        "not_after": not_after,
    }


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "paths": {"type": "list", "elements": "str", "default": []},
            "kubeconfigs": {"type": "list", "elements": "path", "default": []},
        },
        supports_check_mode=True,
    )
    found: list[dict[str, Any]] = []
    for pattern in module.params["paths"]:
        for path in sorted(glob.glob(pattern)):
            with open(path, encoding="utf-8", errors="replace") as f:
                for pem in PEM.findall(f.read()):
                    found.append({"path": path, "what": "file", **_describe(module, pem)})
    for path in module.params["kubeconfigs"]:
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            continue
        for field, data in EMBEDDED.findall(text):
            try:
                pem = base64.b64decode(data, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                module.fail_json(msg=f"{path}: {field} is not base64 of a PEM certificate")
            for one in PEM.findall(pem):
                found.append({"path": path, "what": field, **_describe(module, one)})
    module.exit_json(changed=False, certificates=found)


if __name__ == "__main__":
    main()
