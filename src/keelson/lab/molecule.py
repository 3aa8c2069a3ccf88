"""Molecule's hosts, made the way `keelson lab` makes its hosts (keelson.lab.hosts.run_host), so
the roles are tested on the same systemd hosts they are deployed to in the lab.

The shared molecule configuration (.config/molecule/config.yml) replaces the docker driver's
create and destroy playbooks with molecule/shared/{create,destroy}.yml, which call:

    python -m keelson.lab.molecule create|destroy PLATFORMS_JSON

PLATFORMS_JSON is molecule's platform list (name, hostname, image, networks).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from keelson import dockercli
from keelson.errors import KeelsonError, LabError
from keelson.lab.hosts import run_host

# Molecule's hosts, volumes and networks carry it (with the platform's name as its value), so
# `destroy` removes what `create` made and nothing else.
LABEL = "keelson.molecule"


def _networks(platforms: Sequence[dict[str, Any]]) -> list[str]:
    names = [net["name"] for p in platforms for net in p.get("networks", [])]
    return list(dict.fromkeys(names))


def _network_of(platform: dict[str, Any]) -> str:
    networks = platform.get("networks") or []
    if len(networks) != 1:
        raise LabError(f"molecule platform {platform['name']}: expected one network")
    return str(networks[0]["name"])


def create(platforms: Sequence[dict[str, Any]]) -> None:
    """Start every platform's host afresh (a host left from an earlier run is replaced)."""
    destroy(platforms)
    for network in _networks(platforms):
        dockercli.run("network", "create", "--label", f"{LABEL}={network}", network)
    for platform in platforms:
        run_host(
            platform["name"],
            platform.get("hostname", platform["name"]),
            platform["image"],
            _network_of(platform),
            {LABEL: platform["name"]},
        )


def destroy(platforms: Sequence[dict[str, Any]]) -> None:
    """Remove the platforms' hosts, their volumes and networks (nothing else)."""
    for platform in platforms:
        name = platform["name"]
        if dockercli.inspect("container", name) is not None:
            dockercli.run("rm", "--force", "--volumes", name)
        volumes = dockercli.run(
            "volume", "ls", "--quiet", "--filter", f"label={LABEL}={name}"
        ).split()
        if volumes:
            dockercli.run("volume", "rm", *volumes)
    for network in _networks(platforms):
        if dockercli.inspect("network", network) is not None:
            dockercli.run("network", "rm", network)


def main(argv: Sequence[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("create", "destroy"):
        print(
            "usage: python -m keelson.lab.molecule create|destroy PLATFORMS_JSON", file=sys.stderr
        )
        return 2
    platforms = json.loads(argv[1])
    try:
        (create if argv[0] == "create" else destroy)(platforms)
    except KeelsonError as exc:
        print(f"keelson.lab.molecule: error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
