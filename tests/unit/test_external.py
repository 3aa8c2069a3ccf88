"""Every external program keelson runs has a timeout, and what goes wrong is one line: a program
past its timeout or missing, and an error keelson has no name for (a traceback only with
--debug). The programs here really run (sleep, a missing name)."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from keelson import cli, dockercli, external, runner
from keelson.errors import ImageError, LabError

SRC = Path(__file__).resolve().parents[2] / "src" / "keelson"


def _calls(tree: ast.AST) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)]


def _name(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return f"{func.value.id}.{func.attr}"
    return ""


def test_every_subprocess_call_has_a_timeout() -> None:
    missing = []
    for path in sorted(SRC.rglob("*.py")):
        for call in _calls(ast.parse(path.read_text())):
            name = _name(call)
            runs = name in ("subprocess.run", "subprocess.check_output", "subprocess.call")
            if runs and not any(k.arg == "timeout" for k in call.keywords):
                missing.append(f"{path.relative_to(SRC)}:{call.lineno} {name}")
            # A pipe's writer (hostimage: tar into `docker import`) is waited for with a timeout.
            if name == "subprocess.Popen" and ".wait(timeout=" not in path.read_text():
                missing.append(f"{path.relative_to(SRC)}:{call.lineno} {name} (no bounded wait)")
    assert missing == []


def test_a_program_past_its_timeout_is_one_line_of_the_callers_domain() -> None:
    with pytest.raises(LabError) as raised:
        external.run(["sleep", "5"], timeout=0.2, error=LabError)
    assert str(raised.value) == "`sleep 5` did not finish within 0.2s"
    assert raised.value.exit_code == LabError.exit_code


def test_a_missing_program_is_one_line_naming_it() -> None:
    with pytest.raises(LabError, match=r"^keelson-no-such-tool not found: is it installed"):
        external.run(["keelson-no-such-tool", "--version"], timeout=5, error=LabError)


def _broken(args: object) -> int:
    raise RuntimeError("first line\nsecond line")


def test_an_unexpected_error_is_one_line_with_the_run_id(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(runner, "LAST_RUN_ID", None)
    runner.new_run_id("deploy")
    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    args = parser.parse_args(["doctor"])
    monkeypatch.setattr(parser, "parse_args", lambda argv=None: args)
    monkeypatch.setattr(args, "func", _broken)
    assert cli.main(["doctor"]) == cli.UNEXPECTED_EXIT_CODE
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("keelson: error: unexpected RuntimeError: first line | second line;")
    assert f"during run {runner.LAST_RUN_ID}" in err and "--debug" in err

    monkeypatch.setattr(args, "debug", True)
    with pytest.raises(RuntimeError):
        cli.main(["--debug", "doctor"])


def test_output_into_a_closed_pipe_ends_quietly() -> None:
    """`keelson runs show ID | head`: once the reader is gone, keelson stops with the shell's
    SIGPIPE status and says nothing (it printed an unexpected BrokenPipeError before)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "keelson", "doctor"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    proc.stdout.close()  # before keelson has printed its first line (it is still importing)
    _, err = proc.communicate(timeout=120)
    assert err == ""
    assert proc.returncode == cli.SIGPIPE_EXIT_CODE


def test_docker_runs_only_through_dockercli() -> None:
    """One module runs `docker`: a call elsewhere would miss its error domain and timeout."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        if path.name == "dockercli.py":
            continue
        for call in _calls(ast.parse(path.read_text())):
            first = call.args[0] if call.args else None
            if isinstance(first, ast.List) and first.elts:
                head = first.elts[0]
                if isinstance(head, ast.Constant) and head.value == "docker":
                    found.append(f"{path.relative_to(SRC)}:{call.lineno}")
    assert found == []


def test_a_failed_docker_command_carries_the_callers_exit_code() -> None:
    """A failed `docker tag` while pushing images is an image error (exit 8), not a lab error:
    docker really runs (the engine is up for the unit tests, `make setup`)."""
    if not dockercli.engine_running():
        pytest.fail("the Docker engine is not running: run `make setup` first")
    with pytest.raises(ImageError) as raised:
        dockercli.run("tag", "keelson/no-such-image:0", "keelson/no-such-image:1", error=ImageError)
    assert str(raised.value).startswith("docker tag failed: ")
    assert raised.value.exit_code == 8
