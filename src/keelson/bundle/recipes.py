"""How the `source` source builds each component: main packages, version ldflags, archive layout.

Where the artifact lives (its path) and which modules to require come from versions.yml; what
is inside an upstream archive and how upstream stamps versions is a fact of each project, kept
here beside the package paths it belongs to.
"""

from dataclasses import dataclass

from keelson.bundle import gomod
from keelson.bundle.spec import Build


@dataclass(frozen=True)
class GoBinary:
    name: str  # the file name upstream ships
    package: str  # import path of its main package
    # Imports to drop from a copy of the main package, for a dependency the Go module proxy
    # does not serve (the copy is built instead of the original; see docs/bundle.md).
    drop_imports: tuple[str, ...] = ()
    # What prints the version (`bundle verify --versions` checks it names the pinned release).
    version_args: tuple[str, ...] = ("--version",)


@dataclass(frozen=True)
class Recipe:
    binaries: tuple[GoBinary, ...]
    # -X flags (and others) with {version}, {bare}, {major}, {minor}, {date} placeholders.
    ldflags: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    cgo: bool = False
    # Directory the binaries sit in inside the upstream archive ("" = top level).
    archive_dir: str = ""
    # Local (./...) replaces of the required modules that must become published versions.
    staging_modules: bool = False
    # A web UI built into the first required module before the Go build (keelson.bundle.webui).
    web_ui: str = ""

    def local_mapper(self, build: Build) -> gomod.LocalMapper:
        if self.staging_modules:
            return gomod.kubernetes_staging(build.version)
        return gomod.drop_local

    def expand_ldflags(self, build: Build, date: str) -> list[str]:
        major, minor, _ = build.bare.split(".")
        return [
            flag.format(version=build.version, bare=build.bare, major=major, minor=minor, date=date)
            for flag in self.ldflags
        ]


def _x(package: str, **values: str) -> tuple[str, ...]:
    return tuple(f"-X {package}.{key}={value}" for key, value in values.items())


_KUBE_VERSION = {
    "gitVersion": "{version}",
    # Module zips carry no commit; an empty one beats the "$Format:%H$" placeholder.
    "gitCommit": "",
    "gitMajor": "{major}",
    "gitMinor": "{minor}",
    "gitTreeState": "clean",
    "buildDate": "{date}",
}
# Prometheus's projects stamp versions through prometheus/common (upstream's promu does).
_PROMETHEUS_VERSION = _x(
    "github.com/prometheus/common/version",
    Version="{bare}",
    Revision="",
    Branch="",
    BuildUser="keelson",
    BuildDate="{date}",
)
_CNI = [
    *(f"main/{n}" for n in ("bridge", "host-device", "ipvlan", "loopback", "macvlan", "ptp")),
    *(f"main/{n}" for n in ("vlan", "dummy", "tap")),
    *(f"ipam/{n}" for n in ("dhcp", "host-local", "static")),
    *(f"meta/{n}" for n in ("bandwidth", "firewall", "portmap", "sbr", "tuning", "vrf")),
]

