"""One owner per fact: the values every role shares live in roles/keelson_defaults, and every
role reads them from there (a role that writes 6443 itself would drift from the others)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from role_plugins import load_filter_plugin

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT / "roles" / "keelson_defaults"
# The shared values, as a role or playbook would spell them.
LITERALS = re.compile(
    r"(?<![\d.])(2379|2380|6443|6444|8405|10249)(?![\d])|containerd\.sock|\bamd64\b"
)
# Where roles decide things: task files, templates, variables, defaults.
CODE_PARTS = ("tasks", "handlers", "templates", "vars", "defaults")
# The collection's plugins, but for the shared filters (plugins/filter/shared.py).
PLUGIN_TYPES = ("filter", "modules", "action")


def _code_files() -> list[Path]:
    files = [p for p in (ROOT / "playbooks").rglob("*") if p.is_file()]
    for kind in PLUGIN_TYPES:
        files += [p for p in (ROOT / "plugins" / kind).glob("*.py") if p.name != "shared.py"]
    for role in (ROOT / "roles").iterdir():
        if role == SHARED or not role.is_dir():
            continue
        for part in CODE_PARTS:
            files += [p for p in (role / part).rglob("*") if p.is_file()]
    return sorted(p for p in files if "__pycache__" not in p.parts)


def test_no_role_or_playbook_spells_a_shared_value_itself() -> None:
    found = []
    for path in _code_files():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0] if path.suffix in (".yml", ".yaml", ".py") else line
            if LITERALS.search(code):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert found == [], "use the variable of roles/keelson_defaults:\n" + "\n".join(found)


def test_the_check_finds_a_literal() -> None:
    assert LITERALS.search("url: https://127.0.0.1:6443/readyz")
    assert LITERALS.search("runtime-endpoint: unix:///run/containerd/containerd.sock")
    assert LITERALS.search("etcd-v3.6.0-linux-amd64.tar.gz")
    assert not LITERALS.search("timeout: 16443s, port 23790, 10.2.6.443")


@pytest.mark.parametrize(
    "role", sorted(p.name for p in (ROOT / "roles").iterdir() if p.is_dir() and p != SHARED)
)
def test_every_role_depends_on_the_shared_defaults(role: str) -> None:
    meta = yaml.safe_load((ROOT / "roles" / role / "meta" / "main.yml").read_text())
    assert {"role": "keelson.platform.keelson_defaults"} in meta["dependencies"], role


def test_every_shared_default_is_documented_in_its_spec() -> None:
    defaults = yaml.safe_load((SHARED / "defaults" / "main.yml").read_text())
    specs = yaml.safe_load((SHARED / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    assert "main" not in specs  # no validation task in every role that depends on it
    options = specs["shared"]["options"]
    assert set(defaults) == set(options)
    for name, value in defaults.items():
        assert options[name]["default"] == value, name
        assert options[name].get("description"), name


FILTERS = load_filter_plugin("shared").FilterModule().filters()
FACTS = {"ansible_facts": {"default_ipv4": {"address": "10.0.0.5"}}, "ansible_host": "192.0.2.9"}


def test_a_members_url_is_its_default_address_unless_its_inventory_says_otherwise() -> None:
    url = FILTERS["etcd_client_url"]
    assert url(FACTS, 2379) == "https://10.0.0.5:2379"  # not ansible_host: etcd listens there
    assert url({**FACTS, "etcd_address": "10.1.0.5"}, 2379) == "https://10.1.0.5:2379"
    assert url({**FACTS, "etcd_client_port": 12379}, 2379) == "https://10.0.0.5:12379"
    assert url({**FACTS, "etcd_address": "fd00::5"}, 2379) == "https://[fd00::5]:2379"


def test_pins_come_from_versions_yml_and_kubernetes_is_the_first_listed() -> None:
    pins = FILTERS["pins"](
        {"components": {"etcd": {"version": "v3.6.1"}, "kubernetes": {"versions": ["v2", "v1"]}}}
    )
    assert pins == {"etcd": "v3.6.1", "kubernetes": "v2"}


def test_no_role_pins_a_release_of_its_own() -> None:
    """Release defaults name keelson_pins (versions.yml): a literal would drift from the bundle."""
    found = []
    for role in sorted((ROOT / "roles").iterdir()):
        defaults = role / "defaults" / "main.yml"
        if role == SHARED or not defaults.is_file():
            continue
        for name, value in (yaml.safe_load(defaults.read_text()) or {}).items():
            if isinstance(value, str) and re.fullmatch(r"v?\d+\.\d+\.\d+", value):
                found.append(f"{role.name}: {name}: {value}")
    assert found == []
