"""The strategies keelson runs load Ansible's Jinja plugins in the main process before each fork
(keelson.prefork): a worker forked after that templates without executing a plugin's source."""

import os
from collections.abc import Iterator
from unittest import mock

import pytest
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.loader import PluginLoader, filter_loader, test_loader
from ansible.template import Templar, trust_as_template

from keelson.prefork import PreforkMixin, load_jinja_plugins

TEMPLATE = "{{ [2, 1, 2] | unique | to_json }}{{ 'a' is match('a') }}"


@pytest.fixture(autouse=True)
def cold_caches() -> Iterator[None]:
    for loader in (filter_loader, test_loader):
        loader._clear_caches()
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
            with refuse if loading_refused else mock.MagicMock():
                templar = Templar(loader=DataLoader())
                assert templar.template(trust_as_template(TEMPLATE)) == "[2, 1]True"
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


def test_the_strategy_mixin_loads_before_queueing_each_task() -> None:
    calls: list[str] = []

    class Strategy:
        def _queue_task(self, *args: object) -> str:
            calls.append("queued")
            return "result"

    class Warm(PreforkMixin, Strategy):
        pass

    with mock.patch("keelson.prefork.load_jinja_plugins", lambda: calls.append("loaded")):
        assert Warm()._queue_task("host", "task", {}, None) == "result"
    assert calls == ["loaded", "queued"]
