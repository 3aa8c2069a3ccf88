"""Verify the etcd role on the three members: a TLS-only cluster that refuses clients without a
certificate, keys that stay on their member, metrics on localhost only."""

import json
import os
import stat
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import (
    MEMBERS,
    PKI,
    certificate,
    client_url,
    etcd_config,
    etcdctl,
    journal,
)
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from scenario_helpers import SANDBOX, assert_runs_unprivileged

METRICS_URL = "http://127.0.0.1:2381"  # the role's default etcd_listen_metrics_urls
CONTROLLER_PKI = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent")) / "etcd-pki"

# The `host` fixture's hosts: the members (host4 is the backup store, test_etcd_backup.py).
testinfra_hosts = [f"ansible://{name}" for name in MEMBERS]

# Sandboxing the role's unit must put in force, as `systemctl show` reports it.
HARDENING = {**SANDBOX, "User": "etcd", "ReadWritePaths": "/var/lib/etcd"}


def names(cert):
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(sans.get_values_for_type(x509.DNSName)), {
        str(ip) for ip in sans.get_values_for_type(x509.IPAddress)
    }


def usages(cert):
    return set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


def address(host):
    return client_url(host).removeprefix("https://").rsplit(":", 1)[0]


def test_service_running_and_enabled(host):
    service = host.service("etcd")
    assert service.is_running, journal(host)
    assert service.is_enabled


def test_role_unit_replaces_package_unit(host):
    fragment = host.check_output("systemctl show --property FragmentPath --value etcd")
    assert fragment == "/etc/systemd/system/etcd.service"
    # Debian's unit would have created its default data dir had it ever started.
    assert not host.file("/var/lib/etcd/default").exists


@pytest.mark.parametrize("name,value", HARDENING.items())
def test_unit_hardening(host, name, value):
    assert host.check_output(f"systemctl show --property {name} --value etcd") == value


def test_process_runs_unprivileged(host):
    assert_runs_unprivileged(host, "etcd", "etcd")


def test_config_requires_client_certificates(host):
    config = etcd_config(host)
    for section in ("client-transport-security", "peer-transport-security"):
        assert config[section]["client-cert-auth"] is True
        assert config[section]["auto-tls"] is False
    assert config["listen-peer-urls"].startswith("https://")
    assert all(url.startswith("https://") for url in config["listen-client-urls"].split(","))
    assert config["listen-metrics-urls"] == METRICS_URL
    assert config["data-dir"] == "/var/lib/etcd"


def test_cluster_healthy_over_tls(host):
    result = etcdctl(host, "endpoint health --cluster -w json")
    assert result.rc == 0, f"{result.stderr}\n{journal(host)}"
    endpoints = json.loads(result.stdout)
    assert len(endpoints) == 3
    assert all(endpoint["health"] for endpoint in endpoints), endpoints


def test_members_named_after_inventory(host):
    listed = json.loads(etcdctl(host, "member list -w json").stdout)["members"]
    assert sorted(member["name"] for member in listed) == list(MEMBERS)
    for member in listed:
        assert all(url.startswith("https://") for url in member["peerURLs"] + member["clientURLs"])


def test_write_on_host1_is_read_on_host3(members):
    key, value = f"/keelson/molecule/{uuid.uuid4()}", uuid.uuid4().hex
    put = etcdctl(members["etcd-host1"], f"put {key} {value}")
    assert put.rc == 0, put.stderr
    got = etcdctl(members["etcd-host3"], f"get --print-value-only {key}")
    assert got.rc == 0, got.stderr
    assert got.stdout.strip() == value


