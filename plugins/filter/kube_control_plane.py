"""Filters of the kube_control_plane role (plain Python, unit-tested in
tests/unit/test_kube_control_plane_filters.py)."""

from __future__ import annotations

from typing import Any

# The providers of an EncryptionConfiguration that hold keys (identity holds none).
_KEYED_PROVIDERS = ("secretbox", "aescbc", "aesgcm")


def encryption_keys(config: Any) -> list[str]:
    """Every key secret of an EncryptionConfiguration's Secrets providers, in the order the API
    server tries them: the first one is the key new Secrets are written with."""
    if not isinstance(config, dict):
        return []
    keys: list[str] = []
    for resource in config.get("resources") or []:
        if "secrets" not in (resource.get("resources") or []):
            continue
        for provider in resource.get("providers") or []:
            for kind in _KEYED_PROVIDERS:
                for key in (provider.get(kind) or {}).get("keys") or []:
                    keys.append(str(key.get("secret", "")))
    return keys


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"encryption_keys": encryption_keys}
