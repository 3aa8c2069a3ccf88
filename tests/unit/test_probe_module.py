"""keelson.platform.probe (plugins/modules/probe.py) run for real by Ansible on this machine
(connection local): files, paths and commands read in one task, missing ones reported rather
than failing, nothing changed in a normal run or in check mode."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from role_plugins import run_module


def probe(args: dict[str, Any], tmp_path: Path, *flags: str) -> dict[str, Any]:
    return run_module("keelson.platform.probe", args, tmp_path, *flags)


def test_reads_files_paths_and_commands_and_reports_what_is_missing(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("alpha\n")
    (tmp_path / "ro").mkdir()
    args = {
        "read": [str(tmp_path / "a.txt"), str(tmp_path / "missing.txt")],
        "stat": [str(tmp_path / "ro"), str(tmp_path / "nowhere")],
        "commands": {"echo": ["echo", "hi"], "false": ["false"], "ghost": ["no-such-binary-x"]},
    }
    for flags in ((), ("--check",)):
        result = probe(args, tmp_path, *flags)
        assert result["changed"] is False
        assert result["files"] == {
            str(tmp_path / "a.txt"): "alpha\n",
            str(tmp_path / "missing.txt"): None,
        }
        assert result["paths"][str(tmp_path / "ro")]["exists"] is True
        assert result["paths"][str(tmp_path / "nowhere")] == {"exists": False, "writeable": False}
        commands = result["commands"]
        assert (commands["echo"]["rc"], commands["echo"]["stdout"]) == (0, "hi\n")
        assert commands["false"]["rc"] == 1
        assert commands["ghost"]["rc"] == 127
        assert "no-such-binary-x" in commands["ghost"]["stderr"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != ".ansible") == ["a.txt", "ro"]


def test_refuses_a_command_that_is_not_an_argv(tmp_path: Path) -> None:
    result = probe({"commands": {"shell": "echo hi"}}, tmp_path)
    assert result.get("failed") is True
    assert "is not a list of strings" in result["msg"]


def test_runs_the_commands_side_by_side(tmp_path: Path) -> None:
    """Each command waits (up to 5 s) for the file the other one writes: run one after the
    other, the first would give up."""
    wait = "touch {mine}; for i in $(seq 50); do [ -e {theirs} ] && exit 0; sleep 0.1; done; exit 1"
    a, b = tmp_path / "a", tmp_path / "b"
    result = probe(
        {
            "commands": {
                "a": ["sh", "-c", wait.format(mine=a, theirs=b)],
                "b": ["sh", "-c", wait.format(mine=b, theirs=a)],
            }
        },
        tmp_path,
    )
    assert [result["commands"][name]["rc"] for name in "ab"] == [0, 0], result
