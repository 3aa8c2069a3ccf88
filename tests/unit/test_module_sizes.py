"""Modules with one job each: a module that grows past the limit holds several jobs (images.py
reached 854 lines, cli.py 551) and is split along its seams before it grows further."""

from pathlib import Path

SOURCE = Path(__file__).resolve().parents[2] / "src" / "keelson"
# About 350 lines, with room for a docstring or two.
MAX_LINES = 360


def test_no_module_holds_several_jobs() -> None:
    sizes = {
        str(path.relative_to(SOURCE)): len(path.read_text().splitlines())
        for path in SOURCE.rglob("*.py")
    }
    assert len(sizes) > 30
    too_big = {name: lines for name, lines in sizes.items() if lines > MAX_LINES}
    assert too_big == {}, f"split these along their seams (limit {MAX_LINES} lines): {too_big}"
