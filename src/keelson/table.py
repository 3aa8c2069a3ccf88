"""Every table keelson prints: columns as wide as their widest cell, numbers right-aligned.

A column title ending in ">" is right-aligned (the ">" is not shown); the last column is never
padded, so lines carry no trailing blanks."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

GAP = "  "


def render(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    titles = [c.removesuffix(">") for c in columns]
    right = [c.endswith(">") for c in columns]
    cells = [[str(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in [titles, *cells]) for i in range(len(titles))]
    lines = []
    for row in [titles, *cells]:
        parts = [
            (cell.rjust(w) if r else cell.ljust(w)) if i < len(row) - 1 or r else cell
            for i, (cell, w, r) in enumerate(zip(row, widths, right, strict=True))
        ]
        lines.append(GAP.join(parts).rstrip())
    return "\n".join(lines)


def size(count: float) -> str:
    """Bytes as people read them: 512 B, 1.5 KiB, 12.0 MiB, 3.2 GiB."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return str(count)
