"""mitogen's linear strategy under a path of the project's own (ansible.cfg's strategy_plugins and
the molecule configuration name this directory, not the virtualenv's site-packages): one
persistent Python per host instead of a module upload per task. Needs mitogen installed; keelson
picks this strategy only when it is (KEELSON_MITOGEN=0 runs keelson_linear, plain Ansible). The
Jinja plugins are loaded before each fork, and module_utils compiled once per run
(keelson.prefork)."""

from ansible_mitogen import module_finder
from ansible_mitogen.plugins.strategy.mitogen_linear import StrategyModule as MitogenLinear

from keelson.prefork import PreforkMixin, compile_module_utils_once

# Before mitogen forks its mux process (where the module scans run).
compile_module_utils_once(module_finder)


class StrategyModule(PreforkMixin, MitogenLinear):
    pass
