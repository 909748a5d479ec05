"""The package's layers depend only downwards: the layout reads like the architecture.

definition (the language, its templates) → core (the state machine, through
ports) → store → schedule → notify → CLI and daemon at the edge. Adapters
(directory, reports) sit beside the layers they serve; the simulation drives
the engine as a host would, just below the CLI. Imports made only for
type checking (``if TYPE_CHECKING:``) are not dependencies and are skipped.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

from tests.conftest import REPO

PACKAGE = REPO / "workflow"

# What each part may NOT import at run time.
FORBIDDEN: dict[str, set[str]] = {
    "definition": {
        "core",
        "store",
        "schedule",
        "notify",
        "directory",
        "reports",
        "app",
        "simulation",
        "cli",
    },
    "core": {
        "store",
        "schedule",
        "notify",
        "directory",
        "reports",
        "app",
        "scenarios",
        "simulation",
        "cli",
    },
    "store": {
        "schedule",
        "notify",
        "directory",
        "reports",
        "app",
        "scenarios",
        "simulation",
        "cli",
    },
    "schedule": {"notify", "directory", "reports", "app", "scenarios", "simulation", "cli"},
    "notify": {"directory", "reports", "app", "scenarios", "simulation", "cli"},
    "directory": {"schedule", "reports", "app", "scenarios", "simulation", "cli"},
    "reports": {"app", "scenarios", "simulation", "cli"},
    "app": {"scenarios", "simulation", "cli"},
    "scenarios": {"simulation", "cli"},
    "simulation": {"scenarios", "cli"},
}

# The documented exceptions, each for a reason.
ALLOWED: set[tuple[str, str]] = {
    # One module touches APScheduler; the checks ask it whether a cron line is valid.
    ("workflow/definition/checks.py", "workflow.schedule.cadence"),
    # A directory answers the dispatcher's questions with its value type.
    ("workflow/directory/static.py", "workflow.notify.recipients"),
    ("workflow/directory/register.py", "workflow.notify.recipients"),
}


def _runtime_imports(tree: ast.Module) -> Iterator[str]:
    """Yield the absolute workflow modules imported outside ``if TYPE_CHECKING:``."""
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names if a.name.startswith("workflow."))
        elif (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and (node.module or "").startswith("workflow.")
        ):
            yield str(node.module)


def test_each_layer_imports_only_what_is_below_it() -> None:
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(REPO).as_posix()
        part = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        forbidden = FORBIDDEN.get(part, set())
        for module in _runtime_imports(ast.parse(path.read_text(encoding="utf-8"))):
            target = module.split(".")[1]
            if target in forbidden and (relative, module) not in ALLOWED:
                wrong.append(f"{relative} imports {module}")
    assert wrong == []


def test_the_exceptions_are_still_needed() -> None:
    # An exception no file uses any more must go, or the list stops meaning anything.
    used = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(REPO).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        used.update((relative, m) for m in _runtime_imports(tree) if (relative, m) in ALLOWED)
    assert used == ALLOWED


def test_the_checker_skips_type_checking_imports() -> None:
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "from workflow.store.sql import SqlStore\n"
        "if TYPE_CHECKING:\n    from workflow.app import Engine\n"
    )
    assert list(_runtime_imports(tree)) == ["workflow.store.sql"]
