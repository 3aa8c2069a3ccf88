"""versions.yml: the pinned components, and where each artifact lives under the bundle root."""

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from keelson.errors import BundleError, UsageError
from keelson.paths import project_root

VERSION_RE = re.compile(r"^v\d+\.\d+\.\d+$")


@dataclass(frozen=True)
class Build:
    """One component at one version: the unit that is built, cached and listed."""

    component: str
    version: str
    arch: str
    path: str  # template from versions.yml
    checksums: str | None
    go_modules: tuple[str, ...]
    pinned_sha256: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    # The version of go_modules when it is not the release's (Prometheus 3.16.0 is v0.316.0).
    go_module_version: str | None = None

    @property
    def module_version(self) -> str:
        return self.go_module_version or self.version

    @property
    def name(self) -> str:
        return f"{self.component} {self.version}"

    @property
    def bare(self) -> str:
        return self.version.removeprefix("v")

    def expand(self, template: str, **extra: str) -> str:
        return template.format(version=self.version, bare=self.bare, arch=self.arch, **extra)

    def artifact_path(self, binary: str = "") -> str:
        """The artifact's path under the bundle root (`binary` for one-file-per-binary layouts)."""
        return self.expand(self.path, binary=binary)

    @property
    def per_binary(self) -> bool:
        return "{binary}" in self.path

    def checksum_path(self, artifact: str) -> str | None:
        if self.checksums is None:
            return None
        return self.expand(self.checksums, artifact=artifact)


@dataclass(frozen=True)
class Versions:
    arch: str
    release_base_url: str
    builds: tuple[Build, ...]
    source_file: Path

    @property
    def components(self) -> list[str]:
        return list(dict.fromkeys(b.component for b in self.builds))

    def kubernetes(self) -> Build:
        """The first pinned Kubernetes version: the one clusters are deployed with."""
        for build in self.builds:
            if build.component == "kubernetes":
                return build
        raise BundleError(f"{self.source_file}: no Kubernetes version is pinned")

    def select(
        self, only: list[str] | None = None, kubernetes: list[str] | None = None
    ) -> list[Build]:
        """The builds to do: all, or only the named components (and Kubernetes versions;
        "deployed" names the one clusters are deployed with, the first pinned). Other
        Kubernetes releases (upgrade targets) come last: what a deploy needs is built first."""
        if only:
            unknown = sorted(set(only) - set(self.components))
            if unknown:
                raise UsageError(
                    f"unknown component {', '.join(unknown)} (known: {', '.join(self.components)})"
                )
        picked = [b for b in self.builds if not only or b.component in only]
        if kubernetes:
            kubernetes = [self.kubernetes().version if v == "deployed" else v for v in kubernetes]
            known = {b.version for b in self.builds if b.component == "kubernetes"}
            unpinned = sorted(set(kubernetes) - known)
            if unpinned:
                raise UsageError(
                    f"Kubernetes {', '.join(unpinned)} is not pinned in {self.source_file} "
                    f"(pinned: {', '.join(sorted(known))})"
                )
            picked = [b for b in picked if b.component != "kubernetes" or b.version in kubernetes]
        deployed = self.kubernetes().version
        return sorted(picked, key=lambda b: b.component == "kubernetes" and b.version != deployed)


def default_versions_file() -> Path:
    return project_root() / "versions.yml"


def _require(data: dict[str, Any], key: str, where: str) -> Any:
    if key not in data:
        raise BundleError(f"{where}: missing `{key}`")
    return data[key]


def load(path: Path | None = None) -> Versions:
    """Parse and check versions.yml (every error names the file and the component)."""
    path = path or default_versions_file()
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise BundleError(f"cannot read {path}: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("components"), dict):
        raise BundleError(f"{path}: expected a mapping with `components`")
    arch = str(data.get("arch", "amd64"))
    builds: list[Build] = []
    for component, spec in data["components"].items():
        where = f"{path}: {component}"
        if not isinstance(spec, dict):
            raise BundleError(f"{where}: expected a mapping")
        versions = spec.get("versions") or [_require(spec, "version", where)]
        modules = _require(spec, "go_modules", where)
        if not isinstance(modules, list) or not modules:
            raise BundleError(f"{where}: `go_modules` must be a non-empty list")
        pinned = spec.get("sha256") or {}
        module_version = spec.get("go_module_version")
        if module_version is not None and (
            len(versions) > 1 or not VERSION_RE.match(str(module_version))
        ):
            raise BundleError(
                f"{where}: `go_module_version` must be like v1.2.3, for a single pinned version"
            )
        for version in versions:
            if not VERSION_RE.match(str(version)):
                raise BundleError(f"{where}: version {str(version)!r} is not like v1.2.3")
            builds.append(
                Build(
                    component=str(component),
                    version=str(version),
                    arch=arch,
                    path=str(_require(spec, "path", where)),
                    checksums=spec.get("checksums"),
                    go_modules=tuple(str(m) for m in modules),
                    pinned_sha256={str(k): str(v) for k, v in pinned.items()},
                    go_module_version=str(module_version) if module_version else None,
                )
            )
    return Versions(
        arch=arch,
        release_base_url=str(data.get("release_base_url", "https://")),
        builds=tuple(builds),
        source_file=path,
    )
