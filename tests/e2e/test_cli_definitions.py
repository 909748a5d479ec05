"""The authors' commands through the `workflow` command line.

Most run in-process (``tests/e2e/cli.py``); the shipped definitions' check,
the console script, ``python -m workflow`` and a missing Graphviz (``PATH``
without ``dot``) are real processes.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import DEFINITIONS
from tests.e2e.cli import clean_env, run, run_process
from tests.unit.definition_texts import MINIMAL

PROBLEM_LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+):(?P<column>\d+): (?P<message>.+)$")


def test_validate_accepts_the_shipped_definitions() -> None:
    result = run_process("validate")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "enterprise_issue v1" in result.stderr


def test_validate_prints_every_problem_with_its_position(tmp_path: Path) -> None:
    (tmp_path / "one.yaml").write_text(MINIMAL.replace("to: done", "to: dnoe"), encoding="utf-8")
    (tmp_path / "two.yaml").write_text(
        MINIMAL.replace("id: mini", "id: two")
        .replace("lable", "x")
        .replace("amount: 2", "amount: 0"),
        encoding="utf-8",
    )
    result = run_process("validate", "one.yaml", "two.yaml", cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines == [
        "one.yaml:41:9: unknown state 'dnoe'; did you mean 'done'?",
        "two.yaml:26:24: should be greater than or equal to 1",
    ]
    assert all(PROBLEM_LINE.match(line) for line in lines)
    assert "2 problems in 2 file(s)" in result.stderr
    assert "Traceback" not in result.stderr


def test_validate_of_a_missing_path(tmp_path: Path) -> None:
    result = run("validate", "nowhere.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.startswith("nowhere.yaml:1:1: no such file or folder")


def test_schema_command_prints_the_shipped_schema() -> None:
    result = run("schema")
    assert result.returncode == 0
    assert result.stdout == (DEFINITIONS / "workflow.schema.json").read_text(encoding="utf-8")


def test_graph_by_workflow_id_as_mermaid() -> None:
    result = run("graph", "enterprise_issue", "--format", "mermaid")
    assert result.returncode == 0, result.stderr
    assert "\nstateDiagram-v2\n" in result.stdout
    assert "sign_for" in result.stdout or "Sign for" in result.stdout


def test_graph_of_a_file_as_dot(tmp_path: Path) -> None:
    (tmp_path / "wf.yaml").write_text(MINIMAL, encoding="utf-8")
    result = run("graph", "wf.yaml", "--format", "dot", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.lstrip().startswith("digraph")


def test_graph_of_an_unknown_workflow_exits_3() -> None:
    result = run("graph", "no_such_workflow")
    assert result.returncode == 3
    assert "no workflow definition 'no_such_workflow'" in result.stderr
    assert "Traceback" not in result.stderr


def test_graph_svg(tmp_path: Path) -> None:
    if shutil.which("dot") is None:
        pytest.skip(
            "GRAPHVIZ IS NOT INSTALLED: the SVG output is untested (apt-get install graphviz)"
        )
    out = tmp_path / "issue.svg"
    result = run("graph", "enterprise_issue", "--format", "svg", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert b"<svg" in out.read_bytes()


def test_module_and_console_script_agree() -> None:
    script = shutil.which("workflow", path=str(Path(sys.executable).parent))
    assert script is not None, "the `workflow` console script is not installed"
    result = subprocess.run(
        [script, "--help"], capture_output=True, text=True, env=clean_env(), check=False
    )
    assert result.returncode == 0
    assert "validate" in result.stdout
    module = run_process("--help")
    assert module.returncode == 0
    assert module.stdout.replace("python -m workflow", "workflow") == result.stdout


def test_schema_fragment_prints_the_shipped_fragment_schema() -> None:
    result = run("schema", "--fragment")
    assert result.returncode == 0
    assert result.stdout == (DEFINITIONS / "workflow-fragment.schema.json").read_text(
        encoding="utf-8"
    )


def test_graph_svg_without_graphviz_exits_4(tmp_path: Path) -> None:
    (tmp_path / "wf.yaml").write_text(MINIMAL, encoding="utf-8")
    empty = tmp_path / "bin"
    empty.mkdir()
    # No `dot` anywhere on the PATH.
    result = run_process(
        "graph", "wf.yaml", "--format", "svg", cwd=tmp_path, env={"PATH": str(empty)}
    )
    assert result.returncode == 4, result.stderr
    assert "Graphviz program 'dot' not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_graph_errors_show_paths_as_validate_does(tmp_path: Path) -> None:
    folder = tmp_path / "defs"
    folder.mkdir()
    (folder / "wf.yaml").write_text(MINIMAL.replace("to: done", "to: dnoe"), encoding="utf-8")
    expected = "defs/wf.yaml:41:9: unknown state 'dnoe'; did you mean 'done'?"
    by_id = run("--definitions", str(folder), "graph", "mini", cwd=tmp_path)
    by_file = run("graph", str(folder / "wf.yaml"), cwd=tmp_path)
    validated = run("validate", str(folder), cwd=tmp_path)
    assert by_id.returncode == by_file.returncode == validated.returncode == 1
    assert by_id.stderr.splitlines() == [expected]
    assert by_file.stderr.splitlines() == [expected]
    assert validated.stdout.splitlines() == [expected]
