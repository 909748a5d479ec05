"""Reports as Excel workbooks (``.xlsx``, through openpyxl): one sheet per section.

Cells keep their types: counts are integers, medians numbers with one
decimal, rates numbers with a percent format (0.25 shows as 25.0%), dates
are dates and times are local times (Excel has no time zones: they are
written in the calendar's zone, which the sheet's first line names). The
header row is bold and frozen, and each column is as wide as its longest
content (CJK characters count double), within bounds.
"""

from __future__ import annotations

import datetime as dt
import io
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from workflow.reports.model import Cell, Column, Report
from workflow.reports.names import Lang
from workflow.reports.text import cell_text, heading
from workflow.textlayout import display_width

__all__ = ["NUMBER_FORMATS", "to_xlsx"]

NUMBER_FORMATS = {
    "int": "0",
    "float": "0.0",
    "percent": "0.0%",
    "change": "+0;-0;0",
    "date": "yyyy-mm-dd",
    "datetime": "yyyy-mm-dd hh:mm",
}
_MIN_WIDTH, _MAX_WIDTH = 6, 60
# Excel forbids these in sheet names, and caps names at 31 characters.
_SHEET_FORBIDDEN = str.maketrans({c: " " for c in "[]:*?/\\"})


def _value(value: Cell, column: Column, zone: dt.tzinfo) -> Cell:
    if isinstance(value, dt.datetime):
        return value.astimezone(zone).replace(tzinfo=None)
    if column.kind in ("int", "change") and isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def to_xlsx(report: Report, lang: Lang) -> bytes:
    """Render the report as an ``.xlsx`` workbook and return its bytes."""
    zone = ZoneInfo(report.timezone)
    book = Workbook()
    first = book.active
    if first is not None:
        book.remove(first)
    bold = Font(bold=True)
    title, facts = heading(report, lang)
    for section in report.sections:
        sheet = book.create_sheet(section.title.get(lang).translate(_SHEET_FORBIDDEN)[:31])
        sheet.append([c.title.get(lang) for c in section.columns])
        for cell in sheet[1]:
            cell.font = bold
        sheet.freeze_panes = "A2"
        widths = [display_width(c.title.get(lang)) for c in section.columns]
        for row in section.rows:
            sheet.append([_value(v, c, zone) for v, c in zip(row, section.columns, strict=True)])
            for index, (value, column) in enumerate(zip(row, section.columns, strict=True)):
                widths[index] = max(widths[index], display_width(cell_text(value, column, zone)))
        for index, column in enumerate(section.columns, start=1):
            fmt = NUMBER_FORMATS.get(column.kind)
            if fmt is not None:
                for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
                    cell.number_format = fmt
            width = min(_MAX_WIDTH, max(_MIN_WIDTH, widths[index - 1] + 2))
            sheet.column_dimensions[get_column_letter(index)].width = width
        last = len(section.rows) + 3
        sheet.cell(row=last, column=1, value=f"{title} · {facts}")
        for offset, note in enumerate(section.notes, start=1):
            sheet.cell(row=last + offset, column=1, value=note.get(lang))
    book.properties.title = f"{title} {report.period}"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
