"""Kubernetes day-2 commands: what is refused before any playbook runs, and the kubeconfig."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from keelson import inventory, kube
from keelson.bundle import spec as bundle_spec
from keelson.cli import main
from keelson.errors import ControllerError, UsageError

KUBE_VERSION = bundle_spec.load().kubernetes().version
HOSTS = {
    "all": {
        "hosts": {
            "node1": {"ansible_host": "10.9.8.11"},
            "node2": {"ansible_host": "10.9.8.12"},
            "node3": {"ansible_host": "10.9.8.13"},
        },
        "children": {
            "etcd": {"hosts": {"node1": {}}},
            "kube_control_plane": {"hosts": {"node1": {}}},
            "kube_node": {"hosts": {"node1": {}, "node2": {}}},
            "monitoring": {"hosts": {"node3": {}}},
        },
    }
}


@pytest.fixture
def inv(tmp_path: Path) -> Path:
    directory = tmp_path / "inv"
    directory.mkdir()
    (directory / "hosts.yml").write_text(yaml.safe_dump(HOSTS))
    return directory


@pytest.fixture
def no_playbooks(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        pytest.fail(f"a playbook ran: {args}")

    monkeypatch.setattr(kube, "run_playbook", refuse)
    monkeypatch.setattr(inventory, "run_playbook", refuse)


@pytest.mark.parametrize(
    ("node", "message"),
    [
        ("node1", "node1 is a control-plane host"),
        ("node7", "node7 is not a host of"),
        ("node3", "node3 is not in group kube_node"),
    ],
)
@pytest.mark.usefixtures("no_playbooks")
def test_remove_node_refuses_anything_but_a_worker_before_running_anything(
    inv: Path, node: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["remove-node", "-i", str(inv), "--node", node, "--yes"])
    assert code == UsageError.exit_code
    assert message in capsys.readouterr().err


@pytest.mark.usefixtures("no_playbooks")
def test_remove_node_and_reset_without_a_terminal_need_yes(
    inv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # pytest's stdin is no terminal: nothing can be asked, so nothing may run.
    assert main(["remove-node", "-i", str(inv), "--node", "node2"]) == UsageError.exit_code
    assert "remove-node needs confirmation" in capsys.readouterr().err
    assert main(["reset", "-i", str(inv)]) == UsageError.exit_code
    assert "reset needs confirmation" in capsys.readouterr().err


def test_kubeconfig_sits_beside_the_inventory(inv: Path) -> None:
    expected = inv / "credentials" / "admin.conf"
    assert kube.kubeconfig_path(inv) == expected
    assert kube.kubeconfig_path(inv / "hosts.yml") == expected


def test_kubeconfig_prints_the_path_once_the_deploy_fetched_it(
    inv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["kubeconfig", "-i", str(inv / "hosts.yml")])
    assert code == UsageError.exit_code
    expected = inv / "credentials" / "admin.conf"
    assert capsys.readouterr().err == (
        f"keelson: error: no kubeconfig at {expected}: "
        f"run `keelson deploy -i {inv / 'hosts.yml'}` first\n"
    )
    expected.parent.mkdir()
    expected.write_text("apiVersion: v1\n")
    assert main(["kubeconfig", "-i", str(inv)]) == 0
    assert capsys.readouterr().out == f"{expected}\n"


def test_kubectl_without_the_bundle_names_the_build(
    inv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KEELSON_CACHE", str(tmp_path / "cache"))
    (inv / "credentials").mkdir()
    (inv / "credentials" / "admin.conf").write_text("apiVersion: v1\n")
    code = main(["kubectl", "-i", str(inv), "--", "get", "nodes"])
    assert code == ControllerError.exit_code
    err = capsys.readouterr().err
    assert "keelson bundle build --only kubernetes" in err
    assert f"/dl.k8s.io/release/{KUBE_VERSION}/bin/linux/amd64/kubectl" in err


def test_kubectl_passes_its_exit_code_through(
    inv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KEELSON_CACHE", str(tmp_path / "cache"))
    (inv / "credentials").mkdir()
    (inv / "credentials" / "admin.conf").write_text("apiVersion: v1\n")
    root = tmp_path / "cache" / "bundle" / "root"
    path = root / f"dl.k8s.io/release/{KUBE_VERSION}/bin/linux/amd64/kubectl"
    path.parent.mkdir(parents=True)
    # A stand-in kubectl: exits with the number it is given after --kubeconfig FILE.
    path.write_text('#!/bin/sh\ntest "$1" = --kubeconfig && test -f "$2" && exit "$3"\nexit 99\n')
    path.chmod(0o755)
    assert main(["kubectl", "-i", str(inv), "--", "3"]) == 3
    assert main(["kubectl", "-i", str(inv), "0"]) == 0


def test_remove_node_parses_the_inventory_once_and_checks_its_rules_once(
    inv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real_load = inventory.load_groups
    monkeypatch.setattr(inventory, "load_groups", lambda i: calls.append("parse") or real_load(i))
    monkeypatch.setattr(inventory, "check", lambda i: calls.append("rules"))
    monkeypatch.setattr(kube, "run_playbook", lambda *a, **k: pytest.fail("confirmed nothing"))
    with pytest.raises(UsageError, match="removal of node2 not confirmed"):
        kube.remove_node(inv, "node2", lambda: calls.append("asked") is None and False)
    assert calls == ["parse", "rules", "asked"]


@pytest.mark.usefixtures("no_playbooks")
def test_etcd_commands_refuse_a_bad_inventory_before_any_playbook(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": {}}}))
    for command in (["status"], ["snapshots"], ["backup"], ["restore", "--snapshot", "x", "--yes"]):
        assert main(["etcd", *command, "-i", str(empty)]) == 3, command
        assert "defines no hosts" in capsys.readouterr().err
