"""The local lab: systemd hosts as Docker containers, reached over SSH like any VM.

Every object the lab creates carries the label `io.keelson.lab=<name>`, so `down` removes exactly
what `up` made. `up` is idempotent: an existing, running lab is left as it is.
"""

import ipaddress
import shutil
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from keelson import dockercli, external, images
from keelson.bundle import spec as bundle_spec
from keelson.bundle import store as bundle_store
from keelson.errors import LabError, UsageError
from keelson.hostimage import ensure_host_image
from keelson.paths import project_root, state_dir

LABEL = "io.keelson.lab"
# Every capability Docker 20.10 knows except SYS_RESOURCE, which these machines' bounding set
# lacks (the reason --privileged fails).
CAPABILITIES = (
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
)
# Volumes for state that must not live on overlayfs (overlay on overlay does not work).
NODE_VOLUMES = ("/var/lib/containerd", "/var/lib/kubelet")
# Kernel parameters kubelet insists on (it compares all six at start and, since /proc/sys is
# read-only in a lab host, fails instead of setting them). The hosts share this machine's
# kernel, so `lab up` sets them here; the last three are usually the kernel's defaults already.
KUBELET_KERNEL_PARAMS = {
    "vm.overcommit_memory": "1",
    "kernel.panic": "10",
    "kernel.panic_on_oops": "1",
    "vm.panic_on_oom": "0",
    "kernel.keys.root_maxkeys": "1000000",
    "kernel.keys.root_maxbytes": "25000000",
}
# Lower bounds: every host's systemd, containerd (its CNI config watcher) and kubelet take inotify
# instances, counted per user on this machine's kernel; the default 128 runs out with a few
# hosts and containerd's CRI plugin then fails to load ("too many open files").
KERNEL_PARAM_MINIMUMS = {
    "fs.inotify.max_user_instances": "8192",
    "fs.inotify.max_user_watches": "524288",
}
PROC_SYS = Path("/proc/sys")
# Addresses of the cluster the roles deploy on a lab (pods: flannel's default network).
KUBE_POD_CIDR = "10.244.0.0/16"
KUBE_SERVICE_CIDR = "10.96.0.0/12"
BOOT_TIMEOUT_SECONDS = 90
# The lab registry: images/service/registry at .2 of the lab network, port 5000 there, and
# published on 127.0.0.1 (a port Docker picks) so the controller's docker can push to it.
REGISTRY_IMAGE = "service/registry"
REGISTRY_PORT = 5000
# The files mirror: the offline bundle's root (read-only) served over HTTP at .3 of the lab
# network, laid out like the upstream download sites; roles fetch binaries from it by sha256.
FILES_PORT = 8080

Progress = Callable[[str], None]


@dataclass(frozen=True)
class LabSpec:
    name: str = "lab"
    nodes: int = 3
    subnet: str = "172.31.250.0/24"
    control_planes: int = 1

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
        """Address of a lab service (not a host): .2 the registry, .3 the files mirror."""
        return str(ipaddress.ip_network(self.subnet).network_address + offset)

    @property
    def registry(self) -> str:
        """host:port of the lab registry as lab hosts reach it (and image names spell it)."""
        return f"{self.service_address(2)}:{REGISTRY_PORT}"

    @property
    def files_container(self) -> str:
        return f"keelson-{self.name}-files"

    @property
    def files_mirror(self) -> str:
        """Base URL of the lab's files mirror as lab hosts reach it."""
        return f"http://{self.service_address(3)}:{FILES_PORT}"


def state_path(name: str) -> Path:
    return state_dir() / "lab" / name


def inventory_dir(name: str) -> Path:
    return project_root() / "inventories" / name


def _validate(spec: LabSpec) -> None:
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


def kernel_params_to_set(current: dict[str, str]) -> dict[str, str]:
    """Of KUBELET_KERNEL_PARAMS, those whose CURRENT value (name -> value) differs, and of
    KERNEL_PARAM_MINIMUMS those below their minimum."""
    exact = {
        name: value
        for name, value in KUBELET_KERNEL_PARAMS.items()
        if current.get(name, "").strip() != value
    }
    low = {
        name: value
        for name, value in KERNEL_PARAM_MINIMUMS.items()
        if not current.get(name, "").strip().isdigit() or int(current[name]) < int(value)
    }
    return exact | low


