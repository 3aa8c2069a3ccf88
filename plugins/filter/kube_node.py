"""Filters of the kube_node role (plain Python, unit-tested in tests/unit/test_kube_filters.py)."""

from __future__ import annotations

import ipaddress
from typing import Any


def nth_address(cidr: str, index: int) -> str:
    """The INDEX-th address of the network CIDR (kubeadm puts cluster DNS at the tenth)."""
    network = ipaddress.ip_network(cidr, strict=True)
    if index >= network.num_addresses:
        raise ValueError(f"{cidr} has no address number {index}")
    return str(network.network_address + index)


def host_addresses(hosts: list[str], hostvars: Any) -> list[str]:
    """Each host's ansible_host, or its inventory name where none is set (resolved by DNS)."""
    return [str(hostvars[host].get("ansible_host") or host) for host in hosts]


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "kube_nth_address": nth_address,
            "kube_host_addresses": host_addresses,
        }
