"""The code examples of every page of the documentation site are checked.

* Python: every ```python block of docs/*.md is marked. ``<!-- run -->`` blocks
  execute, page by page in document order in one namespace, in an empty folder;
  ``<!-- skip: reason -->`` blocks (they need a host's database server, its own
  objects or files) must say why and still compile. docs/embedding.md has its own,
  stricter runner (tests/integration/test_embedding_docs.py), which also checks what
  its prints show; it is only counted here.
* Diagrams: every ```mermaid block after ``<!-- diagram: ID -->`` is exactly what
  ``workflow graph ID --format mermaid`` draws for the shipped definition, and the
  page of the shipped workflows draws every one of them.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import DEFINITIONS, REPO
from tests.docs_blocks import Block, read_blocks
from workflow.cli.main import main

DOCS = REPO / "docs"
PAGES = sorted(DOCS.glob("*.md"))
OWN_RUNNER = {"embedding.md"}


def _blocks(page: Path, language: str) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    return [block for block in read_blocks(text) if block.language == language]


def _compiled(page: Path, block: Block) -> types.CodeType:
    # Pad with newlines so that tracebacks point at the page's own line numbers.
    return compile("\n" * (block.line - 1) + block.code, str(page), "exec")


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_python_blocks_are_marked_run_or_skip_with_a_reason(page: Path) -> None:
    for block in _blocks(page, "python"):
        where = f"docs/{page.name}:{block.line}"
        assert block.marker in {"run", "skip"}, f"{where}: mark it <!-- run --> or <!-- skip -->"
        if page.name not in OWN_RUNNER:
            assert block.marker == "run" or block.argument, f"{where}: say why it is skipped"
        _compiled(page, block)


def _runnable(page: Path) -> list[Block]:
    return [block for block in _blocks(page, "python") if block.marker == "run"]


@pytest.mark.parametrize(
    "page",
    [page for page in PAGES if page.name not in OWN_RUNNER and _runnable(page)],
    ids=lambda page: page.name,
)
def test_runnable_python_blocks_run(
    page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runnable = _runnable(page)
    monkeypatch.chdir(tmp_path)
    module = types.ModuleType(f"docs_{page.stem.replace('-', '_')}")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    for block in runnable:
        exec(_compiled(page, block), module.__dict__)  # our own, trusted pages


def test_the_site_has_python_examples_in_several_pages() -> None:
    # A parser that found no blocks would make the two tests above pass vacuously.
    with_python = [page.name for page in PAGES if _blocks(page, "python")]
    assert len(with_python) >= 3, with_python


def _diagrams() -> list[tuple[Path, Block]]:
    return [
        (page, block)
        for page in PAGES
        for block in _blocks(page, "mermaid")
        if block.marker == "diagram"
    ]


def test_every_shipped_workflow_is_drawn_on_the_workflows_page() -> None:
    shipped = {path.stem for path in DEFINITIONS.glob("*.yaml")}
    drawn = {block.argument for page, block in _diagrams() if page.name == "workflows.md"}
    assert shipped <= drawn, f"not drawn in docs/workflows.md: {sorted(shipped - drawn)}"


@pytest.mark.parametrize(
    ("page", "block"),
    _diagrams(),
    ids=lambda value: value.name if isinstance(value, Path) else value.argument,
)
def test_diagrams_are_the_graph_commands_output(page: Path, block: Block) -> None:
    result = CliRunner(env={"WORKFLOW_DEFINITIONS": None}).invoke(
        main, ["graph", block.argument, "--format", "mermaid"]
    )
    assert result.exit_code == 0, result.output
    assert block.code == result.output, (
        f"docs/{page.name}:{block.line} is stale: paste `workflow graph {block.argument} "
        "--format mermaid` there"
    )
