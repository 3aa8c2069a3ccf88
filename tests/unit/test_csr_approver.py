"""keelson-csr-approve (roles/kube_control_plane/files): which kubelet serving certificate
requests it approves, judged on real requests (made here with cryptography, checked by this
machine's openssl as on a control plane) against Node objects as the API returns them. The
approvals themselves run on the HA lab (tests/integration/test_etcd_backup.py)."""

from __future__ import annotations

import base64
import ipaddress
from importlib.machinery import SourceFileLoader
from importlib.util import module_from_spec, spec_from_loader
from types import ModuleType
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from role_plugins import ROLES

PATH = ROLES / "kube_control_plane" / "files" / "keelson-csr-approve"


def approver() -> ModuleType:
    loader = SourceFileLoader("keelson_csr_approve", str(PATH))
    spec = spec_from_loader(loader.name, loader)
    assert spec is not None
    module = module_from_spec(spec)
    loader.exec_module(module)
    return module


NODES = {
    "node4": {
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": "172.31.247.14"},
                {"type": "Hostname", "address": "node4"},
            ]
        }
    }
}


def csr(
    node: str = "node4",
    dns: tuple[str, ...] = ("node4",),
    ips: tuple[str, ...] = ("172.31.247.14",),
    cn: str | None = None,
    user: str | None = None,
    usages: tuple[str, ...] = ("digital signature", "server auth"),
) -> dict[str, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:nodes"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn or f"system:node:{node}"),
        ]
    )
    names: list[x509.GeneralName] = [x509.DNSName(d) for d in dns]
    names += [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    builder = x509.CertificateSigningRequestBuilder().subject_name(subject)
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    request = builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
    return {
        "metadata": {"name": "csr-x"},
        "spec": {
            "signerName": "kubernetes.io/kubelet-serving",
            "username": user or f"system:node:{node}",
            "groups": ["system:nodes", "system:authenticated"],
            "usages": list(usages),
            "request": base64.b64encode(request).decode(),
        },
    }


def test_a_nodes_own_request_is_approved() -> None:
    assert approver().refusal(csr(), NODES) == ""


@pytest.mark.parametrize(
    ("request_", "reason"),
    [
        (csr(ips=("172.31.247.11",)), "addresses 172.31.247.11 are not node node4's"),
        (csr(dns=("node4", "kubernetes.default")), "names kubernetes.default are not node node4's"),
        (csr(cn="system:node:node1"), "subject CN=system:node:node1,O=system:nodes is not"),
        (csr(user="system:serviceaccount:default:x"), "not by a node"),
        (csr(node="node9"), "node node9 does not exist"),
        (csr(usages=("digital signature", "client auth")), "usages client auth"),
        (csr(dns=(), ips=()), "names no DNS name or IP address"),
    ],
    ids=["other-ip", "other-name", "other-subject", "not-a-node", "no-node", "client", "empty"],
)
def test_a_request_a_node_could_not_make_for_itself_stays_pending(
    request_: dict[str, Any], reason: str
) -> None:
    assert reason in approver().refusal(request_, NODES)


def test_a_request_whose_signature_does_not_check_out_stays_pending() -> None:
    forged = csr()
    pem = base64.b64decode(forged["spec"]["request"]).decode()
    body = "".join(pem.splitlines()[1:-1])
    der = bytearray(base64.b64decode(body))
    der[-10] ^= 0xFF  # inside the signature
    lines = base64.b64encode(bytes(der)).decode()
    broken = (
        "-----BEGIN CERTIFICATE REQUEST-----\n" + lines + "\n-----END CERTIFICATE REQUEST-----\n"
    )
    forged["spec"]["request"] = base64.b64encode(broken.encode()).decode()
    assert "signature does not check out" in approver().refusal(forged, NODES)
