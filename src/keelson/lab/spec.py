"""A lab's shape: its name, hosts, addresses and where its files live."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from keelson.errors import UsageError
from keelson.images.cache import REGISTRY_PORT
from keelson.paths import checkout_root, state_dir

LABEL = "io.keelson.lab"
# The lab registry (keelson.images.cache.REGISTRY_IMAGE) at .2 of the lab network, on its port
# there and published on 127.0.0.1 (a port Docker picks), where the controller pushes to it.
# The files mirror: the offline bundle's root (read-only) served over HTTP at .3 of the lab
# network, laid out like the upstream download sites; roles fetch binaries from it by sha256.
FILES_PORT = 8080
# The alert receiver of a lab with monitoring (images/service/alert-receiver) at .4: the lab's
# stand-in for a site's paging service, outside the cluster like one.
ALERT_RECEIVER_PORT = 8080

Progress = Callable[[str], None]


@dataclass(frozen=True)
class LabSpec:
    name: str = "lab"
    nodes: int = 3
    subnet: str = "172.31.250.0/24"
    control_planes: int = 1
    # node1 runs Prometheus and Alertmanager (the inventory's monitoring group).
    monitoring: bool = False

    @property
    def network(self) -> str:
        return f"keelson-{self.name}"

    def node_name(self, index: int) -> str:
        return f"node{index}"

    def container(self, index: int) -> str:
        return f"keelson-{self.name}-{self.node_name(index)}"

    def address(self, index: int) -> str:
        net = ipaddress.ip_network(self.subnet)
        return str(net.network_address + 10 + index)

    @property
    def registry_container(self) -> str:
        return f"keelson-{self.name}-registry"

    @property
    def gateway(self) -> str:
        """The lab network's gateway (this machine, as the hosts reach it): its first address."""
        return self.service_address(1)

    def service_address(self, offset: int) -> str:
        """Address of a lab service (not a host): .2 the registry, .3 the files mirror, .4 the
        alert receiver."""
        return str(ipaddress.ip_network(self.subnet).network_address + offset)

    @property
    def registry(self) -> str:
        """host:port of the lab registry as lab hosts reach it (and image names spell it)."""
        return f"{self.service_address(2)}:{REGISTRY_PORT}"

    @property
    def files_container(self) -> str:
        return f"keelson-{self.name}-files"

    @property
    def alert_receiver_container(self) -> str:
        return f"keelson-{self.name}-alerts"

    @property
    def alert_receiver(self) -> str:
        """Base URL of the alert receiver (Alertmanager posts to /alerts; GET /alerts lists what
        it kept)."""
        return f"http://{self.service_address(4)}:{ALERT_RECEIVER_PORT}"

    @property
    def files_mirror(self) -> str:
        """Base URL of the lab's files mirror as lab hosts reach it."""
        return f"http://{self.service_address(3)}:{FILES_PORT}"


def state_path(name: str) -> Path:
    return state_dir() / "lab" / name


def inventory_dir(name: str) -> Path:
    return checkout_root("the lab") / "inventories" / name


def validate(spec: LabSpec) -> None:
    if not 1 <= spec.nodes <= 20:
        raise UsageError(f"--nodes must be between 1 and 20, got {spec.nodes}")
    try:
        net = ipaddress.ip_network(spec.subnet)
    except ValueError as exc:
        raise UsageError(f"--subnet {spec.subnet!r} is not a network: {exc}") from None
    if net.num_addresses < spec.nodes + 16:
        raise UsageError(f"--subnet {spec.subnet} is too small for {spec.nodes} nodes")
    if not 1 <= spec.control_planes <= spec.nodes:
        raise UsageError(
            f"--control-planes must be between 1 and --nodes ({spec.nodes}), "
            f"got {spec.control_planes}"
        )


def write_if_changed(path: Path, content: str, mode: int = 0o644) -> bool:
    if path.exists() and path.read_text() == content:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    path.chmod(mode)
    return True
