"""Render the containerd role's templates and parse them as containerd would read them.

containerd 2.x is not installable from Debian yet, so this is what proves that the schema 3
template is valid TOML with its settings under the right CRI plugin IDs.
"""

import json
import tomllib
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml
from role_plugins import role_defaults

ROLE = Path(__file__).resolve().parents[2] / "roles" / "containerd"

REGISTRIES = [
    {
        "name": "registry.lab:5000",
        "server": "http://registry.lab:5000",
        "ca_file": "/etc/ssl/lab-ca.pem",
        "mirrors": [{"url": "https://mirror.lab:5443", "skip_verify": True}],
    },
    {
        "name": "docker.io",
        "mirrors": [
            {"url": "http://mirror.lab:5000"},
            {"url": "https://harbor.lab/v2/proxy", "capabilities": ["pull"], "override_path": True},
        ],
    },
    {"name": "quay.io", "skip_verify": True},
    {"name": "_default", "mirrors": [{"url": "https://mirror.lab:5443"}]},
]


def comment(text: str) -> str:
    """The default style of Ansible's `comment` filter."""
    return "#\n" + "\n".join(f"# {line}" for line in text.splitlines()) + "\n#"


def to_bool(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes", "on")


def role_vars(**overrides: Any) -> dict[str, Any]:
    """The role's defaults (keelson_defaults' with its own), the literal (untemplated) entries of
    vars/main.yml, and its socket as the role's vars name it."""
    variables = role_defaults("containerd")
    internal = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
    variables.update(
        {key: value for key, value in internal.items() if "{{" not in json.dumps(value)}
    )
    variables["ansible_managed"] = "Ansible managed: do not edit"
    variables["_containerd_cni_bin_dirs"] = False
    variables["_containerd_socket"] = variables["keelson_cri_socket"]
    variables.update(overrides)
    return variables


def render(template: str, **overrides: Any) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(ROLE / "templates"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,  # as Ansible's template module does
        keep_trailing_newline=True,
    )
    env.filters.update(comment=comment, to_json=json.dumps, bool=to_bool)
    return env.get_template(template).render(role_vars(**overrides))


def config(template: str, **overrides: Any) -> dict[str, Any]:
    return tomllib.loads(render(template, **overrides))


def test_managed_header() -> None:
    for template in ("config-v2.toml.j2", "config-v3.toml.j2", "crictl.yaml.j2"):
        assert render(template).startswith("#\n# Ansible managed: do not edit\n#\n")


def test_v2_schema_for_containerd_1() -> None:
    cfg = config("config-v2.toml.j2")
    assert cfg["version"] == 2
    assert cfg["root"] == "/var/lib/containerd"
    assert cfg["state"] == "/run/containerd"
    cri = cfg["plugins"]["io.containerd.grpc.v1.cri"]
    assert cri["sandbox_image"] == "registry.k8s.io/pause:3.10"
    assert cri["containerd"]["default_runtime_name"] == "runc"
    runc = cri["containerd"]["runtimes"]["runc"]
    assert runc["runtime_type"] == "io.containerd.runc.v2"
    assert runc["options"]["SystemdCgroup"] is True
    assert cri["registry"]["config_path"] == "/etc/containerd/certs.d"
    assert cri["cni"] == {"bin_dir": "/opt/cni/bin", "conf_dir": "/etc/cni/net.d"}
    assert cfg["plugins"]["io.containerd.internal.v1.opt"]["path"] == "/var/lib/containerd/opt"


@pytest.mark.parametrize("bin_dirs", [False, True], ids=["containerd-2.0", "containerd-2.1+"])
def test_v3_schema_for_containerd_2(bin_dirs: bool) -> None:
    cfg = config("config-v3.toml.j2", _containerd_cni_bin_dirs=bin_dirs)
    assert cfg["version"] == 3
    assert cfg["root"] == "/var/lib/containerd"
    assert cfg["state"] == "/run/containerd"
    plugins = cfg["plugins"]
    # Schema 3 moved the CRI settings out of io.containerd.grpc.v1.cri.
    assert "io.containerd.grpc.v1.cri" not in plugins
    images = plugins["io.containerd.cri.v1.images"]
    assert images["pinned_images"]["sandbox"] == "registry.k8s.io/pause:3.10"
    assert images["registry"]["config_path"] == "/etc/containerd/certs.d"
    runtime = plugins["io.containerd.cri.v1.runtime"]
    assert runtime["containerd"]["default_runtime_name"] == "runc"
    runc = runtime["containerd"]["runtimes"]["runc"]
    assert runc["runtime_type"] == "io.containerd.runc.v2"
    assert runc["options"]["SystemdCgroup"] is True
    if bin_dirs:
        assert runtime["cni"] == {"bin_dirs": ["/opt/cni/bin"], "conf_dir": "/etc/cni/net.d"}
    else:
        assert runtime["cni"] == {"bin_dir": "/opt/cni/bin", "conf_dir": "/etc/cni/net.d"}


def cri_settings(cfg: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(sandbox image, runc options, registry section) wherever the schema puts them."""
    plugins = cfg["plugins"]
    if cfg["version"] == 3:
        images = plugins["io.containerd.cri.v1.images"]
        runc = plugins["io.containerd.cri.v1.runtime"]["containerd"]["runtimes"]["runc"]
        return images["pinned_images"]["sandbox"], runc["options"], images["registry"]
    cri = plugins["io.containerd.grpc.v1.cri"]
    runc = cri["containerd"]["runtimes"]["runc"]
    return cri["sandbox_image"], runc["options"], cri["registry"]


@pytest.mark.parametrize("template", ["config-v2.toml.j2", "config-v3.toml.j2"])
def test_settings_reach_the_config(template: str) -> None:
    cfg = config(
        template,
        containerd_cgroup_driver="cgroupfs",
        containerd_sandbox_image='registry.lab:5000/pause:3.10 "quoted\\"',
        containerd_root_dir="/data/containerd",
        containerd_state_dir="/run/k8s-containerd",
        containerd_registry_config_dir="/etc/containerd/registries",
    )
    sandbox, runc_options, registry = cri_settings(cfg)
    assert sandbox == 'registry.lab:5000/pause:3.10 "quoted\\"'
    assert runc_options == {"SystemdCgroup": False}
    assert registry == {"config_path": "/etc/containerd/registries"}
    assert cfg["root"] == "/data/containerd"
    assert cfg["state"] == "/run/k8s-containerd"
    assert cfg["plugins"]["io.containerd.internal.v1.opt"]["path"] == "/data/containerd/opt"


def hosts_toml(name: str) -> dict[str, Any]:
    registry = next(entry for entry in REGISTRIES if entry["name"] == name)
    return tomllib.loads(render("hosts.toml.j2", item=registry, containerd_registries=REGISTRIES))


def test_hosts_toml_private_registry() -> None:
    assert hosts_toml("registry.lab:5000") == {
        "server": "http://registry.lab:5000",
        "ca": "/etc/ssl/lab-ca.pem",
        "host": {
            "https://mirror.lab:5443": {"capabilities": ["pull", "resolve"], "skip_verify": True}
        },
    }


def test_hosts_toml_docker_hub_mirrors_in_order() -> None:
    cfg = hosts_toml("docker.io")
    assert cfg["server"] == "https://registry-1.docker.io"
    assert list(cfg["host"]) == ["http://mirror.lab:5000", "https://harbor.lab/v2/proxy"]
    assert cfg["host"]["https://harbor.lab/v2/proxy"] == {
        "capabilities": ["pull"],
        "override_path": True,
    }


def test_hosts_toml_server_defaults_to_https() -> None:
    assert hosts_toml("quay.io") == {"server": "https://quay.io", "skip_verify": True}


def test_hosts_toml_default_has_no_server() -> None:
    assert hosts_toml("_default") == {
        "host": {"https://mirror.lab:5443": {"capabilities": ["pull", "resolve"]}}
    }


def test_crictl_points_at_the_cri_socket() -> None:
    cfg = yaml.safe_load(render("crictl.yaml.j2"))
    assert cfg == {
        "runtime-endpoint": "unix:///run/containerd/containerd.sock",
        "image-endpoint": "unix:///run/containerd/containerd.sock",
        "timeout": 10,
        "debug": False,
    }
