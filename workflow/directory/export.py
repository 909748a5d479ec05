"""Writing the register out: one CSV file per kind, or one Excel workbook with a sheet per kind.

The files have exactly the columns :mod:`.parse` reads, so an export imports
back unchanged. CSV files are UTF-8 with a byte-order mark (Excel then opens
the Chinese correctly); workbook cells are all text, so that credit codes and
mobile numbers never turn into numbers.
"""

from __future__ import annotations

import csv
import os
import unicodedata
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import Connection, Engine

from workflow.directory.parse import ADDRESS, COLUMNS, RELATED, Entry
from workflow.directory.records import KINDS, Enterprise, Person, Register
from workflow.directory.store import load_register, tables_for
from workflow.errors import WorkflowError
from workflow.store.schema import DEFAULT_PREFIX

__all__ = ["export_directory", "register_rows", "write_csv", "write_xlsx"]

FORMATS = ("csv", "xlsx")

# Relations with a column of their own, by kind.
_OWN_COLUMN = {
    "districts": {"members": "contacts"},
    "units": {"members": "contacts"},
    "enterprises": {"members": "contacts", "commissioners": "commissioners"},
    "people": {"members": "delegates"},
}
_MAX_WIDTH = 60


def register_rows(register: Register) -> dict[str, tuple[list[str], list[list[str]]]]:
    """Return each kind's header and rows of text, as the files hold them."""
    tables: dict[str, tuple[list[str], list[list[str]]]] = {}
    for kind in KINDS:
        entries: Sequence[Entry] = getattr(register, kind)
        own = _OWN_COLUMN[kind]
        relations = sorted({r for e in entries for r in e.links if r not in own})
        channels = sorted({c for e in entries if isinstance(e, Person) for c in e.addresses})
        header = [
            *COLUMNS[kind],
            *(ADDRESS + c for c in channels),
            *(RELATED + r for r in relations),
        ]
        rows = [_cells(kind, e, header) for e in entries]
        tables[kind] = (header, rows)
    return tables


def _cells(kind: str, entry: Entry, header: Sequence[str]) -> list[str]:
    values: dict[str, str] = {"id": entry.id}
    for relation, column in _OWN_COLUMN[kind].items():
        values[column] = "; ".join(entry.links.get(relation, ()))
    for relation, people in entry.links.items():
        values.setdefault(RELATED + relation, "; ".join(people))
    if isinstance(entry, Person):
        values.update(
            name=entry.name,
            locale=entry.locale or "",
            groups="; ".join(entry.groups),
            digest="" if entry.digest is None else str(entry.digest).lower(),
        )
        values.update({ADDRESS + c: a for c, a in entry.addresses.items()})
    else:
        values.update(name_zh=entry.name_zh, name_en=entry.name_en)
    if isinstance(entry, Enterprise):
        values.update(
            credit_code=entry.credit_code or "",
            sector=entry.sector or "",
            district=entry.district or "",
        )
    return [values.get(column, "") for column in header]


def write_csv(register: Register, folder: str | os.PathLike[str]) -> list[Path]:
    """Write ``<kind>.csv`` for each kind into ``folder`` (created if missing)."""
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for kind, (header, rows) in register_rows(register).items():
        path = target / f"{kind}.csv"
        with path.open("w", encoding="utf-8-sig", newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow(header)
            writer.writerows(rows)
        written.append(path)
    return written


def write_xlsx(register: Register, file: str | os.PathLike[str]) -> Path:
    """Write one workbook with a sheet per kind: text cells, bold frozen header, fitted widths."""
    from openpyxl import Workbook  # noqa: PLC0415 - only workbook users load openpyxl
    from openpyxl.styles import Font  # noqa: PLC0415
    from openpyxl.utils import get_column_letter  # noqa: PLC0415

    workbook = Workbook()
    first = workbook.active
    if first is not None:
        workbook.remove(first)
    bold = Font(bold=True)
    for kind, (header, rows) in register_rows(register).items():
        sheet = workbook.create_sheet(kind)
        sheet.append(header)
        for row in rows:
            sheet.append(row)
        for cell in sheet[1]:
            cell.font = bold
        sheet.freeze_panes = "A2"
        for cells in sheet.iter_rows(min_row=2):
            for cell in cells:
                cell.number_format = "@"
        for index, column in enumerate(header, start=1):
            widest = max([_width(column), *(_width(r[index - 1]) for r in rows)])
            sheet.column_dimensions[get_column_letter(index)].width = min(widest + 2, _MAX_WIDTH)
    path = Path(file)
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook.save(path)
    return path


def _width(text: str) -> int:
    # Chinese characters take two columns of a fixed-width cell.
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def export_directory(
    bind: Engine | Connection,
    path: str | os.PathLike[str],
    *,
    format: str = "csv",
    prefix: str = DEFAULT_PREFIX,
) -> list[Path]:
    """Export the register: ``csv`` into the folder ``path``, ``xlsx`` as the workbook ``path``."""
    if format not in FORMATS:
        raise WorkflowError(f"unknown export format {format!r} (expected csv or xlsx)")
    if isinstance(bind, Engine):
        with bind.connect() as conn:
            register = load_register(conn, tables_for(prefix))
    else:
        register = load_register(bind, tables_for(prefix))
    if format == "xlsx":
        return [write_xlsx(register, path)]
    return write_csv(register, path)
