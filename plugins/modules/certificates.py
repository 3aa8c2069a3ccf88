#!/usr/bin/python
"""keelson.platform.certificates: every X.509 certificate in the given files and kubeconfigs,
with its subject, issuer and expiry, read with the host's openssl (module_utils/certificates.py,
which the hosts' certificate metrics use too). Changes nothing."""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.keelson.platform.plugins.module_utils.certificates import find

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


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "paths": {"type": "list", "elements": "str", "default": []},
            "kubeconfigs": {"type": "list", "elements": "path", "default": []},
        },
        supports_check_mode=True,
    )

    def openssl(argv: list[str], pem: str) -> tuple[int, str, str]:
        rc, out, err = module.run_command(argv, data=pem, binary_data=True)
        return rc, out, err

    try:
        found = find(module.params["paths"], module.params["kubeconfigs"], openssl)
    except ValueError as problem:
        module.fail_json(msg=str(problem))
    module.exit_json(changed=False, certificates=found)


if __name__ == "__main__":
    main()
