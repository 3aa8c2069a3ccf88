"""Roles that install from the bundle pin the same versions and paths as versions.yml (the
bundle's manifest lists files by those paths: a drift would fail every deploy's preflight)."""

import re
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml
from role_plugins import role_defaults

from keelson.bundle import spec

ROOT = Path(__file__).resolve().parents[2]
PINS = yaml.safe_load((ROOT / "versions.yml").read_text())["components"]


def _role(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    defaults = role_defaults(name)
    role_vars = yaml.safe_load((ROOT / f"roles/{name}/vars/main.yml").read_text())
    return defaults, role_vars


def _render(text: str, context: dict[str, Any]) -> str:
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    env.filters["regex_replace"] = lambda s, pattern, repl: __import__("re").sub(pattern, repl, s)
    for _ in range(3):  # variables that refer to variables
        text = env.from_string(text).render(**context)
    return text.strip()


def _upstream_path(component: str) -> str:
    pin = PINS[component]
    return str(pin["path"]).format(
        version=pin["version"], bare=pin["version"].removeprefix("v"), arch="amd64"
    )


def test_etcd_role_installs_the_pinned_release() -> None:
    defaults, role_vars = _role("etcd")
    assert defaults["etcd_version"] == PINS["etcd"]["version"]
    artifact = role_vars["_etcd_bundle_artifacts"][0]
    assert _render(artifact["path"], {**defaults, **role_vars}) == _upstream_path("etcd")


@pytest.mark.parametrize(
    ("index", "component", "version_var"),
    [
        (0, "containerd", "containerd_version"),
        (1, "runc", "containerd_runc_version"),
        (2, "crictl", "containerd_crictl_version"),
    ],
)
def test_containerd_role_installs_the_pinned_releases(
    index: int, component: str, version_var: str
) -> None:
    defaults, role_vars = _role("containerd")
    assert defaults[version_var] == PINS[component]["version"]
    artifact = role_vars["_containerd_bundle_artifacts"][index]
    assert _render(artifact["path"], {**defaults, **role_vars}).replace(" ", "") == _upstream_path(
        component
    )


def test_make_lab_builds_the_kubernetes_version_the_lab_deploys() -> None:
    """`make lab` builds one Kubernetes version, the first pinned (which lab inventories name),
    by asking for it by role rather than spelling it: versions.yml is the one place."""
    makefile = (ROOT / "Makefile").read_text()
    assert "BUNDLE_KUBERNETES ?= deployed" in makefile
    assert "--kubernetes $(BUNDLE_KUBERNETES)" in makefile
    assert not re.search(r"\bv1\.\d+\.\d+\b", makefile)
    picked = spec.load().select(only=["kubernetes"], kubernetes=["deployed"])
    assert [b.version for b in picked] == [PINS["kubernetes"]["versions"][0]]