def ensure_kernel_params(progress: Progress, proc_sys: Path = PROC_SYS) -> dict[str, str]:
    """Give this machine's kernel the parameters kubelet needs; return those it changed."""
    names = [*KUBELET_KERNEL_PARAMS, *KERNEL_PARAM_MINIMUMS]
    paths = {name: proc_sys / name.replace(".", "/") for name in names}
    current = {name: path.read_text() if path.exists() else "" for name, path in paths.items()}
    changes = kernel_params_to_set(current)
    for name, value in changes.items():
        progress(
            f"kernel: {name} {current[name].strip() or '(unset)'} -> {value} (lab hosts need it)"
        )
        try:
            paths[name].write_text(value + "\n")
        except OSError as exc:
            raise LabError(
                f"Kubernetes in lab hosts needs {name}={value} on this machine and {paths[name]} "
                f"cannot be written ({exc.strerror or exc}): run `sysctl -w {name}={value}` as root"
            ) from None
    return changes


def _ensure_key(name: str) -> Path:
    key = state_path(name) / "id_ed25519"
    if not key.exists():
        key.parent.mkdir(parents=True, exist_ok=True)
        keygen = external.run(
            [
                "ssh-keygen",
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                f"keelson-{name}",
                "-f",
                str(key),
            ],
            timeout=external.QUICK,
            error=LabError,
            capture_output=True,
            text=True,
        )
        if keygen.returncode != 0:
            raise LabError(f"ssh-keygen could not write {key}: {keygen.stderr.strip()}")
    return key


def _ensure_network(spec: LabSpec) -> None:
    existing = dockercli.inspect("network", spec.network)
    if existing is not None:
        configs = existing.get("IPAM", {}).get("Config") or [{}]
        if configs[0].get("Subnet") != spec.subnet:
            raise LabError(
                f"network {spec.network} exists with subnet {configs[0].get('Subnet')}, "
                f"not {spec.subnet}: run `keelson lab down` first"
            )
        return
    dockercli.run(
        "network",
        "create",
        "--driver",
        "bridge",
        "--subnet",
        spec.subnet,
        "--label",
        f"{LABEL}={spec.name}",
        spec.network,
    )


def _run_node(spec: LabSpec, index: int, image: str) -> None:
    container = spec.container(index)
    args = [
        "run",
        "--detach",
        "--name",
        container,
        "--hostname",
        spec.node_name(index),
        "--network",
        spec.network,
        "--ip",
        spec.address(index),
        "--label",
        f"{LABEL}={spec.name}",
        "--label",
        f"{LABEL}.node={spec.node_name(index)}",
        "--stop-signal",
        "SIGRTMIN+3",
        "--restart",
        "unless-stopped",
        "--security-opt",
        "seccomp=unconfined",
        "--security-opt",
        "apparmor=unconfined",
        "--cgroupns=private",
        "--device-cgroup-rule",
        "a *:* rwm",
        "--tmpfs",
        "/run",
        "--tmpfs",
        "/run/lock",
    ]
    for cap in CAPABILITIES:
        args += ["--cap-add", cap]
    for path in NODE_VOLUMES:
        volume = f"{container}{path.replace('/', '-')}"
        dockercli.run("volume", "create", "--label", f"{LABEL}={spec.name}", volume)
        args += ["--volume", f"{volume}:{path}"]
    dockercli.run(*args, image)


def _ensure_registry(spec: LabSpec, progress: Progress) -> None:
    image = images.ensure_image(REGISTRY_IMAGE, progress)
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


def _ensure_files_mirror(spec: LabSpec, image: str, progress: Progress) -> None:
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
    url = f"http://{registry_endpoint(name)}/v2/"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except (urllib.error.URLError, OSError):
            time.sleep(0.3)
    raise LabError(f"the registry of lab {name!r} does not answer at {url}")


