"""Verify the node_exporter role on every molecule host (scenario variables: molecule.yml)."""

import calendar
import time

import pytest
import testinfra
import yaml
from scenario_helpers import PROJECT, SANDBOX, assert_runs_unprivileged, main_pid

UNIT = "prometheus-node-exporter"
LISTEN_ADDRESS = "0.0.0.0:9100"  # the role's default, kept by molecule.yml
PORT = LISTEN_ADDRESS.rsplit(":", 1)[1]
TEXTFILE_DIRECTORY = "/var/lib/prometheus/node-exporter"

# Sandboxing the role's unit must put in force, as `systemctl show` reports it.
HARDENING = {**SANDBOX, "User": "prometheus", "ProtectKernelModules": "yes"}

# Collectors that work in a lab container; each must still work inside the sandbox.
WORKING_COLLECTORS = [
    "cpu",
    "diskstats",
    "filesystem",
    "loadavg",
    "meminfo",
    "netdev",
    "netstat",
    "processes",
    "stat",
    "systemd",
    "textfile",
    "time",
    "timex",
    "uname",
    "vmstat",
]


def journal(host):
    """The exporter's recent journal, to explain a failed check."""
    return host.run(f"journalctl --no-pager -n 50 -u {UNIT}").stdout


def metrics(host, address="127.0.0.1"):
    """Scrape the exporter at address from host."""
    result = host.run(f"curl -sf http://{address}:{PORT}/metrics")
    assert result.rc == 0, f"scrape of {address} failed: {result.stderr}\n{journal(host)}"
    return result.stdout


def other_host(host):
    """The other molecule host, reached through the same inventory."""
    variables = host.ansible.get_variables()
    others = [h for h in variables["groups"]["all"] if h != variables["inventory_hostname"]]
    return testinfra.get_host(
        f"ansible://{others[0]}", ansible_inventory=host.backend.ansible_inventory
    )


def ipv4_address(host):
    return host.check_output("ip -4 -o route get 192.0.2.1 | sed -E 's/.* src ([0-9.]+).*/\\1/'")


def test_service_running_and_enabled(host):
    service = host.service(UNIT)
    assert service.is_running, journal(host)
    assert service.is_enabled


def test_listening_on_configured_address(host):
    assert host.socket(f"tcp://{LISTEN_ADDRESS}").is_listening, journal(host)


def test_role_unit_runs_the_bundles_exporter(host):
    fragment = host.check_output(f"systemctl show --property FragmentPath --value {UNIT}")
    assert fragment == f"/etc/systemd/system/{UNIT}.service"
    # The pinned release from the files mirror (versions.yml), not Debian's 1.5 package.
    pinned = yaml.safe_load((PROJECT / "versions.yml").read_text())["components"]["node_exporter"]
    version = host.check_output("/usr/local/bin/node_exporter --version")
    assert f"node_exporter, version {pinned['version'].lstrip('v')} " in version, version
    assert host.file(f"/proc/{main_pid(host, UNIT)}/exe").linked_to.endswith("/node_exporter")
    assert not host.package("prometheus-node-exporter").is_installed


@pytest.mark.parametrize("name,value", HARDENING.items())
def test_unit_hardening(host, name, value):
    assert host.check_output(f"systemctl show --property {name} --value {UNIT}") == value


def test_process_runs_unprivileged(host):
    assert_runs_unprivileged(host, UNIT, "prometheus")


def test_flags_from_variables(host):
    cmdline = host.file(f"/proc/{main_pid(host, UNIT)}/cmdline").content_string.split("\0")
    assert f"--web.listen-address={LISTEN_ADDRESS}" in cmdline
    assert f"--collector.textfile.directory={TEXTFILE_DIRECTORY}" in cmdline
    # molecule.yml turns processes on and arp off.
    scraped = metrics(host)
    assert 'node_scrape_collector_success{collector="processes"} 1' in scraped
    assert 'collector="arp"' not in scraped


@pytest.mark.parametrize("collector", WORKING_COLLECTORS)
def test_collector_works_in_sandbox(host, collector):
    line = f'node_scrape_collector_success{{collector="{collector}"}} 1'
    assert line in metrics(host), journal(host)


