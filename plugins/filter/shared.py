"""Filters of keelson_defaults: the pinned releases of versions.yml, and where an etcd member
listens, from its own host variables."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def keelson_etcd_address(hostvars: Mapping[str, Any]) -> str:
    """A member's etcd address: its inventory's etcd_address, else its default IPv4 address."""
    if hostvars.get("etcd_address"):
        return str(hostvars["etcd_address"])
    return str(hostvars["ansible_facts"]["default_ipv4"]["address"])


def keelson_etcd_client_url(hostvars: Mapping[str, Any], default_port: int) -> str:
    """A member's client URL (IPv6 addresses in brackets), with its own etcd_client_port if the
    inventory gives it one."""
    address = keelson_etcd_address(hostvars)
    host = f"[{address}]" if ":" in address else address
    return f"https://{host}:{int(hostvars.get('etcd_client_port') or default_port)}"


def keelson_pins(versions: Mapping[str, Any]) -> dict[str, str]:
    """Component -> its pinned release from versions.yml (`version`, or the first of
    `versions`: the Kubernetes release clusters are deployed with)."""
    pins = {}
    for component, spec in (versions.get("components") or {}).items():
        listed = spec.get("versions") or [spec.get("version")]
        pins[str(component)] = str(listed[0])
    return pins


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "pins": keelson_pins,
            "etcd_address": keelson_etcd_address,
            "etcd_client_url": keelson_etcd_client_url,
        }
