"""Laying text out in columns for terminals and plain text (wide CJK characters count twice).

Shared by the CLI and the reports' text formats, which is why it sits at the
package's top level rather than in either.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["display_width", "pad", "table"]


def display_width(text: str) -> int:
    """Return how many terminal columns ``text`` takes (wide CJK characters take two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def pad(text: str, width: int) -> str:
    """Return ``text`` padded with spaces to ``width`` terminal columns."""
    return text + " " * max(0, width - display_width(text))


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Render rows as columns aligned under their headers (cells flattened to one line)."""
    cells = [[" ".join(str(c).split()) for c in row] for row in rows]
    widths = [display_width(h) for h in headers]
    for row in cells:
        for index, cell in enumerate(row):
            widths[index] = max(widths[index], display_width(cell))
    lines = [
        "  ".join(pad(h, w) for h, w in zip(headers, widths, strict=True)).rstrip(),
        "  ".join("-" * w for w in widths),
    ]
    lines.extend(
        "  ".join(pad(c, w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )
    return "\n".join(lines)
