"""Reports as a printable HTML page: Jinja2 templates shipped in this package.

These are the package's own templates (not an author's), rendered by one
ordinary autoescaping Environment. Charts are inline SVG bars computed here
(no JavaScript): one horizontal bar per row of a section that declares a
chart, scaled to the largest value; rows without a value get no bar.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import cache
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from workflow.reports.model import Report, Section
from workflow.reports.names import Lang
from workflow.reports.text import cell_text, heading
from workflow.textlayout import display_width

__all__ = ["Bar", "BarChart", "bar_chart", "to_html"]

_BAR_HEIGHT, _GAP, _LABEL_PX_PER_COLUMN, _BAR_SPACE = 18, 6, 7, 360


@dataclass(frozen=True)
class Bar:
    """One bar: its label, the value as shown, and its geometry in the SVG."""

    label: str
    text: str
    y: int
    width: float


@dataclass(frozen=True)
class BarChart:
    """An SVG bar chart's title, size and bars."""

    title: str
    width: int
    height: int
    label_width: int
    bar_height: int
    bars: tuple[Bar, ...]


def bar_chart(section: Section, lang: Lang, zone: dt.tzinfo) -> BarChart | None:
    """Lay out the section's chart (None if it has none or no row has a value)."""
    chart = section.chart
    if chart is None:
        return None
    label_at, value_at = section.column(chart.label), section.column(chart.value)
    column = section.columns[value_at]
    points = [
        (str(row[label_at]), value, cell_text(value, column, zone))
        for row in section.rows
        if row[0] is not None or section.columns[0].key != "rank"  # no bar for the total
        for value in (row[value_at],)
        if isinstance(value, int | float)
    ]
    if not points:
        return None
    top = max(*(value for _, value, _ in points), 1e-9)
    label_width = max(display_width(label) for label, _, _ in points) * _LABEL_PX_PER_COLUMN + 12
    bars = tuple(
        Bar(label, text, index * (_BAR_HEIGHT + _GAP), round(_BAR_SPACE * max(value, 0) / top, 1))
        for index, (label, value, text) in enumerate(points)
    )
    return BarChart(
        title=chart.title.get(lang),
        width=label_width + _BAR_SPACE + 80,
        height=len(bars) * (_BAR_HEIGHT + _GAP),
        label_width=label_width,
        bar_height=_BAR_HEIGHT,
        bars=bars,
    )


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("workflow.reports", "templates"),
        autoescape=select_autoescape(enabled_extensions=("j2", "html"), default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def to_html(report: Report, lang: Lang) -> str:
    """Render the report as a standalone, printable HTML page."""
    zone = ZoneInfo(report.timezone)
    title, facts = heading(report, lang)
    numeric = ("int", "float", "percent", "change")
    sections = [
        {
            "title": section.title.get(lang),
            "headers": [c.title.get(lang) for c in section.columns],
            "numeric": [c.kind in numeric for c in section.columns],
            "rows": [
                [cell_text(v, c, zone) for v, c in zip(row, section.columns, strict=True)]
                for row in section.rows
            ],
            "notes": [note.get(lang) for note in section.notes],
            "chart": bar_chart(section, lang, zone),
        }
        for section in report.sections
    ]
    template = _environment().get_template("report.html.j2")
    return template.render(
        lang="zh-Hans" if lang == "zh" else "en",
        title=title,
        facts=facts,
        sections=sections,
        empty="(無)" if lang == "zh" else "(none)",
    )
