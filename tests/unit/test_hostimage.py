from pathlib import Path

import pytest

from keelson.errors import LabError
from keelson.hostimage import read_rootfs_recipe
from keelson.paths import project_root


def test_shipped_recipe_boots_systemd_and_sshd() -> None:
    recipe = read_rootfs_recipe(project_root() / "images" / "lab-host" / "rootfs.env")
    packages = recipe["INCLUDE"].split(",")
    for needed in ("systemd", "systemd-sysv", "python3", "openssh-server"):
        assert needed in packages
    assert recipe["SUITE"] == "bookworm"


def test_malformed_recipe_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "rootfs.env"
    bad.write_text("SUITE=bookworm\nthis is not a setting\n")
    with pytest.raises(LabError, match="expected KEY=VALUE, got 'this is not a setting'"):
        read_rootfs_recipe(bad)


def test_recipe_missing_keys_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "rootfs.env"
    bad.write_text("# only a suite\nSUITE=bookworm\n")
    with pytest.raises(LabError, match="missing INCLUDE, VARIANT"):
        read_rootfs_recipe(bad)
