"""Verify the containerd role on the molecule hosts: service, merged config, registries, crictl
and a real container started from an image imported without any registry."""

import os
import tomllib
from pathlib import Path

import pytest
from scenario_helpers import molecule_host, molecule_inventory, run_playbook

IMAGE = "docker.io/keelson/test-busybox:latest"
IMAGE_ARCHIVE = "/root/test-busybox.tar"
CERTS_D = "/etc/containerd/certs.d"
SOCKET = "/run/containerd/containerd.sock"


def journal(host, unit):
    return host.run(f"journalctl -u {unit} --no-pager -n 50").stdout


def config_dump(host):
    dump = host.run("containerd config dump")
    assert dump.rc == 0, dump.stderr
    return tomllib.loads(dump.stdout)


def cri_settings(config):
    """(sandbox image, runc options, registry section, CRI runtime section) wherever the config
    version puts them."""
    plugins = config["plugins"]
    if config["version"] >= 3:
        images = plugins["io.containerd.cri.v1.images"]
        runtime = plugins["io.containerd.cri.v1.runtime"]
        runc = runtime["containerd"]["runtimes"]["runc"]
        return images["pinned_images"]["sandbox"], runc["options"], images["registry"], runtime
    cri = plugins["io.containerd.grpc.v1.cri"]
    runc = cri["containerd"]["runtimes"]["runc"]
    return cri["sandbox_image"], runc["options"], cri["registry"], cri


@pytest.mark.parametrize("package", ["containerd", "runc"])
def test_package_installed(host, package):
    assert host.package(package).is_installed


def test_service_running_and_enabled(host):
    service = host.service("containerd")
    assert service.is_running, journal(host, "containerd")
    assert service.is_enabled


def test_socket_exists(host):
    assert host.file(SOCKET).is_socket


def test_config_file(host):
    config = host.file("/etc/containerd/config.toml")
    assert config.user == "root"
    assert config.mode == 0o644
    assert "Ansible managed" in config.content_string


def test_merged_config(host):
    config = config_dump(host)
    sandbox, runc_options, registry, runtime = cri_settings(config)
    assert sandbox == "registry.k8s.io/pause:3.10"
    # containerd_restrict_oom_score_adj (true in molecule.yml; containerd's default is false).
    assert runtime["restrict_oom_score_adj"] is True
    assert runc_options["SystemdCgroup"] is True
    assert registry["config_path"] == CERTS_D
    assert config["root"] == "/var/lib/containerd"
    assert config["state"] == "/run/containerd"


def test_cri_plugin_loaded(host):
    """containerd starts without the CRI plugin (status "error") when its config is wrong."""
    plugins = host.check_output("ctr plugins ls")
    rows = [row.split() for row in plugins.splitlines()[1:] if row.strip()]
    status = {(row[0], row[1]): row[-1] for row in rows}
    cri = status.get(("io.containerd.grpc.v1", "cri"))
    assert cri == "ok", f"{plugins}\n{journal(host, 'containerd')}"


def test_private_registry_hosts_toml(host):
    hosts_toml = host.file(f"{CERTS_D}/registry.lab:5000/hosts.toml")
    assert hosts_toml.mode == 0o644
    config = tomllib.loads(hosts_toml.content_string)
    assert config["server"] == "http://registry.lab:5000"
    assert config["host"] == {
        "https://mirror.lab:5443": {
            "capabilities": ["pull", "resolve"],
            "ca": "/etc/ssl/certs/ca-certificates.crt",
        }
    }


def test_docker_hub_hosts_toml(host):
    config = tomllib.loads(host.file(f"{CERTS_D}/docker.io/hosts.toml").content_string)
    assert config["server"] == "https://registry-1.docker.io"
    # Mirrors keep the order of the list: containerd tries them in that order.
    assert list(config["host"]) == ["http://mirror.lab:5000", "https://harbor.lab/v2/proxy-docker"]
    assert config["host"]["http://mirror.lab:5000"]["skip_verify"] is True
    assert config["host"]["https://harbor.lab/v2/proxy-docker"] == {
        "capabilities": ["pull"],
        "override_path": True,
    }


def test_unlisted_registry_removed(host):
    assert not host.file(f"{CERTS_D}/stale.example").exists
    listed = sorted(host.file(CERTS_D).listdir())
    assert listed == ["docker.io", "registry.lab:5000"]


