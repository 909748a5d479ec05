"""Reports as text: an aligned terminal table, Markdown, and CSV.

Cells are shown the same way in all three: percentages with one decimal
(``66.7%``), working-day medians with one decimal, dates and times in the
calendar's zone, signed changes with their sign, and '—' for an empty cell
(empty in CSV). CSV keeps a report's sections one after another, each under
a line with its title and separated by an empty line; the figures are the
displayed ones, ratios as percentages.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from zoneinfo import ZoneInfo

from workflow.reports.model import Cell, Column, Report, Section, Text
from workflow.reports.names import Lang
from workflow.textlayout import table

__all__ = ["cell_text", "heading", "to_csv", "to_markdown", "to_table"]

EMPTY = "—"


def cell_text(value: Cell, column: Column, zone: dt.tzinfo) -> str:
    """Show one cell as people read it."""
    if value is None:
        return EMPTY
    kind = column.kind
    if kind == "percent" and isinstance(value, int | float):
        return f"{value * 100:.1f}%"
    if kind == "float" and isinstance(value, int | float):
        return f"{value:.1f}"
    if kind == "change" and isinstance(value, int | float):
        return f"{value:+d}" if isinstance(value, int) else f"{value:+.1f}"
    if isinstance(value, dt.datetime):
        return value.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    return " ".join(str(value).split())


def heading(report: Report, lang: Lang) -> list[str]:
    """Return the lines above a report: title, period, grouping and moment."""
    zone = ZoneInfo(report.timezone)
    moment = report.as_of.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    if lang == "zh":
        facts = [f"期間:{report.period}", f"截至:{moment}({report.timezone})"]
        if report.grouping:
            facts.append(f"分組:{report.grouping}")
    else:
        facts = [f"Period: {report.period}", f"as of {moment} ({report.timezone})"]
        if report.grouping:
            facts.append(f"by {report.grouping}")
    separator = ",".join if lang == "zh" else "; ".join
    return [report.title.get(lang), separator(facts)]


def _cells(section: Section, zone: dt.tzinfo) -> list[list[str]]:
    return [
        [cell_text(value, column, zone) for value, column in zip(row, section.columns, strict=True)]
        for row in section.rows
    ]


def _none(lang: Lang) -> str:
    return Text("(無)", "(none)").get(lang)


def to_table(report: Report, lang: Lang) -> str:
    """Render the report as aligned columns for a terminal (CJK characters take two columns)."""
    zone = ZoneInfo(report.timezone)
    lines = heading(report, lang)
    for section in report.sections:
        lines += ["", section.title.get(lang)]
        if not section.rows:
            lines.append(_none(lang))
            continue
        lines.append(table([c.title.get(lang) for c in section.columns], _cells(section, zone)))
    return "\n".join(lines) + "\n"


def to_markdown(report: Report, lang: Lang) -> str:
    """Render the report as Markdown: a heading, then a table and notes per section."""
    zone = ZoneInfo(report.timezone)
    title, facts = heading(report, lang)
    lines = [f"# {_md(title)}", "", _md(facts)]
    numeric = ("int", "float", "percent", "change")
    for section in report.sections:
        lines += ["", f"## {_md(section.title.get(lang))}", ""]
        if not section.rows:
            lines.append(f"_{_none(lang)}_")
            continue
        lines.append("| " + " | ".join(_md(c.title.get(lang)) for c in section.columns) + " |")
        rule = ["---:" if c.kind in numeric else "---" for c in section.columns]
        lines.append("|" + "|".join(rule) + "|")
        lines.extend("| " + " | ".join(_md(c) for c in row) + " |" for row in _cells(section, zone))
        if section.notes:
            lines.append("")
            lines.extend(f"- {_md(note.get(lang))}" for note in section.notes)
    return "\n".join(lines) + "\n"


def to_csv(report: Report, lang: Lang) -> str:
    """Render the report as CSV (sections one after another, each under its title)."""
    zone = ZoneInfo(report.timezone)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for number, section in enumerate(report.sections):
        if number:
            writer.writerow([])
        if len(report.sections) > 1:
            writer.writerow([section.title.get(lang)])
        writer.writerow([c.title.get(lang) for c in section.columns])
        for row in _cells(section, zone):
            writer.writerow(["" if cell == EMPTY else cell for cell in row])
    return out.getvalue()


def _md(text: str) -> str:
    return " ".join(text.split()).replace("\\", "\\\\").replace("|", "\\|")
