"""Load a plugin module (the collection's plugins/) by path, as Ansible
does, or run one of the project's modules on this machine, for unit tests."""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import jinja2
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = ROOT / "roles"


def load_plugin(path: Path) -> ModuleType:
    """The plugin module at PATH, loaded by path as Ansible loads it."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


def role_defaults(role: str) -> dict[str, Any]:
    """The defaults ROLE sees: keelson_defaults' (its dependency) with its own over them, the
    values that come from versions.yml (keelson_versions, keelson_pins, keelson_arch and the
    roles' version defaults) worked out as Ansible would."""
    shared = yaml.safe_load((ROLES / "keelson_defaults" / "defaults" / "main.yml").read_text())
    own = yaml.safe_load((ROLES / role / "defaults" / "main.yml").read_text()) or {}
    versions = yaml.safe_load((ROOT / "versions.yml").read_text())
    filters = load_filter_plugin("shared").FilterModule().filters()
    shared.update(
        keelson_versions=versions,
        keelson_pins=filters["pins"](versions),
        keelson_arch=versions["arch"],
    )
    merged = {**shared, **own}
    for name, value in own.items():
        if isinstance(value, str) and "keelson_pins" in value:
            merged[name] = jinja2.Template(value).render(merged)
    return merged


def load_filter_plugin(module: str) -> ModuleType:
    """plugins/filter/MODULE.py, the filters of the collection keelson.platform."""
    return load_plugin(ROOT / "plugins" / "filter" / f"{module}.py")


def run_module(module: str, args: dict[str, Any], home: Path, *flags: str) -> dict[str, Any]:
    """The result of MODULE (plugins/modules) run with ARGS by Ansible on localhost (connection
    local, the project's ansible.cfg, HOME at HOME), read from Ansible's json callback."""
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "ansible"), "localhost", "-c", "local",
         "-e", f"ansible_python_interpreter={sys.executable}",
         "-m", module, "-a", json.dumps(args), *flags],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
             "ANSIBLE_STDOUT_CALLBACK": "json", "PATH": "/usr/bin:/bin", "HOME": str(home)},
    )  # fmt: skip
    result: dict[str, Any] = json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    return result
