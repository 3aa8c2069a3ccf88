"""The lab's network services: its registry, the files mirror of the offline bundle and, with
monitoring, the alert receiver."""

from __future__ import annotations

from typing import Any

from keelson import dockercli, images
from keelson.bundle import store as bundle_store
from keelson.errors import LabError
from keelson.images import cache
from keelson.images.cache import REGISTRY_PORT
from keelson.lab.spec import FILES_PORT, LABEL, LabSpec, Progress

ALERT_RECEIVER_IMAGE = "service/alert-receiver"


def _current(container: str, image: str, progress: Progress) -> dict[str, Any] | None:
    """CONTAINER's inspection, or None when there is none or it ran another image than IMAGE
    (then it is removed; its volumes stay)."""
    info = dockercli.inspect("container", container)
    if info is not None and info.get("Config", {}).get("Image") != image:
        progress(f"replacing {container} (its image changed)")
        dockercli.run("rm", "--force", container)
        return None
    return info


def ensure_registry(spec: LabSpec, progress: Progress) -> None:
    image = images.ensure_image(cache.REGISTRY_IMAGE, progress)
    container = spec.registry_container
    info = _current(container, image, progress)
    if info is None:
        progress(f"starting the registry at {spec.registry}")
        volume = f"{container}-data"
        dockercli.run("volume", "create", "--label", f"{LABEL}={spec.name}", volume)
        dockercli.run(
            "run",
            "--detach",
            "--name",
            container,
            "--network",
            spec.network,
            "--ip",
            spec.service_address(2),
            "--publish",
            f"127.0.0.1::{REGISTRY_PORT}",
            "--label",
            f"{LABEL}={spec.name}",
            "--label",
            f"{LABEL}.role=registry",
            "--restart",
            "unless-stopped",
            "--volume",
            f"{volume}:/var/lib/docker-registry",
            image,
        )
    elif not info.get("State", {}).get("Running"):
        progress("starting the registry")
        dockercli.run("start", container)
    else:
        return
    _wait_registry(spec.name)


def ensure_files_mirror(spec: LabSpec, image: str, progress: Progress) -> None:
    """The bundle root, served read-only by Python's http.server in a lab-host container."""
    root = bundle_store.default_root()
    root.mkdir(parents=True, exist_ok=True)
    container = spec.files_container
    info = _current(container, image, progress)
    if info is not None and str(root) not in [m.get("Source") for m in info.get("Mounts", [])]:
        dockercli.run("rm", "--force", container)
        info = None
    if info is None:
        progress(f"starting the files mirror at {spec.files_mirror} ({root})")
        address = spec.service_address(3)
        dockercli.run(
            *("run", "--detach", "--name", container, "--network", spec.network, "--ip", address),
            *("--label", f"{LABEL}={spec.name}", "--label", f"{LABEL}.role=files"),
            *("--restart", "unless-stopped", "--volume", f"{root}:/srv/bundle:ro"),
            *("--entrypoint", "python3", image),
            *("-m", "http.server", str(FILES_PORT), "--directory", "/srv/bundle"),
        )
    elif not info.get("State", {}).get("Running"):
        progress("starting the files mirror")
        dockercli.run("start", container)


def ensure_alert_receiver(spec: LabSpec, progress: Progress) -> None:
    """The lab's alert receiver (images/service/alert-receiver, built by the image pipeline):
    Alertmanager's webhook posts to it and it keeps every body, so people and tests see the
    alerts delivered (GET /alerts). Outside the cluster, like a site's paging service."""
    image = images.ensure_image(ALERT_RECEIVER_IMAGE, progress)
    container = spec.alert_receiver_container
    info = _current(container, image, progress)
    if info is None:
        progress(f"starting the alert receiver at {spec.alert_receiver}")
        address = spec.service_address(4)
        dockercli.run(
            *("run", "--detach", "--name", container, "--network", spec.network, "--ip", address),
            *("--label", f"{LABEL}={spec.name}", "--label", f"{LABEL}.role=alerts"),
            *("--restart", "unless-stopped", image),
        )
    elif not info.get("State", {}).get("Running"):
        progress("starting the alert receiver")
        dockercli.run("start", container)


def registry_endpoint(name: str) -> str:
    """127.0.0.1:PORT where the controller reaches the registry of lab NAME."""
    out = dockercli.run(
        "ps",
        "--filter",
        f"label={LABEL}={name}",
        "--filter",
        f"label={LABEL}.role=registry",
        "--format",
        "{{.Names}}",
    ).split()
    if not out:
        raise LabError(f"lab {name!r} runs no registry: run `keelson lab up` or pass --registry")
    published = dockercli.run("port", out[0], f"{REGISTRY_PORT}/tcp").split()
    if not published:
        raise LabError(f"registry {out[0]} publishes no port")
    return published[0].replace("0.0.0.0:", "127.0.0.1:")


def _wait_registry(name: str) -> None:
    address = registry_endpoint(name)
    if not cache.answers(address):
        raise LabError(f"the registry of lab {name!r} does not answer at http://{address}/v2/")
