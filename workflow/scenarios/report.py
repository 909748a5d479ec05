"""Lay out a run's results: pytest-like text for people, JSON for machines."""

from __future__ import annotations

import json
from collections.abc import Sequence

from workflow.scenarios.coverage import Coverage
from workflow.scenarios.results import RunResults

__all__ = ["as_json", "as_text", "coverage_text"]


def _seconds(value: float) -> str:
    return f"{value:.2f}s"


def as_text(results: RunResults, elapsed: float) -> list[str]:
    """Return the report's lines: a line of ``.``/``F`` per file, failures, a summary."""
    lines: list[str] = []
    for file in results.files:
        marks = "".join("." if r.passed else "F" for r in results.results if r.file == file)
        if marks:
            lines.append(f"{file} {marks}")
    if results.problems:
        lines.append("")
        lines.append("== files that could not be run ==")
        lines.extend(str(problem) for problem in results.problems)
    failed = results.failed
    if failed:
        lines.append("")
        lines.append("== failures ==")
        for result in failed:
            lines.extend(str(failure) for failure in result.failures)
    passed = len(results.results) - len(failed)
    parts = [f"{passed} passed"]
    if failed:
        parts.append(f"{len(failed)} failed")
    if results.problems:
        parts.append(f"{len({p.file for p in results.problems})} file(s) with problems")
    slowest = max(results.results, key=lambda r: r.seconds, default=None)
    tail = f" in {_seconds(elapsed)}"
    if slowest is not None:
        mean = sum(r.seconds for r in results.results) / len(results.results)
        tail += (
            f" (per scenario: mean {_seconds(mean)}, slowest {_seconds(slowest.seconds)} "
            f"'{slowest.name}')"
        )
    lines.append("")
    lines.append(", ".join(parts) + tail)
    return lines


def coverage_text(found: Sequence[Coverage]) -> list[str]:
    """Return the coverage lines: per workflow, the share and what was missed."""
    lines = ["", "== coverage (states, events, ladder levels) =="]
    for item in found:
        lines.append(f"{item.workflow}: {item.covered}/{item.total} ({item.percent:.0f}%)")
        for label, missed in (
            ("states never reached", item.missed_states),
            ("events never fired", item.missed_events),
            ("ladder levels never fired", item.missed_levels),
            ("guards never seen false", item.guards_never_false),
            ("guards never seen true", item.guards_never_true),
            ("refusal kinds never exercised", item.missed_refusals),
        ):
            if missed:
                lines.append(f"  {label}: {', '.join(missed)}")
    return lines


def as_json(results: RunResults, elapsed: float, found: Sequence[Coverage] | None = None) -> str:
    """Return the whole run as one JSON document."""
    document = {
        "passed": results.passed,
        "seconds": round(elapsed, 3),
        "scenarios": [
            {
                "file": r.file,
                "workflow": r.workflow,
                "name": r.name,
                "passed": r.passed,
                "seconds": round(r.seconds, 4),
                "failures": [f.as_dict() for f in r.failures],
            }
            for r in results.results
        ],
        "problems": [
            {"file": p.file, "line": p.line, "column": p.column, "message": p.message}
            for p in results.problems
        ],
    }
    if found is not None:
        document["coverage"] = [item.as_dict() for item in found]
    return json.dumps(document, ensure_ascii=False, indent=2)
