"""Web UIs built into a Go binary: Prometheus's and Alertmanager's are npm builds that upstream
embeds at release time (their Go modules carry the sources, not the built pages).

The source source builds them in a writable copy of the module (<workdir>/src/<component>),
which the generated go.mod then replaces the published module with. Packages come from the npm
registry with the machine's Node.js; npm's and pnpm's caches live under the bundle cache, so a
rebuild downloads nothing twice. Where a lock file names a release the registry no longer
serves, the build names the one it takes instead (below): a fact of these releases.
"""

import gzip
import json
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from keelson import external
from keelson.bundle import store
from keelson.errors import BundleError

# pnpm 12 is the first that runs on Node.js 20 and reads Prometheus's pnpm-workspace.yaml.
PNPM = "pnpm@12.25.1"
# Part of each build's cache key: a change here rebuilds the web UIs.
TOOLS = {"pnpm": PNPM, "revision": "1"}


def _tools() -> Path:
    return store.cache_dir() / "tools"


def _env() -> dict[str, str]:
    caches = store.cache_dir() / "js"
    env = dict(os.environ)
    env.update(
        npm_config_cache=str(caches / "npm"),
        npm_config_fund="false",
        npm_config_audit="false",
        npm_config_update_notifier="false",
        PNPM_CONFIG_STORE_DIR=str(caches / "pnpm-store"),
        PNPM_CONFIG_CACHE_DIR=str(caches / "pnpm-cache"),
        CI="",  # Vite's and pnpm's CI modes ask questions of a terminal or refuse to prune
        PATH=f"{_tools() / 'node_modules' / '.bin'}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    return env


def _run(argv: Sequence[str], cwd: Path, what: str) -> None:
    proc = external.run(
        argv,
        timeout=external.BUILD,
        error=BundleError,
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise BundleError(f"{what} failed ({' '.join(argv[:3])} in {cwd}):\n{tail}")


def _pnpm(component: str) -> str:
    pnpm = _tools() / "node_modules" / ".bin" / "pnpm"
    if not pnpm.exists():
        _tools().mkdir(parents=True, exist_ok=True)
        _run(["npm", "install", "--prefix", str(_tools()), PNPM], _tools(), f"{component}: {PNPM}")
    return str(pnpm)


def prometheus(module: Path) -> None:
    """web/ui/mantine-ui built, gzipped into web/ui/static and listed in web/ui/embed.go (the
    `builtinassets` build tag embeds it), as upstream's `make assets-compress` does."""
    ui = module / "web" / "ui"
    # The lock file's @mantine/code-highlight 9.7.2 is not on the registry; 9.6.2 is.
    workspace = ui / "pnpm-workspace.yaml"
    text = workspace.read_text()
    if "overrides:" not in text:
        workspace.write_text(text + 'overrides:\n  "@mantine/code-highlight": 9.6.2\n')
    pnpm = _pnpm("prometheus")
    _run(
        [pnpm, "install", "--no-frozen-lockfile", "--config.minimumReleaseAge=0"],
        ui,
        "prometheus: pnpm install",
    )
    _run([pnpm, "run", "build:mantine-ui"], ui, "prometheus: web UI build")
    _run(["bash", "scripts/compress_assets.sh"], module, "prometheus: compress the web UI")


# Alertmanager's old Elm UI needs package.elm-lang.org, which does not answer here: its root
# page sends the browser to the new UI (served under /ui/).
_ELM_INDEX = (
    '<!DOCTYPE html><html><head><meta charset="utf-8"><title>Alertmanager</title>'
    '<meta http-equiv="refresh" content="0; url=./ui/"></head>'
    '<body><a href="./ui/">Alertmanager</a></body></html>\n'
)


def alertmanager(module: Path) -> None:
    """ui/mantine-ui built into ui/app/dist/mantine (with its .gz files), and a root page in
    ui/app/dist/elm: ui/web.go embeds ui/app/dist."""
    ui = module / "ui" / "mantine-ui"
    # The lock file's @mantine packages are not all on the registry; 9.8.1 of the three is.
    mantine = ("code-highlight", "core", "hooks")
    _run(
        ["npm", "install", "--package-lock-only", *(f"@mantine/{m}@9.8.1" for m in mantine)],
        ui,
        "alertmanager: npm lock",
    )
    _run(["npm", "ci"], ui, "alertmanager: npm ci")
    _run(["npm", "run", "build"], ui, "alertmanager: web UI build")
    elm = module / "ui" / "app" / "dist" / "elm"
    elm.mkdir(parents=True, exist_ok=True)
    (elm / "index.html.gz").write_bytes(gzip.compress(_ELM_INDEX.encode(), 9, mtime=0))


BUILDS: dict[str, Callable[[Path], None]] = {
    "prometheus": prometheus,
    "alertmanager": alertmanager,
}


def build(name: str, module_dir: Path, workdir: Path) -> Path:
    """A writable copy of MODULE_DIR under WORKDIR with its web UI built; returns the copy.
    Built once per work directory (the copy is kept until the component is rebuilt)."""
    if name not in BUILDS:
        raise BundleError(f"no web UI build named {name!r} in keelson.bundle.webui")
    copy = workdir / "src" / name
    done = copy / ".keelson-web-ui"
    stamp = json.dumps(TOOLS, sort_keys=True)
    if done.exists() and done.read_text() == stamp:
        return copy
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(module_dir, copy, copy_function=shutil.copyfile)
    for path in [copy, *copy.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)
    BUILDS[name](copy)
    done.write_text(stamp)
    return copy
