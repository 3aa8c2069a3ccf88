"""Verify the common role on every molecule host (scenario variables: molecule.yml)."""

import re

import pytest
import testinfra

# Values the role must put in force: the role's required ones plus molecule.yml's common_sysctl.
EXPECTED_SYSCTL = {
    "net.ipv4.ip_forward": 1,
    "net.bridge.bridge-nf-call-iptables": 1,
    "net.bridge.bridge-nf-call-ip6tables": 1,
    "net.ipv4.conf.all.forwarding": 1,
}
# An fstab line that is not a comment and has swap as its type.
ACTIVE_SWAP_ENTRY = re.compile(r"^\s*[^#\s]\S*\s+\S+\s+swap\s")
PACKAGES = ["chrony", "conntrack", "ebtables", "ipset", "jq", "kmod", "logrotate", "socat"]


def journal(host, unit):
    """The unit's recent journal, to explain a failed service check."""
    return host.run(f"journalctl --no-pager -n 50 -u {unit}").stdout


def inventory_vars(host):
    return host.ansible.get_variables()


def other_host(host):
    """The other molecule host, reached through the same inventory."""
    name = inventory_vars(host)["inventory_hostname"]
    others = [h for h in inventory_vars(host)["groups"]["all"] if h != name]
    return testinfra.get_host(
        f"ansible://{others[0]}", ansible_inventory=host.backend.ansible_inventory
    )


def ipv4_address(host):
    return host.check_output("ip -4 -o route get 192.0.2.1 | sed -E 's/.* src ([0-9.]+).*/\\1/'")


@pytest.mark.parametrize("name,value", EXPECTED_SYSCTL.items())
def test_kernel_parameter_in_force(host, name, value):
    assert host.sysctl(name) == value


def test_kernel_parameters_persisted(host):
    persisted = host.file("/etc/sysctl.d/90-keelson.conf")
    assert persisted.mode == 0o644
    for name, value in EXPECTED_SYSCTL.items():
        assert persisted.contains(f"^{re.escape(name)}={value}$"), (
            f"{name} missing from {persisted.path}"
        )


def test_swap_is_off(host):
    swaps = host.file("/proc/swaps").content_string.splitlines()
    assert swaps[1:] == [], f"swap still active: {swaps}"
    assert host.run("awk '/^SwapTotal:/ {print $2}' /proc/meminfo").stdout.strip() == "0"


def test_fstab_has_no_active_swap_entry(host):
    fstab = host.file("/etc/fstab").content_string
    active = [line for line in fstab.splitlines() if ACTIVE_SWAP_ENTRY.match(line)]
    assert active == []
    # converge.yml added this entry before the role ran: the role must have commented it out.
    assert "# /swapfile none swap sw 0 0" in fstab


def test_swap_target_masked(host):
    assert host.run("systemctl is-enabled swap.target").stdout.strip() == "masked"


def test_chronyd_runs_without_touching_the_clock(host):
    chrony = host.service("chrony")
    assert chrony.is_running, journal(host, "chrony")
    assert chrony.is_enabled
    pid = host.check_output("systemctl show --property MainPID --value chrony")
    cmdline = host.file(f"/proc/{pid}/cmdline").content_string.split("\0")
    assert "-x" in cmdline, f"chronyd runs as {cmdline}\n{journal(host, 'chrony')}"
    assert "Disabled control of system clock" in journal(host, "chrony")


def test_chrony_uses_the_configured_servers(host):
    servers = inventory_vars(host)["common_ntp_servers"]
    conf = host.file("/etc/chrony/chrony.conf")
    for server in servers:
        assert conf.contains(f"^server {re.escape(server)} iburst$")
    # The running daemon loaded them: each is one of its sources.
    sources = host.check_output("chronyc -n -c sources")
    for server in servers:
        assert f",{server}," in sources, f"{server} not among chrony's sources:\n{sources}"


def test_hostname_from_inventory(host):
    expected = inventory_vars(host)["common_hostname"]
    assert host.check_output("hostname") == expected
    assert host.file("/etc/hostname").content_string.strip() == expected


def test_hosts_file_resolves_every_host(host):
    other = other_host(host)
    for target in (host, other):
        name = inventory_vars(target)["common_hostname"]
        entry = host.check_output(f"getent hosts {name}").split()
        assert entry[0] == ipv4_address(target), f"{name} resolves to {entry}"
    assert host.file("/etc/hosts").contains("^# BEGIN keelson cluster hosts$")


@pytest.mark.parametrize("name", PACKAGES)
def test_package_installed(host, name):
    assert host.package(name).is_installed


def test_journald_uses_the_configured_limit(host):
    limit = inventory_vars(host)["common_journald_system_max_use"]
    dropin = host.file("/etc/systemd/journald.conf.d/keelson.conf")
    assert dropin.contains(f"^SystemMaxUse={limit}$")
    # journald reports its ceiling when it starts: the restart picked the drop-in up.
    started = host.check_output(
        "journalctl --no-pager -b -u systemd-journald | grep 'System Journal' | tail -n 1"
    )
    number = re.match(r"(\d+)", limit).group(1)
    assert f"max {number}.0{limit[-1]}" in started, started


def test_logrotate_timer_active(host):
    timer = host.service("logrotate.timer")
    assert timer.is_enabled
    assert timer.is_running, journal(host, "logrotate.timer")
