"""keelson.platform.bundle_install's check of running services (plugins/modules/bundle_install.py),
against real processes on this machine: a program started from one file is "running another file"
once its link points at a new version, or once its file was replaced in place; not while the link
points at what it runs, nor once it ended."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from role_plugins import ROOT, load_plugin

module = load_plugin(ROOT / "plugins" / "modules" / "bundle_install.py")


@pytest.fixture
def versions(tmp_path: Path) -> Iterator[tuple[Path, Path, Path]]:
    """Two versions of a program (copies of sleep) and a link, at first to v1."""
    old, new = tmp_path / "v1" / "prog", tmp_path / "v2" / "prog"
    for path in (old, new):
        path.parent.mkdir()
        shutil.copy2(shutil.which("sleep") or "/bin/sleep", path)
    link = tmp_path / "prog"
    link.symlink_to(old)
    yield old, new, link


@pytest.fixture
def running(versions: tuple[Path, Path, Path]) -> Iterator[int]:
    """The pid of the program started through the link (at v1), killed afterwards."""
    with subprocess.Popen([str(versions[2]), "60"]) as proc:
        try:
            yield proc.pid
        finally:
            proc.kill()


def test_a_process_of_the_linked_file_runs_no_other_file(
    versions: tuple[Path, Path, Path], running: int
) -> None:
    assert not module.runs_another_file(running, str(versions[2]))


def test_a_relinked_program_still_running_the_old_file_is_found(
    versions: tuple[Path, Path, Path], running: int
) -> None:
    _, new, link = versions
    link.unlink()
    link.symlink_to(new)
    assert module.runs_another_file(running, str(link))


def test_a_file_replaced_in_place_under_a_running_process_is_found(
    versions: tuple[Path, Path, Path], running: int
) -> None:
    old, new, link = versions
    shutil.copy2(new, old.with_suffix(".new"))
    old.with_suffix(".new").replace(old)
    assert module.runs_another_file(running, str(link))


def test_an_ended_process_runs_nothing(versions: tuple[Path, Path, Path]) -> None:
    _, new, link = versions
    with subprocess.Popen([str(link), "0"]) as proc:
        proc.wait()
    link.unlink()
    link.symlink_to(new)
    assert not module.runs_another_file(proc.pid, str(link))
