"""Certificates and their expiry: keelson.platform.certificates run by Ansible on this machine
(real files, real openssl) and keelson.certs' table and due list."""

from __future__ import annotations

import base64
import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from role_plugins import run_module

from keelson import certs

NOW = datetime.datetime(2026, 12, 6, tzinfo=datetime.UTC)


def certificate(cn: str, days: int) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(days=1))
        .not_valid_after(NOW + datetime.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def test_lists_certificates_of_files_and_kubeconfigs_with_their_expiry(tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    pki.mkdir()
    (pki / "apiserver.crt").write_text(certificate("kube-apiserver", 365))
    (pki / "apiserver.key").write_text(
        "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n"
    )
    client = base64.b64encode(certificate("kubernetes-admin", 10).encode()).decode()
    (tmp_path / "admin.conf").write_text(
        f"users:\n- user:\n    client-certificate-data: {client}\n"
    )
    args = {
        "paths": [str(pki / "*.crt"), str(pki / "*.key")],
        "kubeconfigs": [str(tmp_path / "admin.conf"), str(tmp_path / "missing.conf")],
    }
    result = run_module("keelson.platform.certificates", args, tmp_path)
    assert result["changed"] is False, result
    found = {(c["path"], c["what"]): c for c in result["certificates"]}
    assert set(found) == {
        (str(pki / "apiserver.crt"), "file"),
        (str(tmp_path / "admin.conf"), "client-certificate-data"),
    }
    admin = found[(str(tmp_path / "admin.conf"), "client-certificate-data")]
    assert admin["subject"] == "CN=kubernetes-admin"
    assert admin["not_after"] == int((NOW + datetime.timedelta(days=10)).timestamp())


def test_the_table_names_what_is_due() -> None:
    now = NOW.timestamp()
    rows = [
        {"host": "node1", "path": "/p/a.crt", "what": "file", "subject": "CN=a",
         "expires": "x", "not_after": now + 2 * certs.DAY},
        {"host": "node2", "path": "/k/admin.conf", "what": "client-certificate-data",
         "subject": "O=system:masters,CN=kubernetes-admin", "expires": "y",
         "not_after": now + 300 * certs.DAY},
        {"host": "node3", "path": "/p/b.crt", "what": "file", "subject": "CN=b",
         "expires": "z", "not_after": now - certs.DAY},
    ]  # fmt: skip
    assert [r["host"] for r in certs.due(rows, 30, now)] == ["node1", "node3"]
    text = certs.render(rows, 30, now)
    lines = text.splitlines()
    assert lines[1].endswith("2  renew") and "node1" in lines[1]
    assert "kubernetes-admin" in lines[2] and "client-certificate" in lines[2]
    assert lines[2].endswith("300")
    assert lines[3].endswith("EXPIRED")
    assert lines[-1] == "3 certificates; 2 expire within 30 days (keelson certs renew)"
