"""The tutorial (docs/tutorial.md) works as written: files, edits, commands and outputs.

The test plays the page top to bottom in an empty folder, as a reader would:

* a ```yaml block after ``<!-- file: PATH -->`` is saved as PATH;
* a ```diff block after ``<!-- edit: PATH -->`` is applied to PATH: its context and
  ``-`` lines must occur exactly once there, and become its context and ``+`` lines;
* a ```console block runs each ``$ `` command (``export NAME=VALUE`` sets the
  environment of the later ones) with the project's ``workflow`` on ``PATH``; what
  the page shows below a command must be what it printed (stdout, then stderr),
  line for line, where ``...`` stands for any text; every command must succeed,
  except the last of a block after ``<!-- exit: N -->``, which must exit N;
* a ```mermaid block after ``<!-- graph: FILE -->`` must be ``workflow graph FILE``'s
  output at that point of the tutorial.

Any other block must be marked ``<!-- skip: reason -->``, so nothing drops out silently.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.docs_blocks import Block, read_blocks

TUTORIAL = REPO / "docs" / "tutorial.md"
BIN = Path(sys.executable).parent


def _blocks() -> list[Block]:
    return read_blocks(TUTORIAL.read_text(encoding="utf-8"))


def _where(block: Block) -> str:
    return f"docs/tutorial.md:{block.line}"


def _apply_edit(path: Path, block: Block) -> None:
    old: list[str] = []
    new: list[str] = []
    for line in block.code.splitlines():
        sign, text = line[:1], line[1:]
        assert sign in {" ", "-", "+"}, f"{_where(block)}: diff line {line!r}"
        if sign in {" ", "-"}:
            old.append(text)
        if sign in {" ", "+"}:
            new.append(text)
    before = "\n".join(old) + "\n"
    content = path.read_text(encoding="utf-8")
    assert content.count(before) == 1, f"{_where(block)}: the edit's old lines are not in {path}"
    path.write_text(content.replace(before, "\n".join(new) + "\n"), encoding="utf-8")


def _matches(shown: str, printed: str) -> bool:
    pattern = ".*".join(re.escape(part) for part in shown.split("..."))
    return re.fullmatch(pattern, printed) is not None


def _commands(block: Block) -> list[tuple[str, list[str]]]:
    """Return each command of a console block with the output lines shown below it."""
    commands: list[tuple[str, list[str]]] = []
    for line in block.code.splitlines():
        if line.startswith("$ "):
            commands.append((line[2:], []))
        else:
            assert commands, f"{_where(block)}: output before any command"
            commands[-1][1].append(line)
    return commands


def _run_console(block: Block, folder: Path, env: dict[str, str]) -> None:
    commands = _commands(block)
    for index, (command, shown) in enumerate(commands):
        words = shlex.split(command)
        if words[0] == "export":
            name, _, value = words[1].partition("=")
            env[name] = value
            continue
        result = subprocess.run(
            command,
            shell=True,
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        printed = (result.stdout + result.stderr).splitlines()
        expected_exit = int(block.argument) if block.marker == "exit" else 0
        wanted = expected_exit if index == len(commands) - 1 else 0
        assert result.returncode == wanted, (
            f"{_where(block)}: `{command}` exited {result.returncode}:\n"
            + result.stdout
            + result.stderr
        )
        same = len(printed) == len(shown) and all(
            _matches(want, got) for want, got in zip(shown, printed, strict=True)
        )
        assert same, f"{_where(block)}: `{command}` printed\n" + "\n".join(printed)


def test_every_block_is_played_or_skipped_with_a_reason() -> None:
    playable = {("yaml", "file"), ("diff", "edit"), ("mermaid", "graph")}
    for block in _blocks():
        if block.language == "console":
            assert block.marker in {None, "exit"}, _where(block)
        elif block.marker == "skip":
            assert block.argument, f"{_where(block)}: say why the block is skipped"
        else:
            assert (block.language, block.marker) in playable, (
                f"{_where(block)}: a ```{block.language} block marked {block.marker!r}"
            )


def test_the_tutorial_runs_as_written(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKFLOW_")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    played = {"file": 0, "edit": 0, "console": 0, "graph": 0}
    for block in _blocks():
        if block.marker == "file":
            target = tmp_path / block.argument
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(block.code, encoding="utf-8")
            played["file"] += 1
        elif block.marker == "edit":
            _apply_edit(tmp_path / block.argument, block)
            played["edit"] += 1
        elif block.language == "console":
            _run_console(block, tmp_path, env)
            played["console"] += 1
        elif block.marker == "graph":
            result = subprocess.run(
                [str(BIN / "workflow"), "graph", block.argument],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=True,
            )
            assert block.code == result.stdout, f"{_where(block)}: now drawn as\n{result.stdout}"
            played["graph"] += 1
    # A parser that silently found nothing would pass; the tutorial has all four kinds.
    assert played["file"] >= 2
    assert played["edit"] >= 3
    assert played["console"] >= 8
    assert played["graph"] == 1


@pytest.mark.parametrize(
    ("shown", "printed", "matches"),
    [
        ("open      no, closed ...", "open      no, closed 2026-11-27 00:03", True),
        ("3 passed in ...", "3 passed in 1.2s (per scenario: mean 0.1s)", True),
        ("state     Handling (handling)", "state     Submitted (submitted)", False),
        ("ok  venue_request v1  ...", "ok  venue_request v2  d161baa975a3", False),
    ],
)
def test_shown_output_matches_with_ellipsis_only(shown: str, printed: str, matches: bool) -> None:
    assert _matches(shown, printed) is matches
