"""What Ansible's main process loads before it forks a worker per host and task, so that every
worker inherits it instead of loading it again.

Ansible loads its Jinja filter and test plugins lazily, on the first template that names one,
and caches them in the process that did: the worker, which exits after its task. So each worker
executed the source of every filter and test plugin again (a third of the workers' CPU in a
profiled no-op re-run of the lab, docs/development.md). The strategies keelson runs
(plugins/strategy) load them in the main process before each fork; once loaded, the call costs
a dictionary lookup. A plugin directory added later (a role's filter_plugins) empties Ansible's
cache, and the next fork loads it again."""

from typing import Any

from ansible.plugins.loader import filter_loader, test_loader


def load_jinja_plugins() -> None:
    """Fill the filter and test plugin caches of this process (a no-op once they are full)."""
    for loader in (filter_loader, test_loader):
        # all() fills the cache before yielding its first plugin.
        next(iter(loader.all()), None)


class PreforkMixin:
    """Put before a strategy class: loads the Jinja plugins before each worker is forked."""

    def _queue_task(self, host: Any, task: Any, task_vars: Any, play_context: Any) -> Any:
        load_jinja_plugins()
        return super()._queue_task(host, task, task_vars, play_context)  # type: ignore[misc]