RECIPES: dict[str, Recipe] = {
    "etcd": Recipe(
        binaries=(
            GoBinary("etcd", "go.etcd.io/etcd/server/v3"),
            GoBinary("etcdctl", "go.etcd.io/etcd/etcdctl/v3", version_args=("version",)),
            GoBinary("etcdutl", "go.etcd.io/etcd/etcdutl/v3", version_args=("version",)),
        ),
        archive_dir="etcd-{version}-linux-{arch}",
    ),
    "containerd": Recipe(
        binaries=(
            GoBinary("containerd", "github.com/containerd/containerd/v2/cmd/containerd"),
            GoBinary(
                "containerd-shim-runc-v2",
                "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2",
                version_args=("-v",),
            ),
            GoBinary("ctr", "github.com/containerd/containerd/v2/cmd/ctr"),
        ),
        ldflags=_x(
            "github.com/containerd/containerd/v2/version",
            Version="{version}",
            Package="github.com/containerd/containerd/v2",
        ),
        tags=("urfave_cli_no_docs", "no_btrfs"),
        archive_dir="bin",
    ),
    "runc": Recipe(
        binaries=(GoBinary("runc", "github.com/opencontainers/runc"),),
        # runc needs cgo (nsenter); static like upstream's runc.amd64, with libseccomp.a.
        ldflags=("-X main.version={bare}", "-linkmode external", "-extldflags -static"),
        tags=("seccomp", "urfave_cli_no_docs", "netgo", "osusergo"),
        cgo=True,
    ),
    "crictl": Recipe(
        binaries=(GoBinary("crictl", "sigs.k8s.io/cri-tools/cmd/crictl"),),
        ldflags=_x("sigs.k8s.io/cri-tools/pkg/version", Version="{version}"),
    ),
    "cni-plugins": Recipe(
        binaries=tuple(
            GoBinary(p.split("/")[1], f"github.com/containernetworking/plugins/plugins/{p}")
            for p in _CNI
        ),
        ldflags=_x(
            "github.com/containernetworking/plugins/pkg/utils/buildversion",
            BuildVersion="{version}",
        ),
    ),
    "kubernetes": Recipe(
        binaries=(
            GoBinary("kubeadm", "k8s.io/kubernetes/cmd/kubeadm", version_args=("version",)),
            GoBinary("kubelet", "k8s.io/kubernetes/cmd/kubelet"),
            GoBinary(
                "kubectl", "k8s.io/kubernetes/cmd/kubectl", version_args=("version", "--client")
            ),
            *(
                GoBinary(name, f"k8s.io/kubernetes/cmd/{name}")
                for name in (
                    "kube-apiserver",
                    "kube-controller-manager",
                    "kube-scheduler",
                    "kube-proxy",
                )
            ),
        ),
        ldflags=_x("k8s.io/component-base/version", **_KUBE_VERSION)
        + _x("k8s.io/client-go/pkg/version", **_KUBE_VERSION),
        staging_modules=True,
    ),
    "flannel": Recipe(
        binaries=(
            GoBinary(
                "flanneld",
                "github.com/flannel-io/flannel",
                # Tencent Cloud's SDK is not on the Go module proxy: no tencent-vpc backend.
                drop_imports=("github.com/flannel-io/flannel/pkg/backend/tencentvpc",),
            ),
        ),
        # The udp backend is cgo; static like upstream's flanneld-amd64.
        ldflags=(
            *_x("github.com/flannel-io/flannel/pkg/version", Version="{version}"),
            "-linkmode external",
            "-extldflags -static",
        ),
        tags=("netgo", "osusergo"),
        cgo=True,
    ),
    "coredns": Recipe(
        binaries=(GoBinary("coredns", "github.com/coredns/coredns", version_args=("-version",)),),
    ),
    "opentofu": Recipe(
        binaries=(
            GoBinary("tofu", "github.com/opentofu/opentofu/cmd/tofu", version_args=("version",)),
        ),
        ldflags=_x("github.com/opentofu/opentofu/version", dev="no"),
    ),
    "prometheus": Recipe(
        binaries=(
            GoBinary("prometheus", "github.com/prometheus/prometheus/cmd/prometheus"),
            GoBinary("promtool", "github.com/prometheus/prometheus/cmd/promtool"),
        ),
        ldflags=_PROMETHEUS_VERSION,
        # builtinassets: the web UI embedded (keelson.bundle.webui builds it). remove_all_sd
        # with enable_kubernetes_sd: static, file, HTTP and Kubernetes service discovery only
        # (the role's targets: static from the inventory, CoreDNS and kube-state-metrics
        # through the API server); the cloud SDKs of the other mechanisms were half the build
        # (662 -> 329 CPU seconds cold; promtool compiles client-go anyway). Upstream's release
        # (the `release` source) has them all.
        tags=("netgo", "builtinassets", "remove_all_sd", "enable_kubernetes_sd"),
        archive_dir="prometheus-{bare}.linux-{arch}",
        web_ui="prometheus",
    ),
    "node_exporter": Recipe(
        binaries=(GoBinary("node_exporter", "github.com/prometheus/node_exporter"),),
        ldflags=_PROMETHEUS_VERSION,
        tags=("netgo",),
        archive_dir="node_exporter-{bare}.linux-{arch}",
    ),
    "kube-state-metrics": Recipe(
        binaries=(
            GoBinary(
                "kube-state-metrics", "k8s.io/kube-state-metrics/v2", version_args=("version",)
            ),
        ),
        ldflags=_PROMETHEUS_VERSION,
        tags=("netgo",),
        archive_dir="kube-state-metrics-{bare}.linux-{arch}",
    ),
    "alertmanager": Recipe(
        binaries=(
            GoBinary("alertmanager", "github.com/prometheus/alertmanager/cmd/alertmanager"),
            GoBinary("amtool", "github.com/prometheus/alertmanager/cmd/amtool"),
        ),
        ldflags=_PROMETHEUS_VERSION,
        tags=("netgo",),
        archive_dir="alertmanager-{bare}.linux-{arch}",
        web_ui="alertmanager",
    ),
}
