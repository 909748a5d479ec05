"""What a report is once computed: sections of typed columns, ready for any format.

The report modules compute a :class:`Report`; the format modules (terminal
table, Markdown, CSV, Excel, HTML) only lay it out. Cells keep their types
(numbers, ratios, dates, aware datetimes) so that Excel gets numbers and
dates, not text; each column says how to show its cells.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from workflow.reports.names import Lang

__all__ = ["Cell", "Chart", "Column", "ColumnKind", "Report", "Section", "Text"]

ColumnKind = Literal["text", "int", "float", "percent", "date", "datetime", "change"]
"""How a column's cells are shown: ``percent`` cells are ratios (0.25 is 25%), ``change``
cells are signed integers (a rank moved up by 2 is +2), ``datetime`` cells are aware."""

Cell = str | int | float | dt.date | dt.datetime | None
"""A cell's value; None is an empty cell (shown as '—')."""


@dataclass(frozen=True)
class Text:
    """A heading in both languages."""

    zh: str
    en: str

    def get(self, lang: Lang) -> str:
        """Return the text in ``lang``."""
        return self.zh if lang == "zh" else self.en


@dataclass(frozen=True)
class Column:
    """One column: a key for machines, headings for people, and a kind."""

    key: str
    title: Text
    kind: ColumnKind = "text"


@dataclass(frozen=True)
class Chart:
    """A bar chart of one section: one bar per row, labelled by one column."""

    title: Text
    label: str
    """The key of the column that names each bar."""
    value: str
    """The key of the (numeric or percent) column the bars measure."""


@dataclass(frozen=True)
class Section:
    """One table of a report (a report has one or several)."""

    key: str
    title: Text
    columns: tuple[Column, ...]
    rows: tuple[tuple[Cell, ...], ...]
    chart: Chart | None = None
    notes: tuple[Text, ...] = ()
    """Definitions of the section's figures, shown under the table."""

    def column(self, key: str) -> int:
        """Return the position of the column ``key``."""
        for index, column in enumerate(self.columns):
            if column.key == key:
                return index
        raise KeyError(key)


@dataclass(frozen=True)
class Report:
    """A computed report: what it is, for which period and grouping, and its sections."""

    name: str
    """The report's name (``problem-list``, ``dispatch-sheet``, ``circular``, ``assessment``)."""
    title: Text
    period: str
    workflow_id: str
    as_of: dt.datetime
    """The moment the figures describe (the period's end, or now if the period is running)."""
    timezone: str
    """The calendar's zone: dates and times are shown in it."""
    sections: tuple[Section, ...]
    lang: Lang = "zh"
    """The language of the names in the cells (and of the headings when rendered)."""
    grouping: str | None = None

    def section(self, key: str) -> Section:
        """Return the section ``key``."""
        for section in self.sections:
            if section.key == key:
                return section
        raise KeyError(key)