def test_crictl_config(host):
    crictl = host.file("/etc/crictl.yaml")
    assert crictl.mode == 0o644
    assert f"runtime-endpoint: unix://{SOCKET}" in crictl.content_string
    assert f"image-endpoint: unix://{SOCKET}" in crictl.content_string


def test_container_runs(host):
    """Import the image prepare.yml copied and run it the way the CRI plugin runs pods: runc
    through a systemd scope in the k8s.io namespace."""
    imported = host.run(f"ctr -n k8s.io images import {IMAGE_ARCHIVE}")
    assert imported.rc == 0, imported.stderr
    name = f"keelson-verify-{host.check_output('hostname')}"
    script = "echo hello from busybox; /bin/busybox cat /proc/self/cgroup"
    run = host.run(
        "ctr -n k8s.io run --rm --runc-systemd-cgroup"
        f" --cgroup system.slice:keelson-verify:{name}"
        f" {IMAGE} {name} /bin/busybox sh -c '{script}'"
    )
    assert run.rc == 0, f"{run.stderr}\n{journal(host, 'containerd')}"
    assert run.stdout.splitlines()[0] == "hello from busybox"
    # runc placed the container in a systemd scope, as SystemdCgroup = true makes it do for pods.
    assert f"/system.slice/keelson-verify-{name}.scope" in run.stdout


# Last: the tests below converge again with other settings.
HOSTS = ("containerd-host1", "containerd-host2", "containerd-host3")
MARKER = "/run/keelson-containerd-restart-pending"
FAIL_DROPIN = "/run/systemd/system/containerd.service.d/keelson-test-fail.conf"
SCENARIO = Path(__file__).resolve().parents[1]


def started(name):
    """(start, active) of containerd on NAME: its monotonic clock is the machine's, shared by
    every molecule host, so times of two hosts compare."""
    show = molecule_host(name).check_output(
        "systemctl show containerd --property=ExecMainStartTimestampMonotonic"
        " --property=ActiveEnterTimestampMonotonic"
    )
    values = dict(line.split("=", 1) for line in show.splitlines())
    start, active = "ExecMainStartTimestampMonotonic", "ActiveEnterTimestampMonotonic"
    return int(values[start]), int(values[active])


def converge(*extra):
    """The scenario's converge again, of containerd only (common is converged)."""
    return run_playbook(
        ["-i", molecule_inventory(), str(SCENARIO / "converge.yml"), "--skip-tags=common", *extra],
        dict(os.environ),
    )


def test_a_change_restarts_one_host_at_a_time_and_a_host_that_fails_stops_the_roll():
    """A configuration change restarts host1, host2, host3 in turn, each ready before the next
    starts. A host whose containerd cannot restart stops the run, naming it: the hosts after it
    keep their containerd and their pending restart, which the next run carries out."""
    changed = "-e", "containerd_sandbox_image=registry.k8s.io/pause:3.10-rolled"
    second = molecule_host(HOSTS[1])
    before = {name: started(name) for name in HOSTS}
    # containerd on host2 keeps running, but cannot start again.
    second.run_expect([0], f"mkdir -p {FAIL_DROPIN.rsplit('/', 1)[0]}")
    second.run_expect([0], f"printf '[Service]\\nExecStartPre=/bin/false\\n' > {FAIL_DROPIN}")
    second.run_expect([0], "systemctl daemon-reload")
    try:
        stopped = converge(*changed)
    finally:
        second.run_expect([0], f"rm -f {FAIL_DROPIN} && systemctl daemon-reload")
    assert stopped.rc != 0, stopped
    assert f"-> {HOSTS[1]}" in stopped.text, stopped
    assert "Unable to restart service containerd" in stopped.text, stopped
    assert started(HOSTS[0]) != before[HOSTS[0]]
    assert started(HOSTS[2]) == before[HOSTS[2]]
    for name in HOSTS[1:]:
        assert molecule_host(name).file(MARKER).exists, name
    first_restart = started(HOSTS[0])

    resumed = converge(*changed)
    assert resumed.rc == 0, resumed
    assert started(HOSTS[0]) == first_restart
    assert started(HOSTS[2]) != before[HOSTS[2]]
    assert started(HOSTS[1])[1] <= started(HOSTS[2])[0]

    back = converge()
    assert back.rc == 0, back
    times = [started(name) for name in HOSTS]
    # Each host was active again before the next one's containerd started.
    assert times[0][1] <= times[1][0] and times[1][1] <= times[2][0], times
    for name in HOSTS:
        assert not molecule_host(name).file(MARKER).exists, name
