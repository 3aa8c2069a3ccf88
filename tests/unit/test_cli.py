"""The CLI's contract: one error line and a meaningful exit code, traceback only with --debug."""

import pytest

from keelson.cli import main
from keelson.errors import InventoryError


def test_missing_inventory_is_one_line_and_exit_code_3(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["deploy", "-i", "/no/such/inventory"])
    err = capsys.readouterr().err
    assert code == InventoryError.exit_code
    assert err == "keelson: error: inventory not found: /no/such/inventory\n"


def test_debug_shows_the_exception() -> None:
    with pytest.raises(InventoryError):
        main(["--debug", "inventory", "validate", "-i", "/no/such/inventory"])


def test_lab_rejects_bad_node_count(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["lab", "up", "--name", "unit-never-created", "--nodes", "0"])
    assert code == 2
    assert "--nodes must be between 1 and 20" in capsys.readouterr().err


def test_doctor_reports_every_check(capsys: pytest.CaptureFixture[str]) -> None:
    main(["doctor"])
    out = capsys.readouterr().out
    for item in ("python", "ansible-core", "ansible-runner", "ansible collections", "ssh"):
        assert item in out
