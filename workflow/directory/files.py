"""Reading directory files: CSV, Excel workbooks, and the YAML form, as raw rows.

A CSV file holds one kind of entry, named by the file (``enterprises.csv``,
``2026-people.csv``); a workbook holds one sheet per kind, named by the
sheet. Cells come back as text exactly as an office would read them (an
integer-valued number is written without ``.0``, so a mobile number typed as
a number survives). Nothing here judges the content; :mod:`.parse` does.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workflow.directory.records import KINDS
from workflow.errors import ImportProblem

__all__ = ["Sheet", "kind_of", "read_sheets"]

# What a file or sheet name may say for each kind (singular, plural, Chinese).
_KIND_NAMES = {
    "districts": ("districts", "district", "區", "区"),
    "units": ("units", "unit", "單位", "单位"),
    "enterprises": ("enterprises", "enterprise", "企業", "企业"),
    "people": ("people", "person", "persons", "人員", "人员"),
}
_SEPARATORS = ("-", "_", ".", " ")
# Excel saves "CSV UTF-8" with a byte-order mark and plain "CSV" in the
# system's code page, which for Chinese Windows is GBK (a subset of GB 18030).
_ENCODINGS = ("utf-8-sig", "gb18030")


@dataclass(frozen=True)
class Sheet:
    """The rows of one kind of entry from one file (or one sheet of a workbook)."""

    file: str
    sheet: str
    kind: str
    header: tuple[str, ...]
    rows: tuple[tuple[int, tuple[str, ...]], ...]
    """(row number as a spreadsheet counts it, cells); empty rows are left out."""


def kind_of(name: str) -> str | None:
    """Return the kind a file stem or sheet name stands for, or None."""
    lowered = name.strip().casefold()
    for kind, names in _KIND_NAMES.items():
        for candidate in names:
            if lowered == candidate or any(
                lowered.endswith(sep + candidate) for sep in _SEPARATORS
            ):
                return kind
    return None


def read_sheets(path: str | os.PathLike[str]) -> tuple[list[Sheet], list[ImportProblem]]:
    """Read a ``.csv`` or ``.xlsx`` file into sheets, or say why it cannot be read."""
    file = os.fspath(path)
    suffix = Path(file).suffix.casefold()
    if suffix == ".csv":
        return _read_csv(file)
    if suffix in (".xlsx", ".xlsm"):
        return _read_xlsx(file)
    return [], [
        ImportProblem(
            file, 0, "", "not a directory file: expected .csv, .xlsx or the YAML form (.yaml)"
        )
    ]


def _read_csv(file: str) -> tuple[list[Sheet], list[ImportProblem]]:
    kind = kind_of(Path(file).stem)
    if kind is None:
        return [], [_unnamed(file, "file")]
    try:
        data = Path(file).read_bytes()
    except OSError as error:
        return [], [ImportProblem(file, 0, "", f"cannot read the file: {error.strerror}")]
    for encoding in _ENCODINGS:
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        return [], [ImportProblem(file, 0, "", "the file is neither UTF-8 nor GB 18030 text")]
    try:
        lines = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as error:
        return [], [ImportProblem(file, 0, "", f"not valid CSV: {error}")]
    return [_sheet(file, "", kind, lines)], []


def _read_xlsx(file: str) -> tuple[list[Sheet], list[ImportProblem]]:
    # Imported here: only workbook users pay for loading openpyxl.
    from openpyxl import load_workbook  # noqa: PLC0415
    from openpyxl.utils.exceptions import InvalidFileException  # noqa: PLC0415

    try:
        workbook = load_workbook(file, read_only=True, data_only=True)
    except (OSError, InvalidFileException, KeyError, ValueError) as error:
        return [], [ImportProblem(file, 0, "", f"not a readable Excel workbook: {error}")]
    sheets: list[Sheet] = []
    problems: list[ImportProblem] = []
    try:
        for worksheet in workbook.worksheets:
            kind = kind_of(worksheet.title)
            if kind is None:
                problems.append(_unnamed(file, "sheet", worksheet.title))
                continue
            lines = ([_cell_text(v) for v in row] for row in worksheet.iter_rows(values_only=True))
            sheets.append(_sheet(file, worksheet.title, kind, lines))
    finally:
        workbook.close()
    return sheets, problems


def _sheet(file: str, sheet: str, kind: str, lines: Iterable[Sequence[str]]) -> Sheet:
    header: tuple[str, ...] = ()
    rows: list[tuple[int, tuple[str, ...]]] = []
    for number, cells in enumerate(lines, start=1):
        trimmed = [c.strip() for c in cells]
        if number == 1:
            header = tuple(c.casefold() for c in trimmed)
            continue
        if any(trimmed):
            rows.append((number, tuple(trimmed)))
    return Sheet(file, sheet, kind, _without_trailing_blanks(header), tuple(rows))


def _without_trailing_blanks(header: tuple[str, ...]) -> tuple[str, ...]:
    # Spreadsheets report formatted but empty columns after the last header.
    end = len(header)
    while end and not header[end - 1]:
        end -= 1
    return header[:end]


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)


def _unnamed(file: str, what: str, sheet: str = "") -> ImportProblem:
    names = ", ".join(KINDS)
    return ImportProblem(
        file,
        0,
        "",
        f"cannot tell which kind of entry this {what} holds: name it after one of {names}",
        sheet,
    )
