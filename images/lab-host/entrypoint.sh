#!/bin/sh
# Turn a container into a machine before systemd boots: writable cgroups in a
# private namespace, real files where docker bind-mounts /etc/hosts and friends,
# host keys unique to this host, /dev/kmsg and shared mounts for kubelet.
set -eu

# Docker mounts each cgroup hierarchy read-only and remount fails ("busy"):
# unmount and mount each again read-write, keeping its options.
awk '$2 ~ "^/sys/fs/cgroup/" && ($3 == "cgroup" || $3 == "cgroup2")' /proc/self/mounts |
while read -r _ dir fstype opts _; do
    opts=$(echo "$opts" | sed -e 's/^ro,/rw,/' -e 's/,ro,/,rw,/' -e 's/,ro$/,rw/')
    umount "$dir"
    mount -t "$fstype" -o "$opts" "$fstype" "$dir"
done

# /etc/hosts, /etc/hostname and /etc/resolv.conf are bind mounts that cannot be
# replaced atomically; make them plain files so roles manage them as on a VM.
for f in /etc/hosts /etc/hostname /etc/resolv.conf; do
    if grep -q " $f " /proc/self/mounts; then
        content=$(cat "$f")
        umount "$f"
        printf '%s\n' "$content" > "$f"
        chmod 0644 "$f"
    fi
done

[ -e /etc/ssh/ssh_host_ed25519_key ] || ssh-keygen -A >/dev/null

# kubelet's OOM watcher reads the kernel log from /dev/kmsg, which docker does
# not create: make the node (the device cgroup rule lets the host use it).
[ -e /dev/kmsg ] || mknod -m 0600 /dev/kmsg c 1 11

# Docker makes the root mount private; kubelet and CSI drivers need mounts
# under /var/lib/kubelet to propagate (mountPropagation), as on a real machine.
mount --make-rshared /

exec /lib/systemd/systemd "$@"
