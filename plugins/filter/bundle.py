"""Filters of the bundle role (plain Python, unit-tested in tests/unit/test_bundle_filters.py)."""

from __future__ import annotations

import re
from typing import Any

_NAME = re.compile(r"^[A-Za-z0-9._-]+$")
_PATH = re.compile(r"^[^/\s]\S*$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def bundle_plan(
    artifacts: list[dict[str, Any]],
    mirror_url: str,
    manifest_sha256: dict[str, str],
    cache_dir: str,
    install_dir: str,
) -> list[dict[str, Any]]:
    """Each artifact with its URL, sha256 (given, or the manifest's), cache file, install
    directory, its links as a list of {key: link path, value: absolute target} (a file kept as it
    is, unpack false, is the target of its own links) and what is wrong with its description
    ("problem", empty when nothing; the role's preflight refuses the others)."""
    plan = []
    for artifact in artifacts:
        # Anything but a mapping is taken as a bare path: the plan names it as a problem.
        spec = artifact if isinstance(artifact, dict) else {"path": str(artifact)}
        name, path = str(spec.get("name", "")), str(spec.get("path", ""))
        links = spec.get("links") or {}
        unpack = bool(spec.get("unpack", True))
        sha256 = str(spec.get("sha256") or manifest_sha256.get(path, ""))
        cache = f"{cache_dir}/{name}"
        cached_file = f"{cache}/{path.rsplit('/', 1)[-1]}"
        target_dir = f"{install_dir}/{name}"
        plan.append(
            {
                "name": name,
                "url": f"{mirror_url.rstrip('/')}/{path}",
                "sha256": sha256,
                "unpack": unpack,
                "cache_dir": cache,
                "cached_file": cached_file,
                "install_dir": target_dir,
                "links": links,
                "link_list": [
                    {"key": link, "value": f"{target_dir}/{inner}" if unpack else cached_file}
                    for link, inner in links.items()
                ],
                "problem": _problem(name, path, links, sha256),
            }
        )
    return plan


def _problem(name: str, path: str, links: dict[str, str], sha256: str) -> str:
    """What is wrong with an artifact's description ("" when nothing)."""
    if not _NAME.match(name) or not _PATH.match(path) or not links:
        return (
            f"artifact {name or path or '?'} needs a name (letters, digits, . _ -), a path on "
            "the mirror and the links to make"
        )
    if not _SHA256.match(sha256):
        return (
            f"{path} is not in the bundle's manifest: build it (`keelson bundle build`) or set "
            "its sha256"
        )
    return ""


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"bundle_plan": bundle_plan}
