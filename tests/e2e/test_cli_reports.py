"""`workflow report` through the command line, on the fixed history of the report tests.

The history (tests/integration/report_history.py) is made in-process in a
SQLite file; the commands then make each report at an explicit ``--now`` in
each format, and the files they write are opened as a reader would: the
workbook with openpyxl, the page with an HTML parser.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import openpyxl
import pytest

from tests.e2e.test_cli_items import assert_one_line_error, ok, run, run_all
from tests.integration.engine_fixtures import DIRECTORY, shipped_catalog
from tests.integration.report_history import START, Story, make_history
from workflow.app import Engine
from workflow.core.clock import ManualClock
from workflow.store.migrate import upgrade
from workflow.store.sql import create_database_engine

NOW = "2026-12-02T10:00"


@dataclass
class Db:
    """A SQLite file holding the fixed history."""

    url: str
    story: Story
    folder: Path

    def report(self, *args: str) -> tuple[str, ...]:
        return ("--db", self.url, "report", *args, "--now", NOW)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Db]:
    folder = tmp_path_factory.mktemp("reports")
    url = f"sqlite:///{folder / 'workflow.db'}"
    bind = create_database_engine(url)
    upgrade(bind)
    clock = ManualClock(START)
    engine = Engine.from_engine(
        bind, definitions=shipped_catalog(), directory=DIRECTORY, clock=clock
    )
    try:
        yield Db(url, make_history(engine, clock), folder)
    finally:
        engine.dispose()


def test_the_circular_as_csv_and_markdown_on_stdout(db: Db) -> None:
    as_csv, as_markdown = run_all(
        [
            db.report("circular", "--period", "2026-11", "--format", "csv"),
            db.report("circular", "--period", "2026-11", "--by", "unit", "--format", "markdown"),
        ]
    )
    table = list(csv.reader(io.StringIO(ok(as_csv))))
    assert table[0][:6] == [
        "Rank",
        "District",
        "Received",
        "Closed",
        "Closed on time",
        "On-time rate",
    ]
    jianghan, wuchang, total = table[1:]
    assert jianghan[:12] == [
        "1", "d_jianghan", "2", "2", "2", "100.0%", "2.0", "3", "8.0", "11", "50.0%", "66.7%",
    ]  # fmt: skip
    assert wuchang[:6] == ["2", "d_wuchang", "3", "1", "0", "0.0%"]
    assert total[:4] == ["", "Total", "5", "3"]
    text = ok(as_markdown)
    assert text.startswith("# District circular on serving enterprises\n")
    assert "Period: 2026-11; as of 2026-12-01 00:00 (Asia/Shanghai); by unit" in text
    assert "| 1 | u_culture | 3 | 2 | 2 | 100.0% |" in text


def test_the_problem_list_in_chinese_as_a_table(db: Db) -> None:
    text = ok(run(*db.report("problem-list", "--period", "2026-11", "--lang", "zh")))
    lines = text.splitlines()
    assert lines[0] == "問題清單"
    assert lines[1] == "期間:2026-11,截至:2026-12-01 00:00(Asia/Shanghai),分組:unit"
    late = next(line for line in lines if "Financing match" in line)
    for shown in (
        "u_finance",
        "承辦中",
        "2026-11-03",
        "19",
        "2026-11-25 17:30",
        "提交月度例會研判",
    ):
        assert shown in late


def test_the_circular_as_a_workbook_with_typed_cells(db: Db) -> None:
    target = db.folder / "circular.xlsx"
    result = run(
        *db.report("circular", "--period", "2026-11", "--format", "xlsx", "-o", str(target))
    )
    assert ok(result) == ""
    assert str(target) in result.stderr
    book = openpyxl.load_workbook(target)
    sheet = book[book.sheetnames[0]]
    assert sheet.freeze_panes == "A2"
    header = [c.value for c in sheet[1]]
    row = {h: c for h, c in zip(header, sheet[2], strict=True)}
    assert (row["District"].value, row["Received"].value, row["Closed"].value) == (
        "d_jianghan",
        2,
        2,
    )
    assert (row["On-time rate"].value, row["On-time rate"].number_format) == (1.0, "0.0%")
    assert row["Satisfaction rate"].value == pytest.approx(2 / 3)
    assert (row["Closure median (wd)"].value, row["Closure p90 (wd)"].value) == (8.0, 11)
    assert isinstance(row["Received"].value, int)
    assert sheet.column_dimensions["B"].width >= len("d_jianghan")


def test_the_problem_list_workbook_has_dates_and_times(db: Db) -> None:
    target = db.folder / "problems.xlsx"
    ok(
        run(
            *db.report("problem-list", "--period", "2026-11", "--format", "xlsx", "-o", str(target))
        )
    )
    sheet = openpyxl.load_workbook(target).worksheets[0]
    header = [c.value for c in sheet[1]]
    late = {h: c for h, c in zip(header, sheet[3], strict=True)}
    assert late["Raised"].value == dt.datetime(2026, 11, 3)
    assert late["Raised"].number_format == "yyyy-mm-dd"
    assert late["Due"].value == dt.datetime(2026, 11, 25, 17, 30)
    assert (late["Age (wd)"].value, late["Overdue (wd)"].value) == (19, 3)


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.cells: list[str] = []
        self.bars: list[str] = []
        self.svgs = 0
        self._where = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._where = tag
        self.svgs += tag == "svg"

    def handle_data(self, data: str) -> None:
        if self._where == "td":
            self.cells.append(data)
        elif self._where == "title" and ":" in data:
            self.bars.append(data)


def test_the_assessment_as_a_printable_page_with_bar_charts(db: Db) -> None:
    target = db.folder / "assessment.html"
    ok(run(*db.report("assessment", "--period", "2026", "--format", "html", "-o", str(target))))
    page = _Page()
    page.feed(target.read_text(encoding="utf-8"))
    assert page.svgs == 2  # by unit and by district
    assert page.bars == [
        "u_culture: 83.7",
        "u_finance: 55.0",
        "d_jianghan: 76.5",
        "d_wuchang: 55.0",
    ]
    assert page.cells[:9] == [
        "1",
        "u_culture",
        "4",
        "3",
        "100.0%",
        "75.0%",
        "33.3%",
        "75.0%",
        "83.7",
    ]


def test_the_dispatch_sheet_and_assessment_weights(db: Db) -> None:
    sheet, weighted = run_all(
        [
            db.report("dispatch-sheet", "--period", "2026-Q4"),
            db.report(
                "assessment",
                "--period",
                "2026",
                "--format",
                "csv",
                "--weights",
                "on_time=1,satisfaction=0,no_reopen=0,prompt_sign_for=0",
            ),
        ]
    )
    text = ok(sheet)
    assert "Studio lease subsidy" in text
    assert "Set a new deadline by decision (Leaders: 10 more days)" in text
    rows = list(csv.reader(io.StringIO(ok(weighted))))
    scores = {row[1]: row[-1] for row in rows if len(row) > 2 and row[0].isdigit()}
    assert scores == {
        "u_culture": "100.0",
        "u_finance": "0.0",
        "d_jianghan": "75.0",
        "d_wuchang": "0.0",
    }


def test_a_report_asked_wrongly_fails_with_one_line(db: Db) -> None:
    period, workbook, weights, unknown = run_all(
        [
            db.report("circular", "--period", "2026-13"),
            db.report("circular", "--period", "2026-11", "--format", "xlsx"),
            db.report("assessment", "--period", "2026", "--weights", "speed=1"),
            db.report("dispatch-sheet", "--period", "2026-11"),
        ]
    )
    assert_one_line_error(period, 2, "2026-13", "2026-Q3")
    assert_one_line_error(workbook, 2, "-o")
    assert_one_line_error(weights, 1, "speed=1")
    assert_one_line_error(unknown, 2, "quarter")
    bad_name = run("--db", db.url, "report", "ranking", "--period", "2026")
    assert bad_name.returncode == 2
    assert "ranking" in bad_name.stderr
