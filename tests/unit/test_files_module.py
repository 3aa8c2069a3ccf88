"""keelson.platform.files (plugins/modules/files.py) run for real by Ansible on this machine
(connection local) against a temporary directory: created, rewritten, re-permissioned and
removed paths are reported; a second run changes nothing; check mode reports without writing."""

from __future__ import annotations

import grp
import os
import pwd
from pathlib import Path
from typing import Any

from role_plugins import run_module

OWNER = pwd.getpwuid(os.getuid()).pw_name
GROUP = grp.getgrgid(os.getgid()).gr_name


def run(files: list[dict[str, Any]], tmp_path: Path, *flags: str) -> dict[str, Any]:
    """The module's result for FILES on localhost (ansible's json callback)."""
    for entry in files:
        entry.setdefault("owner", OWNER)
        entry.setdefault("group", GROUP)
    return run_module("keelson.platform.files", {"files": files}, tmp_path, *flags)


def layout(tmp_path: Path) -> list[dict[str, Any]]:
    conf = tmp_path / "conf.d"
    return [
        {
            "path": str(conf),
            "state": "directory",
            "mode": "0750",
            "exclusive": True,
            "keep": ["kept.d"],
        },
        {"path": str(conf / "a.conf"), "content": "a = 1\n", "mode": "0640"},
        {"path": str(conf / "sub"), "state": "directory", "mode": "0755"},
        {"path": str(conf / "sub" / "b.conf"), "content": "b = 2\n", "mode": "0644"},
        {"path": str(tmp_path / "gone"), "state": "absent"},
    ]


def test_creates_then_changes_nothing(tmp_path: Path) -> None:
    (tmp_path / "gone").write_text("old\n")
    first = run(layout(tmp_path), tmp_path)
    assert first["changed"] is True, first
    conf = tmp_path / "conf.d"
    assert first["changed_paths"] == [
        str(conf), str(conf / "a.conf"), str(conf / "sub"), str(conf / "sub" / "b.conf"),
        str(tmp_path / "gone"),
    ]  # fmt: skip
    assert (conf / "a.conf").read_text() == "a = 1\n"
    assert oct((conf / "a.conf").stat().st_mode & 0o777) == "0o640"
    assert oct(conf.stat().st_mode & 0o777) == "0o750"
    assert not (tmp_path / "gone").exists()

    second = run(layout(tmp_path), tmp_path)
    assert second["changed"] is False, second
    assert second["changed_paths"] == []


def test_finds_and_fixes_drift_and_removes_what_no_entry_names(tmp_path: Path) -> None:
    run(layout(tmp_path), tmp_path)
    conf = tmp_path / "conf.d"
    (conf / "a.conf").write_text("a = edited by hand\n")
    (conf / "sub" / "b.conf").chmod(0o666)
    (conf / ".foreign.conf").write_text("x\n")
    (conf / "foreign.d").mkdir()
    (conf / "kept.d").mkdir()
    drifted = [str(conf / ".foreign.conf"), str(conf / "foreign.d"), str(conf / "a.conf"),
               str(conf / "sub" / "b.conf")]  # fmt: skip

    check = run(layout(tmp_path), tmp_path, "--check", "--diff")
    assert check["changed"] is True
    assert sorted(check["changed_paths"]) == sorted(drifted)
    assert (conf / "a.conf").read_text() == "a = edited by hand\n", "check mode wrote"
    assert (conf / ".foreign.conf").exists(), "check mode removed"
    diffs = check["diff"]
    assert {"before_header": str(conf / "a.conf"), "after_header": str(conf / "a.conf"),
            "before": "a = edited by hand\n", "after": "a = 1\n"} in diffs  # fmt: skip
    assert any(d["before"].get("mode") == "0666" for d in diffs if isinstance(d["before"], dict))

    fixed = run(layout(tmp_path), tmp_path)
    assert sorted(fixed["changed_paths"]) == sorted(drifted)
    assert (conf / "a.conf").read_text() == "a = 1\n"
    assert oct((conf / "sub" / "b.conf").stat().st_mode & 0o777) == "0o644"
    assert sorted(p.name for p in conf.iterdir()) == ["a.conf", "kept.d", "sub"]
    assert run(layout(tmp_path), tmp_path)["changed"] is False


def test_check_mode_before_the_first_run_reports_every_path(tmp_path: Path) -> None:
    check = run(layout(tmp_path), tmp_path, "--check")
    assert check["changed"] is True
    assert len(check["changed_paths"]) == 4  # "gone" does not exist: nothing to remove
    assert not (tmp_path / "conf.d").exists()


def test_refuses_a_directory_where_a_file_belongs(tmp_path: Path) -> None:
    (tmp_path / "x.conf").mkdir()
    result = run([{"path": str(tmp_path / "x.conf"), "content": "x\n"}], tmp_path)
    assert result.get("failed") is True
    assert "is a directory, not a file" in result["msg"]
