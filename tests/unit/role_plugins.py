"""Load a plugin module (a role's filter plugins, the project's plugins/) by path, as Ansible
does, for unit tests."""

import importlib.util
from pathlib import Path
from types import ModuleType

ROLES = Path(__file__).resolve().parents[2] / "roles"


def load_plugin(path: Path) -> ModuleType:
    """The plugin module at PATH, loaded by path as Ansible loads it."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded


def load_filter_plugin(role: str, module: str) -> ModuleType:
    return load_plugin(ROLES / role / "filter_plugins" / f"{module}.py")
