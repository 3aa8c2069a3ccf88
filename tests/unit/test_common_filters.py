"""Unit tests of the common role's filters (plugins/filter/common.py)."""

from __future__ import annotations

from role_plugins import load_filter_plugin

plugin = load_filter_plugin("common")

WANTED = {
    "net.ipv4.ip_forward": 1,
    "net.ipv4.ip_local_port_range": "1024 65000",
    "net.bridge.bridge-nf-call-iptables": 1,
}


def test_every_parameter_in_force_leaves_nothing_to_do() -> None:
    stdout = (
        "net.ipv4.ip_forward = 1\n"
        "net.ipv4.ip_local_port_range = 1024\t65000\n"
        "net.bridge.bridge-nf-call-iptables = 1\n"
    )
    assert plugin.sysctl_state(stdout, WANTED) == {
        "unknown": [],
        "differing": {},
        "set": [],
        "report": "",
    }


def test_a_differing_value_is_named_with_its_running_value_and_what_to_write() -> None:
    stdout = (
        "net.ipv4.ip_forward = 0\n"
        "net.ipv4.ip_local_port_range = 32768\t60999\n"
        "net.bridge.bridge-nf-call-iptables = 1\n"
    )
    state = plugin.sysctl_state(stdout, WANTED)
    assert state["unknown"] == []
    assert state["differing"] == {
        "net.ipv4.ip_forward": "0",
        "net.ipv4.ip_local_port_range": "32768\t60999",
    }
    assert state["set"] == ["net.ipv4.ip_forward=1", "net.ipv4.ip_local_port_range=1024 65000"]
    assert state["report"] == (
        "net.ipv4.ip_forward=1 (it is 0);"
        " net.ipv4.ip_local_port_range=1024 65000 (it is 32768 60999)"
    )


def test_a_parameter_the_kernel_lacks_is_unknown_not_differing() -> None:
    # br_netfilter not loaded: sysctl prints an error on stderr and no line for it.
    stdout = "net.ipv4.ip_forward = 1\nnet.ipv4.ip_local_port_range = 1024\t65000\n"
    state = plugin.sysctl_state(stdout, WANTED)
    assert state["unknown"] == ["net.bridge.bridge-nf-call-iptables"]
    assert state["differing"] == {}
