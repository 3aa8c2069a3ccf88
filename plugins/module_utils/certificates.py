"""Every X.509 certificate in PEM files and kubeconfigs, with its subject, issuer and expiry, read
with the host's openssl. Plain Python, no Ansible: the certificates module (`keelson certs
check`) imports it, and the node_exporter role installs it on every host beside the program that
writes the certificates' expiry for the textfile collector (keelson-certificate-metrics)."""

from __future__ import annotations

import base64
import binascii
import calendar
import glob
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

PEM = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)
EMBEDDED = re.compile(r"(client-certificate-data|certificate-authority-data):\s*(\S+)")
OPENSSL = ["openssl", "x509", "-noout", "-subject", "-issuer", "-enddate", "-nameopt", "RFC2253"]

# Runs OPENSSL with a PEM certificate on its input: (exit status, output, errors).
Openssl = Callable[[list[str], str], tuple[int, str, str]]


def describe(pem: str, openssl: Openssl) -> dict[str, Any]:
    """Subject, issuer, expires (as openssl prints it) and not_after (seconds since the epoch)."""
    rc, out, err = openssl(OPENSSL, pem)
    if rc != 0:
        raise ValueError(f"openssl cannot read a certificate: {err.strip()}")
    fields = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    expires = fields.get("notAfter", "").strip()
    return {
        "subject": fields.get("subject", "").strip(),
        "issuer": fields.get("issuer", "").strip(),
        "expires": expires,
        "not_after": calendar.timegm(time.strptime(expires, "%b %d %H:%M:%S %Y %Z")),
    }


def find(
    paths: Iterable[str], kubeconfigs: Iterable[str], openssl: Openssl
) -> list[dict[str, Any]]:
    """One entry per certificate: path, what (file, or the kubeconfig field) and describe()'s.
    PATHS are files or glob patterns (every certificate in each; keys skipped); a kubeconfig
    that does not exist is skipped. A problem raises ValueError naming the file."""
    found: list[dict[str, Any]] = []
    for pattern in paths:
        for path in sorted(glob.glob(pattern)):
            with open(path, encoding="utf-8", errors="replace") as f:
                for pem in PEM.findall(f.read()):
                    found.append({"path": path, "what": "file", **describe(pem, openssl)})
    for path in kubeconfigs:
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            continue
        for field, data in EMBEDDED.findall(text):
            try:
                pem = base64.b64decode(data, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                raise ValueError(f"{path}: {field} is not base64 of a PEM certificate") from None
            for one in PEM.findall(pem):
                found.append({"path": path, "what": field, **describe(one, openssl)})
    return found
