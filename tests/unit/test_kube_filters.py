"""The kube_node role's filters."""

import pytest
from role_plugins import load_filter_plugin

plugin = load_filter_plugin("kube_node")


def test_cluster_dns_is_the_tenth_address_of_the_service_network() -> None:
    assert plugin.nth_address("10.96.0.0/12", 10) == "10.96.0.10"
    assert plugin.nth_address("fd00:10:96::/112", 10) == "fd00:10:96::a"


def test_host_addresses_fall_back_to_the_inventory_name() -> None:
    hostvars = {"cp1": {"ansible_host": "192.0.2.11"}, "cp2": {}}
    assert plugin.host_addresses(["cp1", "cp2"], hostvars) == ["192.0.2.11", "cp2"]


def test_an_address_outside_the_network_or_host_bits_are_refused() -> None:
    with pytest.raises(ValueError, match="no address number 10"):
        plugin.nth_address("10.96.0.0/29", 10)
    with pytest.raises(ValueError):
        plugin.nth_address("10.96.0.1/12", 10)
