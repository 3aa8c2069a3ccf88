"""Where the project's content (playbooks, roles) and state (runs, lab keys) live."""

import os
from pathlib import Path

from keelson.errors import UsageError


def _is_project(path: Path) -> bool:
    return (path / "playbooks" / "site.yml").is_file() and (path / "roles").is_dir()


def project_root() -> Path:
    """The keelson checkout: $KEELSON_ROOT, the nearest parent of cwd, or this source tree."""
    env = os.environ.get("KEELSON_ROOT")
    if env:
        root = Path(env).resolve()
        if not _is_project(root):
            raise UsageError(f"KEELSON_ROOT={env} holds no playbooks/site.yml and roles/")
        return root
    cwd = Path.cwd().resolve()
    for candidate in (cwd, *cwd.parents):
        if _is_project(candidate):
            return candidate
    source = Path(__file__).resolve().parents[2]
    if _is_project(source):
        return source
    raise UsageError("no keelson project found: run from a checkout or set KEELSON_ROOT")


def state_dir() -> Path:
    """Run records, lab keys and build caches: $KEELSON_STATE or <project>/.keelson."""
    env = os.environ.get("KEELSON_STATE")
    return Path(env).resolve() if env else project_root() / ".keelson"
