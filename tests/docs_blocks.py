"""Fenced code blocks of the Markdown docs, with the HTML-comment marker before each.

The docs mark what a test does with a block by a comment on the last non-blank line
before it: ``<!-- run -->``, ``<!-- skip: why it cannot run -->``,
``<!-- file: PATH -->``, ``<!-- edit: PATH -->``, ``<!-- exit: 5 -->``,
``<!-- graph: FILE -->``, ``<!-- diagram: ID -->``. The comment is invisible on the
rendered site and on GitHub.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_FENCE = re.compile(r"^```([\w-]*)\s*$")
_MARKER = re.compile(r"^<!--\s*([a-z]+)(?::\s*(.*?))?\s*-->$")


@dataclass(frozen=True)
class Block:
    """One fenced code block of a Markdown text."""

    language: str
    marker: str | None
    """The marker's name (``run``, ``skip``, ``file``...), or None without one."""
    argument: str
    """What follows the marker's colon (a path, a reason, an exit code), or ``""``."""
    line: int
    """1-based line of the block's first code line."""
    code: str


def read_blocks(text: str) -> list[Block]:
    """Return the top-level fenced blocks of a Markdown text, with the marker before each."""
    blocks: list[Block] = []
    lines = text.splitlines()
    previous = ""  # the last non-blank line outside a block
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            if lines[index].strip():
                previous = lines[index].strip()
            index += 1
            continue
        start = index + 1
        end = start
        while end < len(lines) and lines[end] != "```":
            end += 1
        marker = _MARKER.match(previous)
        blocks.append(
            Block(
                language=opening.group(1),
                marker=marker.group(1) if marker else None,
                argument=(marker.group(2) or "") if marker else "",
                line=start + 1,
                code="\n".join(lines[start:end]) + "\n",
            )
        )
        previous = ""
        index = end + 1
    return blocks
