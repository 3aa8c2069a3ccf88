"""keelson.platform.apt's fast path (plugins/action/apt.py) decides from dpkg-query alone only
when every package asked for is plainly installed; anything else goes to ansible.builtin.apt.
(The path through apt on real hosts: molecule's converges and the lab's drift test, which
removes a package by hand.)"""

from pathlib import Path

import pytest
from role_plugins import load_plugin

apt = load_plugin(Path(__file__).resolve().parents[2] / "plugins" / "action" / "apt.py")

QUERY_OUTPUT = """\
chrony installed
logrotate config-files
haproxy half-configured
kmod installed
"""


def test_only_packages_in_the_installed_state_count_as_installed() -> None:
    # A package removed by hand keeps its configuration files: it is not installed.
    assert apt.installed(QUERY_OUTPUT) == {"chrony", "kmod"}
    assert apt.installed("") == set()


@pytest.mark.parametrize(
    ("args", "names"),
    [
        ({"name": ["chrony", "kmod"], "state": "present", "update_cache": 1}, ["chrony", "kmod"]),
        ({"name": "chrony,kmod"}, ["chrony", "kmod"]),  # apt's default state is present
        ({"pkg": ["haproxy"]}, ["haproxy"]),
        ({"name": ["etcd-server"], "state": "latest"}, None),  # latest must ask apt
        ({"name": ["etcd-server"], "state": "absent"}, None),
        ({"name": ["etcd-server=3.4.23-4"]}, None),  # a version pin
        ({"name": ["etcd*"]}, None),
        ({"deb": "/tmp/x.deb"}, None),
        ({"name": ["chrony"], "upgrade": "dist"}, None),
        ({"name": []}, None),
        ({"update_cache": True}, None),
    ],
)
def test_the_fast_path_takes_plain_names_to_keep_present_only(
    args: dict[str, object], names: list[str] | None
) -> None:
    assert apt.requested(args) == names
