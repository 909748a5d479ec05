"""The tutorial (docs/tutorial.md) works as written: files, edits, commands and outputs.

The test plays the page top to bottom in an empty folder, as a reader would:

* a ```yaml block after ``<!-- file: PATH -->`` is saved as PATH;
* a ```diff block after ``<!-- edit: PATH -->`` is applied to PATH: its context and
  ``-`` lines must occur exactly once there, and become its context and ``+`` lines;
* a ```console block runs each ``$ `` command (``export NAME=VALUE`` sets the
  environment of the later ones; ``workflow ...`` runs the command in-process, as the
  console script would, to spare a Python start-up per command; anything else runs in
  a shell); what the page shows below a command must be what it printed (stdout, then
  stderr), line for line, where ``...`` stands for any text; every command must
  succeed, except the last of a block after ``<!-- exit: N -->``, which must exit N;
* a ```mermaid block after ``<!-- graph: FILE -->`` must be ``workflow graph FILE``'s
  output at that point of the tutorial.

Any other block must be marked ``<!-- skip: reason -->``, so nothing drops out silently.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import REPO
from tests.docs_blocks import Block, read_blocks
from workflow.cli.main import main

TUTORIAL = REPO / "docs" / "tutorial.md"


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


def _run(command: str, monkeypatch: pytest.MonkeyPatch) -> tuple[int, str, str]:
    """Run one command in the current folder; return its exit code, stdout and stderr."""
    words = shlex.split(command)
    if words[0] == "export":
        name, _, value = words[1].partition("=")
        monkeypatch.setenv(name, value)
        return 0, "", ""
    if words[0] == "workflow":
        result = CliRunner().invoke(main, words[1:], prog_name="workflow")
        return result.exit_code, result.stdout, result.stderr
    done = subprocess.run(
        command, shell=True, capture_output=True, text=True, timeout=120, check=False
    )
    return done.returncode, done.stdout, done.stderr


def _run_console(block: Block, monkeypatch: pytest.MonkeyPatch) -> None:
    commands = _commands(block)
    for index, (command, shown) in enumerate(commands):
        code, stdout, stderr = _run(command, monkeypatch)
        printed = (stdout + stderr).splitlines()
        expected_exit = int(block.argument) if block.marker == "exit" else 0
        wanted = expected_exit if index == len(commands) - 1 else 0
        assert code == wanted, f"{_where(block)}: `{command}` exited {code}:\n{stdout}{stderr}"
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


def test_the_tutorial_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in os.environ:
        if name.startswith("WORKFLOW_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
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
            _run_console(block, monkeypatch)
            played["console"] += 1
        elif block.marker == "graph":
            code, drawn, errors = _run(f"workflow graph {block.argument}", monkeypatch)
            assert code == 0, errors
            assert block.code == drawn, f"{_where(block)}: now drawn as\n{drawn}"
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
