"""The lab's network services: its registry and the files mirror of the offline bundle."""

from __future__ import annotations

from keelson import dockercli, images
from keelson.bundle import store as bundle_store
from keelson.errors import LabError
from keelson.images import cache
from keelson.images.cache import REGISTRY_PORT
from keelson.lab.spec import FILES_PORT, LABEL, LabSpec, Progress


def ensure_registry(spec: LabSpec, progress: Progress) -> None:
    image = images.ensure_image(cache.REGISTRY_IMAGE, progress)
    container = spec.registry_container
    info = dockercli.inspect("container", container)
    if info is not None and info.get("Config", {}).get("Image") != image:
        progress("replacing the registry container (its image changed; the data volume stays)")
        dockercli.run("rm", "--force", container)
        info = None
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
    info = dockercli.inspect("container", container)
    mounts = [m.get("Source") for m in (info or {}).get("Mounts", [])]
    if info is not None and (
        info.get("Config", {}).get("Image") != image or str(root) not in mounts
    ):
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
