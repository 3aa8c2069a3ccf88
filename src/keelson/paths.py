"""Where the project's content (playbooks, roles) and state (runs, lab keys) live.

The content is the Ansible collection keelson.platform: a checkout (galaxy.yml at its root) or
the collection installed by ansible-galaxy (MANIFEST.json at its root). A checkout also holds
what only developers and the lab use: images/, inventories/ of labs, molecule/.
"""

import os
from pathlib import Path

from keelson.errors import UsageError

# Where ansible-galaxy installs a collection unless told otherwise (Ansible's COLLECTIONS_PATHS).
DEFAULT_COLLECTIONS_PATHS = ("~/.ansible/collections", "/usr/share/ansible/collections")


def _is_project(path: Path) -> bool:
    return (path / "playbooks" / "site.yml").is_file() and (path / "roles").is_dir()


def _source_tree() -> Path:
    """Where this package's source lies: a checkout when installed from one (editable)."""
    return Path(__file__).resolve().parents[2]


def installed_collections() -> list[Path]:
    """Every keelson.platform an Ansible run would find, in Ansible's order of search."""
    env = os.environ.get("ANSIBLE_COLLECTIONS_PATH")
    bases = env.split(os.pathsep) if env else DEFAULT_COLLECTIONS_PATHS
    found = []
    for base in bases:
        root = Path(base).expanduser() / "ansible_collections" / "keelson" / "platform"
        if base and _is_project(root) and (root / "MANIFEST.json").is_file():
            found.append(root.resolve())
    return found


def project_root() -> Path:
    """The playbooks and roles: $KEELSON_ROOT, the nearest parent of cwd that holds them, this
    source tree (a checkout the package was installed from), or the installed collection."""
    env = os.environ.get("KEELSON_ROOT")
    if env:
        root = Path(env).resolve()
        if not _is_project(root):
            raise UsageError(f"KEELSON_ROOT={env} holds no playbooks/site.yml and roles/")
        return root
    cwd = Path.cwd().resolve()
    for candidate in (cwd, *cwd.parents, _source_tree()):
        if _is_project(candidate):
            return candidate
    installed = installed_collections()
    if installed:
        return installed[0]
    raise UsageError(
        "no keelson playbooks found: run from a checkout, install the collection keelson.platform"
        " (ansible-galaxy collection install), or set KEELSON_ROOT"
    )


def is_checkout(root: Path) -> bool:
    """A checkout of the repository, not the collection ansible-galaxy installed."""
    return not (root / "MANIFEST.json").is_file()


def checkout_root(what: str) -> Path:
    """The checkout, for WHAT only a checkout has (the image tree, lab inventories)."""
    root = project_root()
    if not is_checkout(root):
        raise UsageError(
            f"{what} comes with a keelson checkout, not with the installed collection ({root})"
        )
    return root


def state_dir() -> Path:
    """Run records, lab keys and build caches: $KEELSON_STATE, <checkout>/.keelson, or, for the
    installed collection, $XDG_STATE_HOME/keelson (~/.local/state/keelson)."""
    env = os.environ.get("KEELSON_STATE")
    if env:
        return Path(env).resolve()
    root = project_root()
    if is_checkout(root):
        return root / ".keelson"
    xdg = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(xdg) / "keelson"