def _wait_booted(container: str) -> None:
    deadline = time.monotonic() + BOOT_TIMEOUT_SECONDS
    state = ""
    while time.monotonic() < deadline:
        proc = dockercli.result(
            "exec", container, "systemctl", "is-system-running",
            error=LabError, timeout=external.QUICK, text=True,
        )  # fmt: skip
        state = proc.stdout.strip()
        if state in ("running", "degraded"):
            return
        time.sleep(1)
    raise LabError(f"{container} did not boot within {BOOT_TIMEOUT_SECONDS}s (systemd: {state!r})")


def _authorize(container: str, public_key: str) -> None:
    current = dockercli.result(
        "exec", container, "cat", "/root/.ssh/authorized_keys",
        error=LabError, timeout=external.QUICK, text=True,
    ).stdout  # fmt: skip
    if public_key.strip() in current:
        return
    dockercli.run(
        "exec",
        "-i",
        container,
        "sh",
        "-c",
        "install -d -m 0700 /root/.ssh && cat >> /root/.ssh/authorized_keys"
        " && chmod 0600 /root/.ssh/authorized_keys",
        stdin=public_key,
    )


def _host_key(container: str) -> str:
    return dockercli.run("exec", container, "cat", "/etc/ssh/ssh_host_ed25519_key.pub").strip()


