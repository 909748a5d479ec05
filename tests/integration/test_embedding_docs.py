"""The examples of ``docs/embedding.md`` run, so that the guide cannot rot.

Every ```python block preceded by ``<!-- run -->`` is executed, in document
order and in one namespace, with a temporary folder as the current
directory: the guide's ``sqlite:///office.db`` and ``visits/`` land there.
Blocks that cannot run (the host's ``env.py``, server URLs) are marked
``<!-- skip -->`` and only compiled. A block with neither marker fails the
suite, so an example cannot silently drop out of the check.

What the guide says a ``print`` shows is checked too: the comment after a
``print(...)`` call, and the full-line comments right below it, must appear
as lines of what the block printed, in that order.
"""

from __future__ import annotations

import re
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine as SqlEngine

from tests.conftest import REPO

GUIDE = REPO / "docs" / "embedding.md"

_FENCE = re.compile(r"^```(\w*)\s*$")
_MARKER = re.compile(r"^<!--\s*(run|skip)\s*-->$")

# Fewer runnable blocks than this means the markers (or the parser) broke.
_MIN_RUNNABLE = 15


@dataclass(frozen=True)
class Block:
    """One fenced code block of the guide."""

    language: str
    marker: str | None
    line: int
    """1-based line of the block's first code line."""
    code: str


def read_blocks(text: str) -> list[Block]:
    """Return the fenced blocks of a Markdown text, with the marker before each."""
    blocks: list[Block] = []
    lines = text.splitlines()
    previous = ""  # the last non-blank line outside a block
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index].strip())
        if opening is None:
            if lines[index].strip():
                previous = lines[index].strip()
            index += 1
            continue
        start = index + 1
        end = start
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        marker = _MARKER.match(previous)
        blocks.append(
            Block(
                language=opening.group(1),
                marker=marker.group(1) if marker else None,
                line=start + 1,
                code="\n".join(lines[start:end]) + "\n",
            )
        )
        previous = ""
        index = end + 1
    return blocks


def python_blocks() -> list[Block]:
    """Return the guide's Python blocks."""
    return [b for b in read_blocks(GUIDE.read_text(encoding="utf-8")) if b.language == "python"]


def promised_output(block: Block) -> list[str]:
    """Return the lines a block's comments say its prints show, in order."""
    promised: list[str] = []
    lines = block.code.splitlines()
    for index, line in enumerate(lines):
        if "print(" not in line:
            continue
        _, hash_mark, comment = line.partition("  # ")
        if hash_mark:
            promised.append(comment.strip())
        below = index + 1
        while below < len(lines) and lines[below].strip().startswith("# "):
            promised.append(lines[below].strip()[2:])
            below += 1
    return promised


def _is_subsequence(wanted: list[str], lines: list[str]) -> bool:
    remaining = iter(lines)
    return all(any(line == want for line in remaining) for want in wanted)


def _compiled(block: Block) -> Any:
    # Pad with newlines so that tracebacks point at the guide's own line numbers.
    return compile("\n" * (block.line - 1) + block.code, str(GUIDE), "exec")


def test_every_python_block_is_marked_run_or_skip() -> None:
    unmarked = [b.line for b in python_blocks() if b.marker is None]
    assert not unmarked, f"python blocks without <!-- run --> or <!-- skip --> at lines {unmarked}"


def test_skipped_blocks_still_compile() -> None:
    for block in python_blocks():
        if block.marker == "skip":
            _compiled(block)


def test_the_runnable_examples_run_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    runnable = [b for b in python_blocks() if b.marker == "run"]
    assert len(runnable) >= _MIN_RUNNABLE, f"only {len(runnable)} runnable blocks found"
    monkeypatch.chdir(tmp_path)
    # A real module, as if the reader had pasted the examples into one: the ORM
    # and typing look names up through sys.modules[__name__].
    module = types.ModuleType("embedding_guide")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    namespace = module.__dict__
    try:
        for block in runnable:
            exec(_compiled(block), namespace)  # the guide is our own, trusted text
            printed = [line.strip() for line in capsys.readouterr().out.splitlines()]
            promised = promised_output(block)
            assert _is_subsequence(promised, printed), (
                f"the block at docs/embedding.md:{block.line} promises {promised}, "
                f"but printed {printed}"
            )
    finally:
        for value in list(namespace.values()):
            if isinstance(value, SqlEngine):
                value.dispose()
