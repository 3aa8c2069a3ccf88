"""Every role documents its inputs: defaults and meta/argument_specs.yml never drift apart."""

from pathlib import Path
from typing import Any

import pytest
import yaml

# Roles whose behaviour needs a whole cluster (etcd, a registry with the cluster images, several
# kubelets): verified on the lab clusters of tests/integration (test_main_job, test_etcd_backup).
CLUSTER_ONLY = {"kube_control_plane", "network_flannel"}
# Roles converged and verified together in one scenario: the monitoring stack (Prometheus
# scrapes every host's node_exporter and delivers its alerts through Alertmanager; one set of
# hosts, one converge), etcd_backup on the etcd scenario's members (it backs them up), and common
# before containerd on the same hosts (as site.yml applies them).
SCENARIO_OF = {
    **{role: "monitoring" for role in ("node_exporter", "prometheus", "alertmanager")},
    "etcd_backup": "etcd",
    "common": "containerd",
}
# keelson_defaults has no tasks (nothing to converge): tests/unit/test_shared_defaults.py checks it.
ROLES = sorted(
    p
    for p in (Path(__file__).resolve().parents[2] / "roles").iterdir()
    if p.is_dir() and p.name != "keelson_defaults"
)


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text()) or {}


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_role_has_the_standard_parts(role: Path) -> None:
    for part in (
        "README.md",
        "meta/main.yml",
        "meta/argument_specs.yml",
        "tasks/main.yml",
        "tasks/preflight.yml" if role.name != "preflight" else "tasks/inventory.yml",
    ):
        assert (role / part).is_file(), f"{role.name}: {part} missing"
    name = SCENARIO_OF.get(role.name, role.name)
    scenario = Path(__file__).resolve().parents[2] / "molecule" / name / "molecule.yml"
    assert scenario.is_file() or role.name in CLUSTER_ONLY, f"{role.name}: no molecule scenario"
    if name != role.name:
        converge = scenario.with_name("converge.yml").read_text()
        assert f"keelson.platform.{role.name}" in converge, f"{name} does not converge {role.name}"


@pytest.mark.parametrize("role", ROLES, ids=lambda p: p.name)
def test_defaults_and_argument_specs_match(role: Path) -> None:
    defaults = _load(role / "defaults" / "main.yml") if (role / "defaults").exists() else {}
    specs = _load(role / "meta" / "argument_specs.yml")["argument_specs"]
    # Cluster-wide settings (kube_version, ...) are required inventory inputs, not defaults.
    options = {n: o for n, o in specs["main"]["options"].items() if not o.get("required")}
    assert set(defaults) == set(options), (
        f"{role.name}: only in defaults {sorted(set(defaults) - set(options))}, "
        f"only in specs {sorted(set(options) - set(defaults))}"
    )
    for name, value in defaults.items():
        assert name.startswith(f"{role.name}_"), f"{name} lacks the role prefix"
        spec = options[name]
        assert spec.get("description"), f"{name} has no description"
        assert spec.get("default") == value, f"{name}: spec default differs from defaults/main.yml"
