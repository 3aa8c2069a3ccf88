"""Generated Go modules: `require` a released module and repeat the replaces its build needs.

`go install module@version` refuses modules whose go.mod has replace directives (Kubernetes,
OpenTofu). A small module of our own can require them: replaces to local paths become versions
of the published modules (k8s.io/api => ./staging/src/k8s.io/api becomes k8s.io/api v0.36.3),
replaces to other modules are copied as they are.
"""

import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from keelson import external
from keelson.errors import BundleError


@dataclass(frozen=True)
class Replace:
    old: str
    old_version: str | None
    new: str
    new_version: str | None

    @property
    def local(self) -> bool:
        return self.new.startswith(("./", "../", "/"))

    def directive(self) -> str:
        left = f"{self.old} {self.old_version}" if self.old_version else self.old
        right = f"{self.new} {self.new_version}" if self.new_version else self.new
        return f"{left} => {right}"


def _strip_comment(line: str) -> str:
    return line.split("//", 1)[0].strip()


def _directive_lines(gomod: str, verb: str) -> list[str]:
    """The bodies of every `verb ...` line and `verb ( ... )` block, comments removed."""
    found: list[str] = []
    in_block = False
    for raw in gomod.splitlines():
        line = _strip_comment(raw)
        if in_block:
            if line == ")":
                in_block = False
            elif line:
                found.append(line)
            continue
        if line == f"{verb} (" or (line.startswith(verb) and line[len(verb) :].strip() == "("):
            in_block = True
        elif line.startswith(f"{verb} "):
            found.append(line[len(verb) :].strip())
    return found


def parse_replaces(gomod: str) -> list[Replace]:
    replaces = []
    for body in _directive_lines(gomod, "replace"):
        left, sep, right = body.partition("=>")
        if not sep:
            raise BundleError(f"cannot parse replace directive {body!r}")
        old = left.split()
        new = right.split()
        replaces.append(
            Replace(
                old=old[0],
                old_version=old[1] if len(old) > 1 else None,
                new=new[0],
                new_version=new[1] if len(new) > 1 else None,
            )
        )
    return replaces


def parse_godebug(gomod: str) -> list[str]:
    return _directive_lines(gomod, "godebug")


def staging_version(kubernetes_version: str) -> str:
    """k8s.io/kubernetes v1.N.P publishes its staging modules (k8s.io/api, ...) as v0.N.P."""
    match = re.fullmatch(r"v1\.(\d+)\.(\d+)", kubernetes_version)
    if not match:
        raise BundleError(f"not a Kubernetes release version: {kubernetes_version}")
    return f"v0.{match.group(1)}.{match.group(2)}"


LocalMapper = Callable[[Replace], str | None]


def drop_local(_replace: Replace) -> str | None:
    """Local replaces of sibling modules (etcd's ../api): the required versions already match."""
    return None


def kubernetes_staging(kubernetes_version: str) -> LocalMapper:
    version = staging_version(kubernetes_version)

    def mapper(replace: Replace) -> str | None:
        if replace.new.startswith("./staging/"):
            return version
        return None

    return mapper


def needed_replaces(gomods: Sequence[str], local: LocalMapper) -> list[Replace]:
    """The replaces a module requiring these go.mod files needs, each once."""
    result: dict[str, Replace] = {}
    for gomod in gomods:
        for rep in parse_replaces(gomod):
            if rep.local:
                version = local(rep)
                if version is None:
                    continue
                rep = Replace(rep.old, None, rep.old, version)
            result[rep.directive()] = rep
    return list(result.values())


def render(
    module: str,
    go_version: str,
    requires: dict[str, str],
    replaces: Sequence[Replace],
    godebug: Sequence[str] = (),
) -> str:
    """go.mod of a module whose only job is to build `requires`' commands."""
    lines = [f"module {module}", "", f"go {go_version}", ""]
    if godebug:
        lines += ["godebug (", *(f"\t{g}" for g in godebug), ")", ""]
    lines += ["require (", *(f"\t{m} {v}" for m, v in sorted(requires.items())), ")", ""]
    if replaces:
        lines += ["replace (", *(f"\t{r.directive()}" for r in replaces), ")", ""]
    return "\n".join(lines)


def tools_go(packages: Sequence[str]) -> str:
    """Blank imports keep `go mod tidy` from dropping the requirements (never compiled)."""
    imports = "\n".join(f'\t_ "{p}"' for p in sorted(set(packages)))
    return f"//go:build tools\n\npackage tools\n\nimport (\n{imports}\n)\n"


def go_env(cgo: bool = False) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        GOTOOLCHAIN="local",
        GOFLAGS="-mod=mod -buildvcs=false",
        CGO_ENABLED="1" if cgo else "0",
        GOOS="linux",
    )
    return env


def run_go(args: Sequence[str], cwd: Path, *, cgo: bool = False, what: str) -> str:
    # A missing go is one BundleError line from external.run ("go not found: ...").
    proc = external.run(
        ["go", *args],
        timeout=external.BUILD,
        error=BundleError,
        cwd=cwd,
        env=go_env(cgo),
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise BundleError(f"{what} failed (go {' '.join(args[:2])} in {cwd}):\n{tail}")
    return str(proc.stdout)


def local_go_version() -> str:
    """`1.26` for go1.26.8: the go directive of generated modules."""
    out = run_go(["env", "GOVERSION"], Path.cwd(), what="go env")
    match = re.match(r"go(\d+\.\d+)", out.strip())
    if not match:
        raise BundleError(f"cannot parse the Go version from {out.strip()!r}")
    return match.group(1)


@dataclass(frozen=True)
class ModuleInfo:
    path: str
    version: str
    gomod: str
    time: str
    dir: Path


def download(module: str, version: str, cwd: Path) -> ModuleInfo:
    """Fetch module@version through the proxy (or the module cache) and read its go.mod."""
    out = run_go(
        ["mod", "download", "-json", f"{module}@{version}"], cwd, what=f"fetching {module}"
    )
    data = json.loads(out)
    if data.get("Error"):
        raise BundleError(f"fetching {module}@{version}: {data['Error']}")
    info = json.loads(Path(data["Info"]).read_text())
    return ModuleInfo(
        module,
        version,
        Path(data["GoMod"]).read_text(),
        str(info.get("Time", "")),
        Path(data["Dir"]),
    )
