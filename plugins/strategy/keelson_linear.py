"""Ansible's own linear strategy (no mitogen: a module upload per task), with the Jinja plugins
loaded before each fork (keelson.prefork). What keelson runs when KEELSON_MITOGEN=0 or mitogen
is not installed."""

from ansible.plugins.strategy.linear import StrategyModule as Linear

from keelson.prefork import PreforkMixin


class StrategyModule(PreforkMixin, Linear):
    pass