def test_client_without_certificate_is_refused(members, host):
    """From another member, as a client on the network would try it."""
    other = members["etcd-host2" if host.backend.host != "etcd-host2" else "etcd-host1"]
    url = client_url(host)
    with_cert = other.run(
        f"curl -sS --max-time 5 --cacert {PKI}/ca.crt --cert {PKI}/admin.crt"
        f" --key {PKI}/admin.key {url}/health"
    )
    assert with_cert.rc == 0 and '"health":"true"' in with_cert.stdout, with_cert.stderr
    without_cert = other.run(f"curl -sS --max-time 5 --cacert {PKI}/ca.crt {url}/health")
    assert without_cert.rc != 0, without_cert.stdout
    assert '"health"' not in without_cert.stdout
    plain_http = other.run(f"curl -sSf --max-time 5 {url.replace('https://', 'http://')}/health")
    assert plain_http.rc != 0, plain_http.stdout
    assert '"health"' not in plain_http.stdout


def test_metrics_on_localhost(host):
    assert host.socket("tcp://127.0.0.1:2381").is_listening
    metrics = host.check_output(f"curl -sf --max-time 5 {METRICS_URL}/metrics")
    assert "etcd_server_has_leader 1" in metrics.splitlines()


def test_metrics_not_reachable_from_another_host(members, host):
    other = members["etcd-host3" if host.backend.host != "etcd-host3" else "etcd-host1"]
    scrape = other.run(f"curl -sS --max-time 5 http://{address(host)}:2381/metrics")
    assert scrape.rc != 0, scrape.stdout
    assert "etcd_server_has_leader" not in scrape.stdout


@pytest.mark.parametrize("name", ["peer", "server", "admin"])
def test_private_keys_are_private(host, name):
    key = host.file(f"{PKI}/{name}.key")
    assert key.mode == 0o600
    assert key.user == "etcd"


def test_ca_key_stays_on_the_controller(host):
    assert sorted(host.file(PKI).listdir()) == [
        "admin.crt",
        "admin.key",
        "ca.crt",
        "peer.crt",
        "peer.key",
        "server.crt",
        "server.key",
    ]
    assert host.run("find / -xdev -name 'ca.key' -print -quit").stdout == ""
    ca_key = (CONTROLLER_PKI / "ca.key").read_text()
    body = "".join(line for line in ca_key.splitlines() if not line.startswith("-----"))
    assert body[:40] not in host.run(f"grep -rh -F '{body[:40]}' /etc /var/lib/etcd").stdout


def test_controller_keeps_the_ca_private():
    assert stat.S_IMODE(CONTROLLER_PKI.stat().st_mode) == 0o700
    assert stat.S_IMODE((CONTROLLER_PKI / "ca.key").stat().st_mode) == 0o600
    assert sorted(p.name for p in CONTROLLER_PKI.iterdir()) == ["ca.crt", "ca.key"]


def test_certificates_signed_by_the_cluster_ca(host):
    ca = x509.load_pem_x509_certificate((CONTROLLER_PKI / "ca.crt").read_bytes())
    assert host.file(f"{PKI}/ca.crt").content == (CONTROLLER_PKI / "ca.crt").read_bytes()
    for name in ("peer", "server", "admin"):
        cert = certificate(host, name)
        cert.verify_directly_issued_by(ca)
        lifetime = cert.not_valid_after_utc - datetime.now(UTC)
        assert timedelta(days=360) < lifetime <= timedelta(days=365), name


def test_certificate_names_and_usages(host):
    inventory_name = host.backend.host
    hostname = host.check_output("hostname")
    both = {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}

    peer = certificate(host, "peer")
    dns, ips = names(peer)
    assert {inventory_name, hostname} <= dns
    assert address(host) in ips
    assert "127.0.0.1" not in ips
    assert usages(peer) == both

    server = certificate(host, "server")
    dns, ips = names(server)
    assert {inventory_name, hostname, "localhost"} <= dns
    assert {address(host), "127.0.0.1"} <= ips
    assert usages(server) == both

    admin = certificate(host, "admin")
    assert usages(admin) == {ExtendedKeyUsageOID.CLIENT_AUTH}


def test_no_restart_pending(host):
    assert not host.file("/run/keelson-etcd-restart-pending").exists
