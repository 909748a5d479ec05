"""Checks across all the entries of one import: duplicates and references.

Each file's cells were judged when read (:mod:`.parse`); what needs every
file at once is checked here. In a merge, references may also point at
entries already in the register (``existing``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from workflow.directory.parse import Parsed
from workflow.directory.records import Enterprise
from workflow.errors import ImportProblem

__all__ = ["Existing", "check_entries"]


@dataclass(frozen=True)
class Existing:
    """What the register already holds that a merge may refer to."""

    ids: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Kind to the ids of that kind."""
    credit_codes: Mapping[str, str] = field(default_factory=dict)
    """Credit code to the enterprise holding it."""


def check_entries(
    entries: Sequence[Parsed], existing: Existing | None = None
) -> list[ImportProblem]:
    """Return every duplicate id, duplicate credit code and unresolved reference."""
    before = existing or Existing()
    problems: list[ImportProblem] = []
    first: dict[tuple[str, str], Parsed] = {}
    for item in entries:
        key = (item.kind, item.entry.id)
        if not item.entry.id:
            continue  # already reported: the id is empty
        if key in first:
            problems.append(
                item.problem("id", f"duplicate id {item.entry.id!r} ({_at(first[key])})")
            )
        else:
            first[key] = item
    problems.extend(_credit_code_problems(entries, before))
    known = {
        kind: {i for k, i in first if k == kind} | set(before.ids.get(kind, ()))
        for kind in ("districts", "people")
    }
    for item in entries:
        for column, kind, ids in item.references:
            missing = [i for i in ids if i not in known[kind]]
            if missing:
                noun = "district" if kind == "districts" else "person"
                listed = ", ".join(repr(m) for m in missing)
                problems.append(
                    item.problem(
                        column, f"unknown {noun} {listed} (not in the {kind} of the register)"
                    )
                )
    return problems


def _credit_code_problems(entries: Iterable[Parsed], before: Existing) -> list[ImportProblem]:
    importing = {item.entry.id for item in entries if item.kind == "enterprises"}
    # Codes that stay: those of enterprises this import does not replace.
    holders: dict[str, str] = {
        code: holder for code, holder in before.credit_codes.items() if holder not in importing
    }
    where: dict[str, Parsed] = {}
    problems: list[ImportProblem] = []
    for item in entries:
        entry = item.entry
        if not isinstance(entry, Enterprise) or entry.credit_code is None:
            continue
        code = entry.credit_code
        if code in where and where[code].entry.id != entry.id:
            problems.append(
                item.problem(
                    "credit_code",
                    f"credit code {code} is also given to "
                    f"{where[code].entry.id!r} ({_at(where[code])})",
                )
            )
        elif code in holders and holders[code] != entry.id:
            problems.append(
                item.problem(
                    "credit_code",
                    f"credit code {code} already belongs to {holders[code]!r} in the register",
                )
            )
        where.setdefault(code, item)
    return problems


def _at(item: Parsed) -> str:
    place = item.file + (f" [{item.sheet}]" if item.sheet else "")
    return f"first at {place}, row {item.row}" if item.row else f"first in {place}"
