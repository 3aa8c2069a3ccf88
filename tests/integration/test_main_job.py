"""The foundation's main job on a 3-host lab, asserted as a user sees it.

Order matters: bad inventories are tried on the fresh lab first (nothing may change), then the
main job converges it, a second run changes nothing, and --check --diff reports no drift until
a host is edited by hand.
"""

import shutil
import subprocess
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.conftest import LAB, ROOT, Run, docker_exec, keelson

NODES = ("node1", "node2", "node3")


def copy_inventory(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def edit_hosts(inv: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    hosts = inv / "hosts.yml"
    document = yaml.safe_load(hosts.read_text())
    edit(document)
    hosts.write_text(yaml.safe_dump(document))


def add_even_etcd(doc: dict[str, Any]) -> None:
    doc["all"]["children"]["etcd"]["hosts"] = {"node1": {}, "node2": {}}


def add_unreachable_host(doc: dict[str, Any]) -> None:
    doc["all"]["hosts"]["node9"] = {"ansible_host": "172.31.251.99"}
    doc["all"]["children"]["kube_node"]["hosts"]["node9"] = {}


def assert_untouched() -> None:
    """Nothing the main job installs is on any host yet."""
    for node in NODES:
        assert docker_exec(node, "test", "-e", "/usr/sbin/chronyd").returncode != 0, node
        assert docker_exec(node, "test", "-e", "/etc/sysctl.d/90-keelson.conf").returncode != 0


def one_error_line(run: Run) -> str:
    lines = run.err.strip().splitlines()
    assert len(lines) == 1, run.err
    assert lines[0].startswith("keelson: error: ")
    assert "Traceback" not in run.err
    return lines[0]


def test_duplicate_host_is_refused(lab: Path, tmp_path: Path) -> None:
    inv = copy_inventory(lab, tmp_path / "inv")
    text = (inv / "hosts.yml").read_text()
    (inv / "hosts.yml").write_text(
        text.replace(
            "    node2:\n", "    node1:\n      ansible_host: 172.31.251.12\n    node2:\n", 1
        )
    )
    run = keelson("deploy", "-i", str(inv))
    assert run.code == 3
    assert "duplicate mapping key 'node1'" in one_error_line(run)
    assert_untouched()


def test_even_etcd_group_is_refused(lab: Path, tmp_path: Path) -> None:
    inv = copy_inventory(lab, tmp_path / "inv")
    edit_hosts(inv, add_even_etcd)
    run = keelson("deploy", "-i", str(inv))
    assert run.code == 3
    assert "etcd" in one_error_line(run)
    assert_untouched()


def test_misspelled_variable_is_refused_with_a_suggestion(lab: Path, tmp_path: Path) -> None:
    inv = copy_inventory(lab, tmp_path / "inv")
    with (inv / "group_vars" / "all.yml").open("a") as f:
        f.write("common_ntp_severs: [ntp.example.org]\n")
    run = keelson("deploy", "-i", str(inv))
    assert run.code == 3
    line = one_error_line(run)
    assert "common_ntp_severs" in line
    assert "common_ntp_servers" in line
    assert_untouched()


def test_unreachable_host_stops_the_run_before_any_change(lab: Path, tmp_path: Path) -> None:
    inv = copy_inventory(lab, tmp_path / "inv")
    edit_hosts(inv, add_unreachable_host)
    run = keelson("deploy", "-i", str(inv))
    assert run.code == 5, run.out + run.err
    assert "node9 unreachable" in one_error_line(run)
    stats = run.record["stats"]
    assert isinstance(stats, dict)
    assert sum(stats["changed"].values()) == 0
    assert_untouched()


def test_main_job_converges_and_every_host_serves_metrics(lab: Path) -> None:
    run = keelson("deploy", "-i", str(lab))
    assert run.code == 0, run.out[-3000:] + run.err
    for node in NODES:
        assert any(line.startswith(node) for line in run.out.splitlines()), "recap row missing"
    for i, node in enumerate(NODES, start=1):
        with urllib.request.urlopen(f"http://172.31.251.{10 + i}:9100/metrics", timeout=5) as r:
            body = r.read().decode()
        assert "node_exporter_build_info" in body, node
        assert f'nodename="{node}"' in body


def test_runtime_and_etcd_come_from_the_bundle(lab: Path) -> None:
    pins = yaml.safe_load((ROOT / "versions.yml").read_text())["components"]
    for node in NODES:
        containerd = docker_exec(node, "containerd", "--version").stdout
        assert f" {pins['containerd']['version']}" in containerd, containerd
        crictl = docker_exec(node, "crictl", "--version").stdout
        assert pins["crictl"]["version"] in crictl, crictl
        # crictl reaches containerd 2 over the CRI socket the role configured.
        assert docker_exec(node, "crictl", "info").returncode == 0, node
    etcd = docker_exec("node1", "etcd", "--version").stdout
    assert f"etcd Version: {pins['etcd']['version'].removeprefix('v')}" in etcd, etcd


def test_second_run_changes_nothing(lab: Path) -> None:
    run = keelson("deploy", "-i", str(lab))
    assert run.code == 0, run.err
    stats = run.record["stats"]
    assert isinstance(stats, dict)
    assert stats["changed"] == {}, stats["changed"]
    assert sorted(stats["ok"]) == list(NODES)


def test_check_diff_reports_no_drift_then_finds_a_hand_edit(lab: Path) -> None:
    clean = keelson("deploy", "-i", str(lab), "--check", "--diff")
    assert clean.code == 0, clean.err
    assert "no drift" in clean.out

    docker_exec(
        "node2", "sh", "-c", "echo 'server rogue.example.org iburst' >> /etc/chrony/chrony.conf"
    )
    drift = keelson("deploy", "-i", str(lab), "--check", "--diff")
    assert drift.code == 0, drift.err
    assert "drift:" in drift.out and "node2" in drift.out.split("drift:")[-1]
    assert "-server rogue.example.org iburst" in drift.out
    # --check changed nothing: the hand edit is still there until a real run reverts it.
    assert "rogue" in docker_exec("node2", "cat", "/etc/chrony/chrony.conf").stdout
    fix = keelson("deploy", "-i", str(lab), "--limit", "node2", "--tags", "common")
    assert fix.code == 0, fix.err
    assert "rogue" not in docker_exec("node2", "cat", "/etc/chrony/chrony.conf").stdout


def test_lab_up_again_changes_nothing(lab: Path) -> None:
    before = {p: p.stat().st_mtime_ns for p in lab.rglob("*") if p.is_file()}
    ids = [docker_exec(n, "cat", "/etc/machine-id").stdout for n in NODES]
    again = keelson("lab", "up", "--name", LAB, "--nodes", "3", "--subnet", "172.31.251.0/24")
    assert again.code == 0, again.err
    assert "creating" not in again.out
    assert {p: p.stat().st_mtime_ns for p in lab.rglob("*") if p.is_file()} == before
    assert [docker_exec(n, "cat", "/etc/machine-id").stdout for n in NODES] == ids


@pytest.mark.parametrize("lab_name", ["itest-down"])
def test_lab_down_removes_what_it_made_and_nothing_else(lab_name: str) -> None:
    up = keelson("lab", "up", "--name", lab_name, "--nodes", "1", "--subnet", "172.31.252.0/24")
    assert up.code == 0, up.err
    bystander = f"keelson-{lab_name}-bystander"
    subprocess.run(["docker", "volume", "create", bystander], check=True, capture_output=True)
    try:
        down = keelson("lab", "down", "--name", lab_name)
        assert down.code == 0, down.err
        label = f"label=io.keelson.lab={lab_name}"
        for kind in ("container", "volume", "network"):
            left = subprocess.run(
                ["docker", kind, "ls", "-q", "--filter", label]
                + (["--all"] if kind == "container" else []),
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            assert left.strip() == "", f"{kind} left behind"
        assert (
            subprocess.run(
                ["docker", "volume", "inspect", bystander], capture_output=True, check=False
            ).returncode
            == 0
        )
        assert not (Path(__file__).resolve().parents[2] / "inventories" / lab_name).exists()
    finally:
        subprocess.run(["docker", "volume", "rm", bystander], capture_output=True, check=False)