def _wait_ssh(address: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((address, 22), timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise LabError(f"{address}:22 does not answer: is the lab network reachable from here?")


def groups_for(nodes: int, control_planes: int = 1) -> dict[str, list[str]]:
    """Lay out the design's groups over N lab hosts, the first C of them control planes
    (Kubespray users recognise the first three groups)."""
    names = [f"node{i}" for i in range(1, nodes + 1)]
    # etcd runs on control-plane hosts only: three of them when there are three, else node1.
    etcd = names[:3] if control_planes >= 3 else names[:1]
    workers = names[control_planes:] or names[:1]
    outside_etcd = [n for n in workers if n not in etcd] or [n for n in names if n not in etcd]
    return {
        "etcd": etcd,
        "kube_control_plane": names[:control_planes],
        # Workers: the hosts after the control planes; a lab of control planes only schedules
        # its workloads on node1.
        "kube_node": workers,
        "ceph_mon": names[: min(3, nodes)],
        "ceph_mgr": names[:1],
        "ceph_osd": names[: min(3, nodes)],
        "monitoring": names[:1],
        # The first worker outside etcd, when there is one, keeps the etcd backups off the
        # members; the first, so that a scale-out (a later `lab up --nodes N+1`) leaves it where
        # the backups are.
        "etcd_backup_store": outside_etcd[:1],
    }


def _write_if_changed(path: Path, content: str, mode: int = 0o644) -> bool:
    if path.exists() and path.read_text() == content:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    path.chmod(mode)
    return True


class _IndentedDumper(yaml.SafeDumper):
    """Indents list items under their key, as yamllint and ansible-lint expect."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


# Why group_vars/all.yml of a lab sets what it sets for Kubernetes (written as its header).
GROUP_VARS_NOTES = """\
# Lab hosts are containers on this machine's kernel; Kubernetes needs these lab-only settings:
# - kube_node_kubelet_config_extra.failCgroupV1: false - the machine has cgroup v1 (hybrid), which
#   kubelet refuses unless told otherwise.
# - kube_node_upstream_nameservers: the lab network's gateway - a host's resolv.conf names
#   Docker's 127.0.0.11, which CoreDNS would forward to itself (a loop) from inside a pod.
# - kube_control_plane_ignore_preflight_errors: kubeadm's system verification looks for kernel
#   modules (there is no /lib/modules) and rejects cgroup v1; bridge-nf-call-iptables and swap
#   are the machine's, not something a host can change.
# - kube_control_plane_kube_proxy_config_extra.conntrack: zeros keep kube-proxy from writing
#   the conntrack sysctls, which are the machine's and read-only in the hosts.
# - containerd_restrict_oom_score_adj: true - a process in a host may not lower its OOM score
#   (no CAP_SYS_RESOURCE), and runc would fail every pod asking for -998.
# - containerd_sandbox_image: the pause image of the lab registry (nodes reach no other).
# `keelson lab up` also sets the kernel parameters kubelet insists on, on this machine.
"""


def _pause_version() -> str:
    """Tag of the pod sandbox image of the tree (images/cluster/pause/VERSION)."""
    tree = images.load_tree(project_root() / "images")
    return str(tree.images["cluster/pause"].version)


def write_inventory(spec: LabSpec, key: Path, known_hosts: Path) -> Path:
    inv = inventory_dir(spec.name)
    hosts = {spec.node_name(i): {"ansible_host": spec.address(i)} for i in range(1, spec.nodes + 1)}
    children: dict[str, dict[str, dict[str, dict[str, str]]]] = {
        group: {"hosts": {h: {} for h in members}}
        for group, members in groups_for(spec.nodes, spec.control_planes).items()
    }
    document = {"all": {"hosts": hosts, "children": children}}
    header = (
        f"# Written by `keelson lab up` for lab {spec.name!r}; `keelson lab down` removes it.\n"
    )
    _write_if_changed(
        inv / "hosts.yml", header + "---\n" + yaml.safe_dump(document, sort_keys=False)
    )
    group_vars = {
        "ansible_user": "root",
        "ansible_ssh_private_key_file": str(key),
        "ansible_ssh_common_args": (
            f"-o UserKnownHostsFile={known_hosts} -o StrictHostKeyChecking=yes"
        ),
        # Lab hosts are containers sharing this machine's kernel clock: chrony must not step it.
        "common_chrony_set_system_clock": False,
        # The lab registry speaks plain HTTP; image names spell it as host:port. It is listed as
        # its own mirror too: containerd 1.6 refuses a hosts.toml without a [host] table.
        # Binaries come from the offline bundle (`keelson bundle build`) through the files mirror;
        # roles look up each file's sha256 in the bundle's manifest on this controller.
        "bundle_mirror_url": spec.files_mirror,
        "bundle_manifest": str(bundle_store.default_root() / bundle_store.MANIFEST),
        "containerd_registries": [
            {
                "name": spec.registry,
                "server": f"http://{spec.registry}",
                "mirrors": [{"url": f"http://{spec.registry}"}],
            }
        ],
        "containerd_sandbox_image": f"{spec.registry}/cluster/pause:{_pause_version()}",
        "containerd_restrict_oom_score_adj": True,
        # Kubernetes: the first version versions.yml pins, its images from the lab registry
        # (`keelson images push` puts the cluster images under <registry>/cluster).
        "kube_version": bundle_spec.load().kubernetes().version,
        "kube_image_repository": f"{spec.registry}/cluster",
        "kube_pod_cidr": KUBE_POD_CIDR,
        "kube_service_cidr": KUBE_SERVICE_CIDR,
        # Lab-only settings a kubelet in a container needs (explained in the file's header).
        "kube_node_kubelet_config_extra": {"failCgroupV1": False},
        "kube_node_upstream_nameservers": [spec.gateway],
        "kube_control_plane_ignore_preflight_errors": [
            "SystemVerification",
            "FileContent--proc-sys-net-bridge-bridge-nf-call-iptables",
            "Swap",
        ],
        "kube_control_plane_kube_proxy_config_extra": {
            "conntrack": {
                "maxPerCore": 0,
                "tcpEstablishedTimeout": "0s",
                "tcpCloseWaitTimeout": "0s",
            }
        },
    }
    _write_if_changed(
        inv / "group_vars" / "all.yml",
        header
        + GROUP_VARS_NOTES
        + "---\n"
        + yaml.dump(group_vars, Dumper=_IndentedDumper, sort_keys=False),
    )
    return inv


def existing_nodes(name: str) -> list[dict[str, str]]:
    """Containers of lab NAME: [{'node', 'container', 'state', 'address'}], ordered by node."""
    out = dockercli.run(
        "ps",
        "--all",
        "--filter",
        f"label={LABEL}={name}",
        "--filter",
        f"label={LABEL}.node",
        "--format",
        '{{.Names}}\t{{.State}}\t{{.Label "' + LABEL + '.node"}}',
    )
    nodes = []
    for line in out.splitlines():
        container, state, node = line.split("\t")
        info = dockercli.inspect("container", container) or {}
        networks = info.get("NetworkSettings", {}).get("Networks", {})
        address = next((n.get("IPAddress", "") for n in networks.values()), "")
        nodes.append({"node": node, "container": container, "state": state, "address": address})
    return sorted(nodes, key=lambda n: int(n["node"].removeprefix("node") or 0))


def up(spec: LabSpec, progress: Progress) -> Path:
    """Create (or complete) the lab and write its inventory; return the inventory directory."""
    _validate(spec)
    present = existing_nodes(spec.name)
    if len(present) > spec.nodes:
        raise UsageError(
            f"lab {spec.name!r} has {len(present)} nodes; --nodes {spec.nodes} would remove some:"
            " run `keelson lab down` first"
        )
    ensure_kernel_params(progress)
    image = ensure_host_image(progress)
    key = _ensure_key(spec.name)
    _ensure_network(spec)
    _ensure_registry(spec, progress)
    _ensure_files_mirror(spec, image, progress)
    public_key = key.with_suffix(".pub").read_text()
    by_container = {n["container"]: n for n in present}
    host_keys = []
    for i in range(1, spec.nodes + 1):
        container = spec.container(i)
        node = by_container.get(container)
        if node is None:
            progress(f"creating {spec.node_name(i)} ({spec.address(i)})")
            _run_node(spec, i, image)
        elif node["state"] != "running":
            progress(f"starting {spec.node_name(i)}")
            dockercli.run("start", container)
    for i in range(1, spec.nodes + 1):
        container = spec.container(i)
        _wait_booted(container)
        _authorize(container, public_key)
        host_keys.append(f"{spec.address(i)} {_host_key(container)}")
        _wait_ssh(spec.address(i))
    known_hosts = state_path(spec.name) / "known_hosts"
    _write_if_changed(known_hosts, "\n".join(host_keys) + "\n", 0o600)
    return write_inventory(spec, key, known_hosts)


def down(name: str, progress: Progress) -> None:
    """Remove every container, volume and network labelled for lab NAME, its keys and inventory."""
    for node in existing_nodes(name):
        progress(f"removing {node['node']}")
        dockercli.run("rm", "--force", "--volumes", node["container"])
    label = f"label={LABEL}={name}"
    for container in dockercli.run("ps", "--all", "--quiet", "--filter", label).split():
        dockercli.run("rm", "--force", "--volumes", container)
    for volume in dockercli.run("volume", "ls", "--quiet", "--filter", label).split():
        dockercli.run("volume", "rm", "--force", volume)
    for network in dockercli.run("network", "ls", "--quiet", "--filter", label).split():
        dockercli.run("network", "rm", network)
    inv = inventory_dir(name)
    if _lab_written(inv):
        shutil.rmtree(inv)
    if state_path(name).exists():
        shutil.rmtree(state_path(name))


def _lab_written(inv: Path) -> bool:
    """True when INV is a lab inventory (never remove a hand-written one by name clash)."""
    hosts = inv / "hosts.yml"
    return hosts.is_file() and hosts.read_text().startswith("# Written by `keelson lab up`")


def status(name: str) -> list[dict[str, str]]:
    """Each lab host with its container state and systemd state."""
    nodes = existing_nodes(name)
    for node in nodes:
        if node["state"] == "running":
            proc = dockercli.result(
                "exec", node["container"], "systemctl", "is-system-running",
                error=LabError, timeout=external.QUICK, text=True,
            )  # fmt: skip
            node["systemd"] = proc.stdout.strip() or "unknown"
        else:
            node["systemd"] = "-"
    return nodes
