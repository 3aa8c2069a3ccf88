"""What Ansible's main process does before it forks a worker per host and task, so that no
worker repeats work the main process can do once (each found in a profile of a no-op re-run of
the lab, docs/development.md):

- Ansible loads its Jinja filter and test plugins lazily, on the first template that names one,
  and caches them in the process that did: the worker, which exits after its task. So each
  worker executed the source of every filter and test plugin again (a third of the workers'
  CPU). The strategies keelson runs (plugins/strategy) load them in the main process before each
  fork; once loaded, the call costs a dictionary lookup. The roles' own filters are the
  collection's (keelson.platform.NAME): the first lookup by full name in a process imports every
  filter file of the collection (90 ms), so the main process makes it once, for every worker.
- Each worker is forked with the main process's heap frozen out of the garbage collector's reach.
- mitogen's module scans compile each module_utils source once per run (compile_module_utils_once).
"""

import builtins
import functools
import gc
from types import CodeType, ModuleType
from typing import Any

from ansible.plugins.loader import filter_loader, test_loader

# Any filter of the collection keelson.platform: looking one up imports them all.
COLLECTION_FILTER = "keelson.platform.pins"
_collection_filters_loaded = False


def load_jinja_plugins() -> None:
    """Fill the filter and test plugin caches of this process (a no-op once they are full)."""
    global _collection_filters_loaded
    for loader in (filter_loader, test_loader):
        # all() fills the cache before yielding its first plugin.
        next(iter(loader.all()), None)
    if not _collection_filters_loaded:
        # The collection's filter modules stay imported (sys.modules) for every later fork.
        filter_loader.get(COLLECTION_FILTER)
        _collection_filters_loaded = True


class PreforkMixin:
    """Put before a strategy class: loads the Jinja plugins before each worker is forked, and
    forks it with the main process's objects frozen out of the garbage collector's reach: a
    worker's collections would otherwise walk (and so copy, page by page) the whole heap it
    shares with the main process."""

    def _queue_task(self, host: Any, task: Any, task_vars: Any, play_context: Any) -> Any:
        load_jinja_plugins()
        gc.freeze()
        try:
            return super()._queue_task(host, task, task_vars, play_context)  # type: ignore[misc]
        finally:
            gc.unfreeze()


def compile_module_utils_once(module_finder: ModuleType) -> None:
    """Make mitogen's module_finder compile each module_utils source once per process.

    Before a module's first run, mitogen scans which module_utils it imports by compiling the
    module and, transitively, every module_utils file it reaches; it does so for each module
    again, so `basic.py` and its dozens of imports were compiled once per module a run uses
    (about 3 s of every run, serialized in mitogen's mux process, in the profile). The same
    source compiles to the same code, so the second compile is a dictionary lookup.
    """
    module_finder.compile = functools.lru_cache(maxsize=None)(_compile)  # type: ignore[attr-defined]


def _compile(source: bytes, filename: str, mode: str) -> CodeType:
    code: CodeType = builtins.compile(source, filename, mode)
    return code
