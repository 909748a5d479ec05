"""Laying a report out: terminal table, Markdown, CSV, Excel and HTML, on a report made by hand."""

from __future__ import annotations

import csv
import datetime as dt
import io
from html.parser import HTMLParser

import openpyxl

from workflow.reports import render_report
from workflow.reports.model import Chart, Column, Report, Section, Text

DUE = dt.datetime(2026, 11, 25, 9, 30, tzinfo=dt.UTC)  # 17:30 in Shanghai

REPORT = Report(
    name="circular",
    title=Text("通報", "Circular"),
    period="2026-11",
    workflow_id="enterprise_issue",
    as_of=dt.datetime(2026, 11, 30, 16, 0, tzinfo=dt.UTC),
    timezone="Asia/Shanghai",
    lang="en",
    grouping="district",
    sections=(
        Section(
            key="groups",
            title=Text("按區", "By district"),
            columns=(
                Column("rank", Text("排名", "Rank"), "int"),
                Column("group", Text("區", "District")),
                Column("closed", Text("辦結", "Closed"), "int"),
                Column("rate", Text("按時辦結率", "On-time rate"), "percent"),
                Column("median", Text("中位數", "Median (wd)"), "float"),
                Column("change", Text("名次變化", "Rank change"), "change"),
                Column("raised", Text("提出日期", "Raised"), "date"),
                Column("due", Text("時限", "Due"), "datetime"),
            ),
            rows=(
                (1, "江漢區 <b>", 2, 1.0, 8.0, 1, dt.date(2026, 11, 2), DUE),
                (2, "d_wuchang", 1, 0.0, 18.0, -1, dt.date(2026, 11, 3), None),
                (None, "Total", 3, 2 / 3, 11.0, None, None, None),
            ),
            chart=Chart(Text("按時辦結率", "On-time rate"), label="group", value="rate"),
            notes=(Text("說明", "A note | with a bar"),),
        ),
        Section(
            key="empty",
            title=Text("空", "Nothing here"),
            columns=(Column("item", Text("編號", "Item"), "int"),),
            rows=(),
        ),
    ),
)


def test_the_terminal_table_aligns_columns_and_shows_each_kind() -> None:
    text = render_report(REPORT, "table").decode()
    lines = text.splitlines()
    assert lines[0] == "Circular"
    assert lines[1] == "Period: 2026-11; as of 2026-12-01 00:00 (Asia/Shanghai); by district"
    row = next(line for line in lines if line.startswith("1 "))
    assert row.split("  ")[0:1] == ["1"]
    for shown in ("100.0%", "8.0", "+1", "2026-11-02", "2026-11-25 17:30"):
        assert shown in row
    total = next(line for line in lines if "Total" in line)
    assert "66.7%" in total
    assert total.startswith("—")
    assert "Nothing here" in lines
    assert "(none)" in lines


def test_markdown_escapes_bars_and_right_aligns_numbers() -> None:
    text = render_report(REPORT, "markdown").decode()
    assert text.startswith("# Circular\n")
    assert "| Rank | District | Closed | On-time rate |" in text
    assert "|---:|---|---:|---:|---:|---:|---|---|" in text
    assert "- A note \\| with a bar" in text
    assert "_(none)_" in text


def test_csv_has_one_table_per_section_with_empty_cells_for_nothing() -> None:
    text = render_report(REPORT, "csv").decode()
    first, second = text.split("\n\n")
    table = list(csv.reader(io.StringIO(first)))
    assert table[0] == ["By district"]
    assert table[1][:4] == ["Rank", "District", "Closed", "On-time rate"]
    assert table[3] == ["2", "d_wuchang", "1", "0.0%", "18.0", "-1", "2026-11-03", ""]
    assert table[4][0] == ""
    assert table[4][3] == "66.7%"
    assert list(csv.reader(io.StringIO(second))) == [["Nothing here"], ["Item"]]


def test_the_workbook_keeps_numbers_dates_and_percentages_typed() -> None:
    book = openpyxl.load_workbook(io.BytesIO(render_report(REPORT, "xlsx")))
    assert book.sheetnames == ["By district", "Nothing here"]
    sheet = book["By district"]
    assert [c.value for c in sheet[1]][:3] == ["Rank", "District", "Closed"]
    assert all(c.font.bold for c in sheet[1])
    assert sheet.freeze_panes == "A2"
    rank, group, closed, rate, median, change, raised, due = (c for c in sheet[2])
    assert (rank.value, closed.value, rank.number_format) == (1, 2, "0")
    assert group.value == "江漢區 <b>"
    assert (rate.value, rate.number_format) == (1.0, "0.0%")
    assert (median.value, median.number_format) == (8.0, "0.0")
    assert (change.value, change.number_format) == (1, "+0;-0;0")
    # openpyxl reads dates back as datetimes at midnight; the format says it is a date.
    assert (raised.value, raised.number_format) == (dt.datetime(2026, 11, 2), "yyyy-mm-dd")
    assert raised.is_date
    assert due.is_date
    assert due.value == dt.datetime(2026, 11, 25, 17, 30)  # local time of the calendar
    assert sheet.cell(row=4, column=1).value is None
    assert sheet.cell(row=3, column=8).value is None
    # Widths follow the content (the CJK name counts double), within bounds.
    assert sheet.column_dimensions["B"].width == len("江漢區 <b>") + 3 + 2
    assert 6 <= sheet.column_dimensions["A"].width <= 60
    # Under a blank row: what the sheet is, then the notes.
    assert sheet.cell(row=5, column=1).value is None
    assert str(sheet.cell(row=6, column=1).value).startswith("Circular · Period: 2026-11")
    assert sheet.cell(row=7, column=1).value == "A note | with a bar"


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.cells: list[str] = []
        self.rects: list[dict[str, str | None]] = []
        self.scripts = 0
        self._in_cell = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self._in_cell = tag == "td"
        if tag == "rect":
            self.rects.append(dict(attrs))
        self.scripts += tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_cell = False

    def handle_data(self, data: str) -> None:
        if self._in_cell:
            self.cells.append(data)


def test_the_html_page_has_the_tables_escaped_names_and_an_svg_bar_per_ranked_row() -> None:
    page_text = render_report(REPORT, "html").decode()
    page = _Page()
    page.feed(page_text)
    assert page.scripts == 0
    assert "svg" in page.tags
    assert page.tags.count("table") == 1
    assert "江漢區 &lt;b&gt;" in page_text
    assert "<b>" not in page_text.split("<body>")[1]
    assert page.cells[:4] == ["1", "江漢區 <b>", "2", "100.0%"]
    # Two ranked rows get bars (the total row does not); the largest fills the bar space.
    widths = [float(rect["width"] or 0) for rect in page.rects]
    assert widths == [360.0, 0.0]
    assert "(none)" in page_text
