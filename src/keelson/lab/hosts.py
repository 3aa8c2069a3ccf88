"""The lab's hosts: systemd containers with the capabilities, volumes and kernel parameters
Kubernetes needs, reached over SSH with the lab's key."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from keelson import dockercli, external
from keelson.errors import LabError
from keelson.lab.spec import LABEL, LabSpec, Progress, state_path

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
BOOT_TIMEOUT_SECONDS = 90


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


def ensure_key(name: str) -> Path:
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


def ensure_network(spec: LabSpec) -> None:
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


def run_host(
    container: str,
    hostname: str,
    image: str,
    network: str,
    labels: dict[str, str],
    address: str | None = None,
) -> None:
    """Start a lab host: a systemd container with what Kubernetes needs (every capability the
    machine allows, no seccomp or AppArmor confinement, its own cgroup namespace, every device,
    tmpfs where systemd expects one, and volumes for state overlayfs cannot hold). The one recipe
    of `keelson lab` and of the molecule scenarios (keelson.lab.molecule)."""
    args = ["run", "--detach", "--name", container, "--hostname", hostname, "--network", network]
    if address:
        args += ["--ip", address]
    for key, value in labels.items():
        args += ["--label", f"{key}={value}"]
    args += [
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
        volume_labels = [f"--label={key}={value}" for key, value in labels.items()]
        dockercli.run("volume", "create", *volume_labels, volume)
        args += ["--volume", f"{volume}:{path}"]
    dockercli.run(*args, image)


def run_node(spec: LabSpec, index: int, image: str) -> None:
    run_host(
        spec.container(index),
        spec.node_name(index),
        image,
        spec.network,
        {LABEL: spec.name, f"{LABEL}.node": spec.node_name(index)},
        spec.address(index),
    )


def wait_booted(container: str) -> None:
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


def authorize(container: str, public_key: str) -> None:
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


def host_key(container: str) -> str:
    return dockercli.run("exec", container, "cat", "/etc/ssh/ssh_host_ed25519_key.pub").strip()


def wait_ssh(address: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((address, 22), timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise LabError(f"{address}:22 does not answer: is the lab network reachable from here?")
