"""Importing directory files into the register: all of them, or nothing.

:func:`import_directory` reads every file (CSV, Excel, the YAML form),
judges every cell, then checks duplicates and references across all of them
(and, in a merge, against the register), and writes only if nothing at all
is wrong, in one transaction. Otherwise it raises
:class:`~workflow.errors.DirectoryImportError` listing every problem, and the
register is untouched.

Two modes:

* merge (the default): each entry in the files replaces the entry with its
  id (its fields and the links its row owns); entries the files do not name
  stay. Nothing is ever deleted.
* replace: the register becomes exactly the files' entries.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Connection, Engine

from workflow.directory.files import read_sheets
from workflow.directory.parse import Entry, Parsed, parse_sheet
from workflow.directory.records import KINDS, Register
from workflow.directory.store import existing_entries, tables_for, write_entries
from workflow.directory.validate import check_entries
from workflow.directory.yamlform import read_yaml_form
from workflow.errors import DirectoryImportError, ImportProblem
from workflow.store.schema import DEFAULT_PREFIX

__all__ = ["ImportReport", "import_directory", "import_register", "read_directory_files"]

_YAML = (".yaml", ".yml")


@dataclass(frozen=True)
class ImportReport:
    """What an import wrote."""

    replaced: bool
    """True: the register was replaced; False: the entries were merged into it."""
    counts: Mapping[str, int]
    """Entries written, per kind (districts, units, enterprises, people)."""


def read_directory_files(paths: Iterable[str | os.PathLike[str]]) -> list[Parsed]:
    """Read and judge every file; raise :class:`DirectoryImportError` with every problem."""
    entries, problems = _read(paths)
    if problems:
        raise DirectoryImportError(_in_reading_order(problems))
    return entries


def _in_reading_order(problems: Iterable[ImportProblem]) -> list[ImportProblem]:
    """Each row's problems together, rows in order (a stable sort keeps columns in order)."""
    return sorted(problems, key=lambda p: (p.file, p.sheet, p.row))


def _read(paths: Iterable[str | os.PathLike[str]]) -> tuple[list[Parsed], list[ImportProblem]]:
    entries: list[Parsed] = []
    problems: list[ImportProblem] = []
    for path in paths:
        file = os.fspath(path)
        if not Path(file).is_file():
            problems.append(ImportProblem(file, 0, "", "no such file"))
            continue
        if Path(file).suffix.casefold() in _YAML:
            found, trouble = read_yaml_form(file)
            entries.extend(found)
            problems.extend(trouble)
            continue
        sheets, trouble = read_sheets(file)
        problems.extend(trouble)
        for sheet in sheets:
            found, trouble = parse_sheet(sheet)
            entries.extend(found)
            problems.extend(trouble)
    return entries, problems


def import_directory(
    bind: Engine | Connection,
    paths: Sequence[str | os.PathLike[str]],
    *,
    replace: bool = False,
    prefix: str = DEFAULT_PREFIX,
) -> ImportReport:
    """Import directory files into the register (see the module docstring for the rules).

    With an :class:`~sqlalchemy.Engine`, the import commits in its own
    transaction; with a :class:`~sqlalchemy.Connection`, it runs in the
    caller's, which commits or rolls back. Raises
    :class:`~workflow.errors.DirectoryImportError` (nothing written).
    """
    if not paths:
        raise DirectoryImportError([ImportProblem("", 0, "", "no files given")])
    entries, problems = _read(paths)
    return _write(bind, entries, problems, replace=replace, prefix=prefix)


def import_register(
    bind: Engine | Connection,
    register: Register,
    *,
    replace: bool = False,
    prefix: str = DEFAULT_PREFIX,
) -> ImportReport:
    """Import a register built in memory (e.g. by :mod:`workflow.directory.generate`).

    Checked like files: problems name the kind as the file and the entry's
    1-based position as the row.
    """
    entries = [
        Parsed(kind, entry, f"<{kind}>", "", position, _references(kind, entry))
        for kind in KINDS
        for position, entry in enumerate(getattr(register, kind), start=1)
    ]
    return _write(bind, entries, [], replace=replace, prefix=prefix)


def _references(kind: str, entry: Entry) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
    found = [(relation, "people", people) for relation, people in entry.links.items()]
    district = getattr(entry, "district", None)
    if kind == "enterprises" and district:
        found.append(("district", "districts", (district,)))
    return tuple(found)


def _write(
    bind: Engine | Connection,
    entries: Sequence[Parsed],
    problems: Sequence[ImportProblem],
    *,
    replace: bool,
    prefix: str,
) -> ImportReport:
    t = tables_for(prefix)
    context: AbstractContextManager[Connection] = (
        bind.begin() if isinstance(bind, Engine) else nullcontext(bind)
    )
    with context as conn:
        existing = None if replace else existing_entries(conn, t)
        every = _in_reading_order([*problems, *check_entries(entries, existing)])
        if every:
            raise DirectoryImportError(every)
        by_kind: dict[str, list[Entry]] = {kind: [] for kind in KINDS}
        for item in entries:
            by_kind[item.kind].append(item.entry)
        write_entries(conn, t, by_kind, replace=replace)
    return ImportReport(replaced=replace, counts={k: len(v) for k, v in by_kind.items()})
