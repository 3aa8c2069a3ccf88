"""The machine's image cache: a registry on this machine holding every image `keelson images
push` pushed, as registries store them (compressed layers, manifests).

`docker push` compresses every layer again for each registry it pushes to: a fresh lab's registry
cost 45 s of gzip for the cluster's 16 images on 2 cores, every lab. Images are pushed once into
the cache; every registry is then given them by copying blobs and manifests over the registry API
(registry.copy), which compresses nothing. The cache is a container and a volume of its own, not
a lab's: `keelson lab down` leaves it, and removing both (`docker rm -f keelson-image-cache;
docker volume rm keelson-image-cache`) only costs the next push its compression again.
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request

from keelson import dockercli
from keelson.errors import ImageError
from keelson.images.builder import ensure_image
from keelson.images.tree import Progress

# The registry image of the tree (images/service/registry): the lab's registries and the cache.
REGISTRY_IMAGE = "service/registry"
REGISTRY_PORT = 5000
CONTAINER = "keelson-image-cache"
VOLUME = CONTAINER
LABEL = "io.keelson.cache"


def endpoint(progress: Progress) -> str:
    """127.0.0.1:PORT of the cache registry, started (or replaced, keeping its volume, when the
    registry image changed) if it does not run."""
    image = ensure_image(REGISTRY_IMAGE, progress)
    info = dockercli.inspect("container", CONTAINER, error=ImageError)
    if info is not None and info.get("Config", {}).get("Image") != image:
        dockercli.run("rm", "--force", CONTAINER, error=ImageError)
        info = None
    if info is None:
        progress("starting the image cache (a registry on this machine)")
        dockercli.run("volume", "create", "--label", f"{LABEL}=images", VOLUME, error=ImageError)
        dockercli.run(
            *("run", "--detach", "--name", CONTAINER, "--label", f"{LABEL}=images"),
            *("--publish", f"127.0.0.1::{REGISTRY_PORT}", "--restart", "unless-stopped"),
            *("--volume", f"{VOLUME}:/var/lib/docker-registry", image),
            error=ImageError,
        )
    elif not info.get("State", {}).get("Running"):
        dockercli.run("start", CONTAINER, error=ImageError)
    port = dockercli.run("port", CONTAINER, f"{REGISTRY_PORT}/tcp", error=ImageError)
    address = port.split()[0] if port.strip() else ""
    if not address:
        raise ImageError(f"the image cache ({CONTAINER}) publishes no port")
    if not answers(address):
        raise ImageError(f"the image cache ({CONTAINER}) does not answer at {address}")
    return address


def answers(address: str, seconds: float = 30) -> bool:
    """Whether the registry at ADDRESS answers its API within SECONDS (a started one may take a
    moment)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://{address}/v2/", timeout=2):
                return True
        except (urllib.error.URLError, OSError):
            time.sleep(0.3)
    return False
