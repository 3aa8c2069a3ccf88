"""The strategies keelson runs load Ansible's Jinja plugins in the main process before each fork
(keelson.prefork): a worker forked after that templates without executing a plugin's source;
mitogen's module scans compile each module_utils source once per run."""

import contextlib
import gc
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import PluginLoader, filter_loader, init_plugin_loader, test_loader
from ansible.template import Templar, trust_as_template

from keelson import prefork
from keelson.prefork import PreforkMixin, compile_module_utils_once, load_jinja_plugins

# A builtin filter and test, and one of the collection keelson.platform (through the checkout's
# link to itself, as ansible.cfg's collections_path finds it).
TEMPLATE = (
    "{{ [2, 1, 2] | unique | to_json }}{{ 'a' is match('a') }}"
    "{{ {'components': {}} | keelson.platform.pins | length }}"
)
RESULT = "[2, 1]True0"
init_plugin_loader([str(Path(__file__).resolve().parents[2] / "collections")])


@pytest.fixture(autouse=True)
def cold_caches(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for loader in (filter_loader, test_loader):
        loader._clear_caches()
    for name in [m for m in sys.modules if m.startswith("ansible_collections.keelson")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(prefork, "_collection_filters_loaded", False)
    yield


def _template_in_a_forked_worker(*, loading_refused: bool) -> int:
    """Exit status of a forked child that templates TEMPLATE (1 when it loaded a plugin's
    source while that is refused)."""
    pid = os.fork()
    if pid == 0:  # the worker
        status = 0
        try:
            refuse = mock.patch.object(
                PluginLoader, "_load_module_source", side_effect=AssertionError("loaded")
            )
            with refuse if loading_refused else contextlib.nullcontext():
                templar = Templar(loader=DataLoader())
                assert templar.template(trust_as_template(TEMPLATE)) == RESULT
        except BaseException:
            status = 1
        os._exit(status)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def test_a_worker_forked_after_the_load_executes_no_plugin_source() -> None:
    load_jinja_plugins()
    assert _template_in_a_forked_worker(loading_refused=True) == 0


def test_a_worker_forked_before_it_loads_every_plugin_itself() -> None:
    # What the load saves: without it the same worker fails where loading is refused, and
    # templates fine where it is not.
    assert _template_in_a_forked_worker(loading_refused=True) == 1
    assert _template_in_a_forked_worker(loading_refused=False) == 0


def test_the_strategy_mixin_loads_and_freezes_the_heap_while_it_forks_each_worker() -> None:
    calls: list[str] = []

    class Strategy:
        def _queue_task(self, *args: object) -> str:
            # Where Ansible forks the worker: the main process's objects are frozen.
            calls.append(f"queued, {gc.get_freeze_count() > 0 and 'frozen'}")
            return "result"

    class Warm(PreforkMixin, Strategy):
        pass

    with mock.patch("keelson.prefork.load_jinja_plugins", lambda: calls.append("loaded")):
        assert Warm()._queue_task("host", "task", {}, None) == "result"
    assert calls == ["loaded", "queued, frozen"]
    # ...and collected again in the main process once the worker runs.
    assert gc.get_freeze_count() == 0


def test_mitogen_scans_find_the_same_module_utils_compiling_each_source_once() -> None:
    from ansible import module_utils, modules
    from ansible_mitogen import module_finder

    search = (str(Path(module_utils.__file__).parent),)
    stat, copy = (str(Path(modules.__file__).parent / f"{m}.py") for m in ("stat", "copy"))
    before = [module_finder.scan("stat", stat, search), module_finder.scan("copy", copy, search)]
    compile_module_utils_once(module_finder)
    try:
        after = [module_finder.scan("stat", stat, search), module_finder.scan("copy", copy, search)]
        cached = module_finder.compile.cache_info()  # type: ignore[attr-defined]
    finally:
        del module_finder.compile  # type: ignore[attr-defined]
    assert after == before
    assert any(name.endswith("module_utils.basic") for name, _, _ in after[0])
    # copy imports basic and most of what stat imports: those came from the cache.
    assert cached.hits >= len(after[0]) - 1