def test_other_host_can_scrape(host):
    """host scrapes the other molecule host over the network, as Prometheus will."""
    other = other_host(host)
    scraped = metrics(host, ipv4_address(other))
    assert "node_exporter_build_info{" in scraped


def test_textfile_metric_published(host):
    directory = host.file(TEXTFILE_DIRECTORY)
    assert directory.is_directory
    assert directory.mode == 0o755
    name = "keelson_molecule_textfile_check"
    prom = f"{TEXTFILE_DIRECTORY}/{name}.prom"
    # Written aside and renamed, as producers must, so a scrape never reads half a file.
    host.check_output(f"printf '{name} 42\\n' > {prom}.tmp && mv {prom}.tmp {prom}")
    try:
        assert f"{name} 42" in metrics(host), journal(host)
    finally:
        host.run(f"rm -f {prom}")


CERTIFICATE_UNIT = "keelson-certificate-metrics"
EXPIRY = "keelson_certificate_expiry_timestamp_seconds"


def not_after(host, path):
    """NotAfter of the certificate at path on host, in seconds since the epoch (openssl's view)."""
    end = host.check_output(f"openssl x509 -noout -enddate -in {path}").split("=", 1)[1]
    return calendar.timegm(time.strptime(end, "%b %d %H:%M:%S %Y %Z"))


def test_certificate_expiry_is_exported_from_the_first_run(host):
    """The converge ran the certificate metrics at once (not at the timer's first tick): one
    series per certificate of the files and of the kubeconfig's fields, with openssl's NotAfter."""
    scraped = metrics(host)
    pki = "/etc/keelson-test-pki"
    expected = {
        (f"{pki}/short.crt", "file", "CN=short.test"): not_after(host, f"{pki}/short.crt"),
        (f"{pki}/test.conf", "client-certificate-data", "CN=client.test"): not_after(
            host, f"{pki}/client.pem"
        ),
        (f"{pki}/test.conf", "certificate-authority-data", "CN=short.test"): not_after(
            host, f"{pki}/short.crt"
        ),
    }
    exported = {
        labels: float(value)
        for labels, value in (
            line.removeprefix(EXPIRY).rsplit(" ", 1)
            for line in scraped.splitlines()
            if line.startswith(EXPIRY + "{")
        )
    }
    assert exported == {
        f'{{path="{path}",subject="{subject}",what="{what}"}}': float(value)
        for (path, what, subject), value in expected.items()
    }
    assert "keelson_certificate_metrics_last_run_timestamp_seconds" in scraped
    prom = host.file(f"{TEXTFILE_DIRECTORY}/keelson_certificates.prom")
    assert prom.user == "root" and prom.mode == 0o644


def test_certificate_metrics_run_hourly_in_a_sandbox(host):
    timer = host.service(f"{CERTIFICATE_UNIT}.timer")
    assert timer.is_enabled and timer.is_running
    assert host.run(f"systemctl is-failed {CERTIFICATE_UNIT}.service").stdout.strip() != "failed"
    shown = host.check_output(
        f"systemctl show {CERTIFICATE_UNIT}.service --property {','.join(SANDBOX)}"
    )
    assert dict(line.split("=", 1) for line in shown.splitlines()) == SANDBOX


def test_a_certificate_openssl_cannot_read_fails_the_run_and_keeps_the_last_file(host):
    prom = f"{TEXTFILE_DIRECTORY}/keelson_certificates.prom"
    before = host.file(prom).content_string
    bad = "/etc/keelson-test-pki/broken.crt"
    pem = "'-----BEGIN CERTIFICATE-----' 'bm90IGEgY2VydA==' '-----END CERTIFICATE-----'"
    host.check_output(f"printf '%s\\n' {pem} > {bad}")
    try:
        assert host.run(f"systemctl start {CERTIFICATE_UNIT}.service").rc != 0
        log = host.check_output(f"journalctl --no-pager -n 20 -u {CERTIFICATE_UNIT}.service")
        assert "openssl cannot read a certificate" in log
        assert host.file(prom).content_string == before
    finally:
        host.run(f"rm -f {bad}")
        host.run(f"systemctl reset-failed {CERTIFICATE_UNIT}.service")
        host.run(f"systemctl start {CERTIFICATE_UNIT}.service")
