"""The `source` source: build a component from its released Go modules through the module proxy.

Per component and version, a generated module under <cache>/work/<component>-<version>/
requires the pinned modules and repeats the replaces they need; `go build` then compiles each
main package with the version stamped the way upstream stamps it. The Go build and module
caches (GOCACHE, GOMODCACHE) are the user's, shared between versions and checkouts.
"""

import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from keelson.bundle import gomod, store, webui
from keelson.bundle.recipes import GoBinary, Recipe
from keelson.bundle.spec import Build
from keelson.errors import BundleError

Progress = Callable[[str], None]
GENERATED_MODULE = "keelson.local/bundle/{component}"


def _package_dir(infos: list[gomod.ModuleInfo], package: str) -> Path:
    for info in sorted(infos, key=lambda i: len(i.path), reverse=True):
        if package == info.path or package.startswith(info.path + "/"):
            return info.dir / package[len(info.path) :].lstrip("/")
    raise BundleError(f"{package} is in none of the required modules")


def copy_main(binary: GoBinary, infos: list[gomod.ModuleInfo], workdir: Path) -> str:
    """A copy of a main package without `binary.drop_imports`; returns its package path."""
    target = workdir / "main" / binary.name
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    dropped: set[str] = set()
    for src in sorted(_package_dir(infos, binary.package).glob("*.go")):
        if src.name.endswith("_test.go"):
            continue
        kept = []
        for line in src.read_text().splitlines(keepends=True):
            imported = line.strip().removeprefix("_").strip().strip('"')
            if imported in binary.drop_imports:
                dropped.add(imported)
                continue
            kept.append(line)
        (target / src.name).write_text("".join(kept))
    missing = set(binary.drop_imports) - dropped
    if missing:
        raise BundleError(f"{binary.package} no longer imports {', '.join(sorted(missing))}")
    return f"./main/{binary.name}"


def prepare_module(build: Build, recipe: Recipe, workdir: Path, go_version: str) -> str:
    """Write go.mod and tools.go, then `go mod tidy`. Returns the release date for ldflags."""
    workdir.mkdir(parents=True, exist_ok=True)
    infos = [gomod.download(m, build.module_version, workdir) for m in build.go_modules]
    for binary in recipe.binaries:
        if binary.drop_imports:
            copy_main(binary, infos, workdir)
    mapper = recipe.local_mapper(build)
    replaces = gomod.needed_replaces([i.gomod for i in infos], mapper)
    if recipe.web_ui:
        copy = webui.build(recipe.web_ui, infos[0].dir, workdir)
        local = f"./{copy.relative_to(workdir)}"
        replaces.append(gomod.Replace(build.go_modules[0], None, local, None))
    godebug = list(dict.fromkeys(g for i in infos for g in gomod.parse_godebug(i.gomod)))
    text = gomod.render(
        GENERATED_MODULE.format(component=build.component),
        go_version,
        {m: build.module_version for m in build.go_modules},
        replaces,
        godebug,
    )
    (workdir / "go.mod").write_text(text)
    # Copied mains import the required modules' packages themselves; tidy keeps those.
    tools = [b.package for b in recipe.binaries if not b.drop_imports]
    if tools:
        (workdir / "tools.go").write_text(gomod.tools_go(tools))
    else:
        (workdir / "tools.go").unlink(missing_ok=True)
    gomod.run_go(["mod", "tidy"], workdir, what=f"{build.name}: go mod tidy")
    return infos[0].time


def compile_binaries(
    build: Build, recipe: Recipe, workdir: Path, date: str, out: Path, progress: Progress
) -> None:
    ldflags = " ".join(["-s", "-w", *recipe.expand_ldflags(build, date)])
    started = time.monotonic()
    for number, binary in enumerate(recipe.binaries, 1):
        if len(recipe.binaries) > 1:
            progress(
                f"{build.name}: go build {binary.name} ({number}/{len(recipe.binaries)}, "
                f"{time.monotonic() - started:.0f}s in)"
            )
        args = ["build", "-trimpath", "-ldflags", ldflags, "-o", str(out / binary.name)]
        if recipe.tags:
            args += ["-tags", ",".join(recipe.tags)]
        target = f"./main/{binary.name}" if binary.drop_imports else binary.package
        gomod.run_go(
            [*args, target],
            workdir,
            cgo=recipe.cgo,
            what=f"{build.name}: go build {binary.name}",
        )


def package(build: Build, recipe: Recipe, out: Path, root: Path) -> list[str]:
    """Lay the built binaries out like the upstream download site; returns the artifact paths."""
    binaries = [(b.name, out / b.name) for b in recipe.binaries]
    if build.per_binary:
        artifacts = []
        for name, built in binaries:
            artifact = build.artifact_path(name)
            with store.atomic_target(root / artifact) as tmp:
                shutil.copyfile(built, tmp)
                tmp.chmod(0o755)
            artifacts.append(artifact)
        return artifacts
    artifact = build.artifact_path()
    kind = store.archive_kind(artifact)
    with store.atomic_target(root / artifact) as tmp:
        if kind == "tar.gz":
            store.write_tar_gz(tmp, binaries, build.expand(recipe.archive_dir))
        elif kind == "zip":
            store.write_zip(tmp, binaries)
        else:
            if len(binaries) != 1:
                raise BundleError(f"{build.name}: {artifact} is one file but the recipe has more")
            shutil.copyfile(binaries[0][1], tmp)
            tmp.chmod(0o755)
    return [artifact]


def build_from_source(
    build: Build, recipe: Recipe, root: Path, go_version: str, progress: Progress
) -> list[str]:
    workdir = store.cache_dir() / "work" / f"{build.component}-{build.version}"
    date = prepare_module(build, recipe, workdir, go_version)
    with tempfile.TemporaryDirectory(prefix="out-", dir=workdir) as tmp:
        out = Path(tmp)
        compile_binaries(build, recipe, workdir, date, out, progress)
        return package(build, recipe, out, root)
