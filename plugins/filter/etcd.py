"""Filters behind the etcd role: certificate names and the verdict on `etcdctl endpoint health`.

Plain data in, plain data out, so tests/unit/test_etcd_filters.py checks them without Ansible.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Mapping
from typing import Any


def subject_alt_names(names: Iterable[Any]) -> list[str]:
    """`IP:<address>` or `DNS:<name>` for each name, without empty entries or duplicates.

    Addresses are written the way certificates print them (IPv6 compressed); entries that
    already carry a `DNS:` or `IP:` prefix are kept as given.
    """
    found: list[str] = []
    for raw in names:
        name = str(raw or "").strip()
        if not name:
            continue
        if name.startswith(("DNS:", "IP:")):
            entry = name
        else:
            try:
                entry = f"IP:{ipaddress.ip_address(name.strip('[]'))}"
            except ValueError:
                entry = f"DNS:{name.lower()}"
        if entry not in found:
            found.append(entry)
    return found


def _last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def health_problems(
    stdout: str,
    stderr: str,
    members: Mapping[str, str],
    names: Mapping[str, str] | None = None,
) -> list[str]:
    """What keeps the cluster from being healthy, one entry per member; empty when healthy.

    stdout, stderr: output of `etcdctl -w json endpoint health [--cluster]`.
    members: client URL -> inventory name of every member that must answer, healthy.
    names: client URL -> inventory name of every etcd host, to name other endpoints too.
    """
    known = {**(names or {}), **members}
    try:
        endpoints = json.loads(stdout) if (stdout or "").strip() else None
    except ValueError:
        endpoints = None
    if not isinstance(endpoints, list):
        return [f"no member answered etcdctl ({_last_line(stderr)})"]
    problems: list[str] = []
    seen: set[str] = set()
    for entry in endpoints:
        url = str(entry.get("endpoint", ""))
        seen.add(url)
        if entry.get("health") is True:
            continue
        name = known.get(url, "a member outside the etcd group")
        problems.append(f"{name} ({url}): {entry.get('error') or 'unhealthy'}")
    problems.extend(
        f"{name} ({url}): not in the cluster's member list"
        for url, name in members.items()
        if url not in seen
    )
    return sorted(problems)


# x509_certificate_info spells extended key usages by their long names.
_USAGE_NAMES = {
    "serverAuth": "TLS Web Server Authentication",
    "clientAuth": "TLS Web Client Authentication",
}


def certificate_reasons(
    certificates: list[Mapping[str, Any]],
    keys: list[Mapping[str, Any]],
    infos: list[Mapping[str, Any]],
    ca_key_identifier: str,
) -> dict[str, list[str]]:
    """Why each certificate must be issued (an empty list: keep it), by name.

    KEYS are the openssl_privatekey results and INFOS the x509_certificate_info results (a
    skipped one: no certificate file yet), one per certificate in the same order. A certificate
    is issued when it is missing, expires within the renewal window (valid_at.renewal), or no
    longer matches its names, common name, usages, CA or private key."""
    reasons: dict[str, list[str]] = {}
    for cert, key, info in zip(certificates, keys, infos, strict=True):
        name = str(cert["name"])
        if info.get("skipped") or not info.get("subject"):
            reasons[name] = ["missing"]
            continue
        found: list[str] = []
        if not (info.get("valid_at") or {}).get("renewal"):
            found.append(f"expires {info.get('not_after')}, within etcd_cert_renew_days")
        if sorted(info.get("subject_alt_name") or []) != sorted(cert["subject_alt_name"] or []):
            found.append("names changed")
        if (info.get("subject") or {}).get("commonName", "") != cert["common_name"]:
            found.append("common name changed")
        wanted_usage = sorted(_USAGE_NAMES[u] for u in cert["extended_key_usage"])
        if sorted(info.get("extended_key_usage") or []) != wanted_usage:
            found.append("key usage changed")
        if info.get("authority_key_identifier") != ca_key_identifier:
            found.append("not signed by the cluster CA")
        key_fingerprint = (key.get("fingerprint") or {}).get("sha256", "")
        if (info.get("public_key_fingerprints") or {}).get("sha256", "") != key_fingerprint:
            found.append("does not match the private key")
        reasons[name] = found
    return reasons


class FilterModule:
    """etcd role helpers as Jinja filters."""

    def filters(self) -> dict[str, Any]:
        return {
            "etcd_subject_alt_names": subject_alt_names,
            "etcd_health_problems": health_problems,
            "etcd_certificate_reasons": certificate_reasons,
        }
