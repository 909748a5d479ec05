"""What running scenarios produces: failures with positions, results, and traces for coverage."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from workflow.definition.compiled import Definition
from workflow.errors import Problem

__all__ = ["Failure", "RunResults", "ScenarioResult", "Trace", "show"]


def show(value: Any) -> str:
    """Show a value the way a scenario file would write it (strings quoted)."""
    if isinstance(value, str):
        return repr(value)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True)
class Failure:
    """One expectation that did not hold (or a step that could not run), at its position."""

    file: str
    line: int
    column: int
    scenario: str
    step: str
    """``start`` or ``step N`` (1-based)."""
    message: str
    """What was expected and what was found, e.g. ``expected state 'a', got 'b'``."""
    expected: Any = None
    actual: Any = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return f"{where}: scenario {self.scenario}, {self.step}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        """Return the failure as JSON-ready data."""
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "scenario": self.scenario,
            "step": self.step,
            "message": self.message,
            "expected": _plain(self.expected),
            "actual": _plain(self.actual),
        }


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return str(value)


@dataclass
class Trace:
    """What one scenario exercised, for coverage."""

    states: set[str] = field(default_factory=set)
    events: set[str] = field(default_factory=set)
    levels: set[str] = field(default_factory=set)
    """Ladder levels fired, as ``level`` (the workflow's ladder) or ``state/level``."""
    guards_true: set[tuple[str, str]] = field(default_factory=set)
    guards_false: set[tuple[str, str]] = field(default_factory=set)
    refusals: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class ScenarioResult:
    """The outcome of one scenario."""

    file: str
    workflow: str
    name: str
    failures: tuple[Failure, ...]
    seconds: float
    trace: Trace = field(compare=False, repr=False, default_factory=Trace)

    @property
    def passed(self) -> bool:
        """Whether every expectation held."""
        return not self.failures


@dataclass(frozen=True)
class RunResults:
    """Everything a run of scenario files produced.

    ``problems`` are files that could not be run at all (unreadable,
    invalid, naming an unknown workflow); ``definitions`` are the workflows
    the scenarios ran against (the ones coverage is reported for).
    """

    results: tuple[ScenarioResult, ...]
    problems: tuple[Problem, ...] = ()
    definitions: dict[str, Definition] = field(default_factory=dict, compare=False)
    files: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        """Whether every scenario passed and every file could be read."""
        return not self.problems and all(r.passed for r in self.results)

    @property
    def failed(self) -> tuple[ScenarioResult, ...]:
        """The scenarios that failed."""
        return tuple(r for r in self.results if not r.passed)
