"""`workflow demo`, the README's main job, run as a user runs it: a process of its own.

The commands run afterwards on the databases it leaves (and the demo's second
run) are in-process (``tests/e2e/cli.py``).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from tests.e2e.cli import run, run_process
from workflow.app import Engine
from workflow.definition.yamlsource import read_yaml
from workflow.schedule.calendar import BusinessCalendar

CALENDAR_FILE = Path(__file__).parents[2] / "definitions" / "_calendar" / "china.yaml"

# The escalation chapter's levels as printed: time, item, the engine, the level's label.
LEVEL_LINE = re.compile(
    r"^    (?P<when>\w{3} \d\d-\d\d \d\d:\d\d)  #(?P<item>\d+)\s+engine\s+"
    r"(?P<label>Due-soon warning|Overdue reminder \(催辦\)|Onto the monthly review|"
    r"Onto the quarterly dispatch by city leaders)\s{2,}(?P<move>\S.*?)\s{2,}(?P<note>\S.*)$",
    re.MULTILINE,
)


class Demo:
    """One run of the demo in a folder of its own, shared by the tests of this module."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        began = time.monotonic()
        self.result = run_process("demo", cwd=folder)
        self.elapsed = time.monotonic() - began


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    # One run for every check: the demo is the slowest command there is.
    return Demo(tmp_path_factory.mktemp("demo"))


def test_the_demo_plays_every_story_and_verifies_every_item(demo: Demo) -> None:
    result, elapsed, tmp_path = demo.result, demo.elapsed, demo.folder
    assert result.returncode == 0, result.stdout + result.stderr
    # The engine's refusal is printed by the demo itself, not as a logged warning.
    assert result.stderr == ""
    out = result.stdout
    assert elapsed < 60, f"the demo took {elapsed:.1f} s (the README promises under a minute)"
    assert "runs `workflow db upgrade` itself" in out
    assert (tmp_path / "workflow-demo.db").exists()

    # Every step is one line: time, actor, event label, move, note.
    step = re.compile(r"^    (Mon|Tue|Wed|Thu|Fri) 11-\d\d \d\d:\d\d  \S+\s+\S.*  \S")
    steps = [line for line in out.splitlines() if step.match(line)]
    assert len(steps) > 40
    assert any("Joint handling complete" in s and "joint_handling → handling" in s for s in steps)
    assert any("Record the revisit" in s and "replied → dispatched" in s for s in steps)
    refused = [s for s in steps if "✗ refused" in s]
    assert len(refused) == 1
    assert "the engine: item 1: 'ent.zhao' may not fire 'strike_off'" in out

    summary = out[out.index("\nSummary\n") :]
    rows = re.findall(
        r"^(\d+)\s{2,}(.+?)\s{2,}(.+?)\s{2,}(.+?)\s{2,}(\d+)\s+(\d+)$", summary, re.MULTILINE
    )
    assert [(r[0], r[3], r[5]) for r in rows] == [
        ("1", "Closed and struck off", "0"),
        ("2", "Closed and struck off", "0"),
        ("3", "Closed and struck off", "1"),
        ("4", "Closed and struck off", "0"),
        ("5", "Rejected", "0"),
        ("6", "Merged into another item", "0"),
        ("7", "Handling", "0"),
        ("8", "Dispatched, awaiting sign-for", "0"),
        ("9", "Handling", "0"),
        ("10", "Closed and struck off", "0"),
    ]
    for item in range(1, 11):
        assert re.search(rf"^  item {item}: verified, \d+ history rows", out, re.MULTILINE)
    assert "All 10 items verified." in out
    assert "review agenda monthly --period 2026-11\n" in out
    assert out.rstrip().endswith("workflow --db sqlite:///workflow-year.db directory show")

    # The database is left for the item commands; a second run starts afresh.
    again = run("demo", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    verified = run("--db", "sqlite:///workflow-demo.db", "verify", "--json", cwd=tmp_path)
    assert verified.returncode == 0, verified.stderr
    assert [(r["id"], r["ok"]) for r in json.loads(verified.stdout)] == [
        (i, True) for i in range(1, 11)
    ]


def test_the_demo_climbs_the_ladder_across_the_holidays_to_the_monthly_review(
    demo: Demo,
) -> None:
    result, tmp_path = demo.result, demo.folder
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    chapter = out[out.index("\nAnswer every call (有呼必應)\n") : out.index("\nSummary\n")]

    # The real 2026 calendar is shown: the holidays and the adjusted working Saturday.
    assert "Fri 09-25 to Sun 09-27  off: Mid-autumn Festival" in chapter
    assert "Thu 10-01 to Wed 10-07  off: National Day" in chapter
    assert re.search(r"Sat 10-10\s+working day \(調休\)", chapter)

    # Item 8 is never signed for: it climbs every level, once each, at the end of the
    # office day its level falls due, counted in working days across the holidays.
    levels = [m.groupdict() for m in LEVEL_LINE.finditer(chapter)]
    climbed = [(m["when"], m["label"]) for m in levels if m["item"] == "8"]
    assert climbed == [
        ("Mon 09-21 17:30", "Due-soon warning"),
        ("Tue 09-22 17:30", "Overdue reminder (催辦)"),
        # 3 working days after Tue 09-22: Wed, Thu, (Mid-Autumn Fri, weekend) Mon.
        ("Mon 09-28 17:30", "Onto the monthly review"),
        # 20 working days: the National Day week is skipped, Saturday 10-10 counts.
        ("Tue 10-27 17:30", "Onto the quarterly dispatch by city leaders"),
    ]
    assert all(m["note"] == "u_jianghan, due Tue 09-22 17:30" for m in levels if m["item"] == "8")
    assert "not counted: Mid-autumn Festival (1 weekday), National Day (5 weekdays)" in chapter
    assert "counted: Sat 10-10 (調休)" in chapter
    # Item 9 is signed for and never answered: warned, reminded, onto the monthly review.
    assert [(m["when"], m["label"]) for m in levels if m["item"] == "9"] == [
        ("Mon 09-21 17:30", "Due-soon warning"),  # its sign-for deadline, met next morning
        ("Mon 10-19 17:30", "Due-soon warning"),
        ("Tue 10-20 17:30", "Overdue reminder (催辦)"),
        ("Fri 10-23 17:30", "Onto the monthly review"),
    ]
    # Item 10's silent co-handling unit is warned, reminded and counted as agreeing.
    assert "u_finance gave no opinion in time: counted as agree" in chapter
    # The October meeting carries item 8 over to November's agenda.
    assert re.search(r"Monthly service meeting 2026-10\s+held; carried to 2026-11: #8", chapter)

    # The November agenda (the problem list) is printed, then resolved by decisions.
    before = chapter[chapter.index("the 2026-11 agenda") : chapter.index("The meeting's decisions")]
    agenda = re.findall(r"^    (\d+)\s{2,}.*$", before, re.MULTILINE)
    assert agenda == ["8", "9"]
    assert re.search(
        r"^    8 .*u_jianghan\s+dispatched\s+\d+\s+2026-09-22 17:30\s+23\s+"
        r"quarterly_dispatch\s+@escalate:quarterly_dispatch by engine",
        before,
        re.MULTILINE,
    )
    after = chapter[chapter.index("The agenda after the meeting") :]
    assert re.search(r"^    8 .*resolved: assign_supervisor", after, re.MULTILINE)
    assert re.search(r"^    9 .*resolved: set_new_deadline .*2026-11-17 17:30", after, re.MULTILINE)
    assert "0 unresolved item(s) carried to 2026-12" in after
    assert re.search(
        r"^    Sun 11-01 09:40  #8\s+leader\.wu\s+Assign a supervising leader",
        chapter,
        re.MULTILINE,
    )

    # The kept database agrees: each level once in item 8's history, the decision an event,
    # and the agenda command shows the entry resolved by it.
    engine = Engine.from_url(f"sqlite:///{tmp_path / 'workflow-demo.db'}")
    try:
        events = [row.event for row in engine.history(8)]
    finally:
        engine.dispose()
    assert [e for e in events if e.startswith("@escalate:")] == [
        "@escalate:warning",
        "@escalate:reminder",
        "@escalate:monthly_review",
        "@escalate:quarterly_dispatch",
    ]
    assert events[-1] == "assign_supervisor"
    listed = run(
        "--db",
        "sqlite:///workflow-demo.db",
        "review",
        "agenda",
        "monthly",
        "--period",
        "2026-11",
        "--json",
        cwd=tmp_path,
    )
    assert listed.returncode == 0, listed.stderr
    entries = {row["item_id"]: row for row in json.loads(listed.stdout)["items"]}
    assert entries[8]["resolution"] == "assign_supervisor"
    assert entries[8]["carried"] is True
    assert entries[9]["resolution"] == "set_new_deadline"
    assert "\nLadder levels reached" in out
    assert "  quarterly_dispatch: #8\n" in out


def test_the_calendar_file_loads_and_its_example_is_the_format() -> None:
    calendar = BusinessCalendar.from_file(str(CALENDAR_FILE))
    assert calendar.timezone == "Asia/Shanghai"
    assert not calendar.overrides  # the file asserts no dates; 2027 stays provisional
    assert not calendar.is_official(2027)

    # The commented example, with its placeholders filled, is what from_mapping reads.
    lines = CALENDAR_FILE.read_text(encoding="utf-8").splitlines()
    first = lines.index("# years:")
    block = [lines[first]]
    for line in lines[first + 1 :]:
        if not line.startswith("#   "):
            break
        block.append(line)
    example = "\n".join(line[2:] for line in block)
    example = example.replace("MM-DD", "03-02").replace("-DD", "-03")
    filled = BusinessCalendar.from_mapping(read_yaml("example.yaml", example).data)
    assert filled.is_official(2027)
    assert 2027 in filled.overrides
    assert len(filled.overrides[2027].workdays) == 1  # the two placeholders name one day


def test_the_demo_prints_the_notifications_its_problems_cause(demo: Demo) -> None:
    out, folder = demo.result.stdout, demo.folder
    lines = out.splitlines()
    # Each message is one line of the console channel, under the step that caused it.
    accept = next(i for i, line in enumerate(lines) if "Accept and dispatch" in line)
    assert lines[accept + 1] == (
        f"{' ' * 21}✉ console → 陳科長 <unit.chen>: 【受理并交辦】"
        "Venue for a 2,000-seat esports regional final"
    )
    sign_for = lines[accept + 2]
    assert "Sign for" in sign_for  # signing for notifies nobody: nothing needs them
    reminder = next(i for i, line in enumerate(lines) if "Overdue reminder (催辦)" in line)
    told = []
    for line in lines[reminder + 1 :]:
        if "✉ console" not in line:
            break
        told.append(line.split("→ ", 1)[1].split(":", 1)[0])
    assert told == [
        "高主任 <unit.gao>",
        "李主任 <office.li>",
        "王科員 <office.wang>",
        "張科員 <office.zhang>",
    ]
    # The task-force leader asked for a digest: one a day, not one per item.
    assert re.search(r"dispatcher\s+Daily digest", out)
    assert "✉ console → 吳組長 <leader.wu>: 【待辦匯總】" in out

    # The printed total is what the outbox holds, every row sent, nothing left behind.
    printed = [line for line in lines if line.lstrip().startswith("✉ console")]
    found = re.search(r"Notifications: (\d+) message\(s\) to (\d+) people", out)
    assert found is not None
    assert int(found.group(1)) == len(printed)
    listed = run("--db", "sqlite:///workflow-demo.db", "outbox", "list", "--json", cwd=folder)
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    sent = [r for r in rows if r["kind"] in ("message", "digest") and r["status"] == "sent"]
    # A message held for a digest is sent inside it, not printed on its own.
    assert len([r for r in sent if r["digest"] is None]) == len(printed)
    assert any(r["digest"] is not None for r in sent)
    assert {r["status"] for r in rows} <= {"expanded", "sent", "digested"}


def test_the_demo_plays_a_year_and_writes_the_reports(demo: Demo) -> None:
    import openpyxl

    out, folder = demo.result.stdout, demo.folder
    months = re.findall(
        r"^  (20\d\d-\d\d)\s+(\d+)\s+(\d+)\s+(\d+)\s+\d+\s+\d+\s+\d+\s+\d+  ", out, re.M
    )
    assert [m[0] for m in months] == ["2025-12", *(f"2026-{n:02d}" for n in range(1, 12))]
    assert sum(int(m[1]) for m in months) == 300
    assert re.search(r"300 problems, \d+ transitions, \d+ ladder levels", out)
    assert "Star list 2026-H1" in out

    reports = folder / "service-express-2026"
    expected = {
        "problem-list-2026-11.md",
        "problem-list-2026-11.xlsx",
        "dispatch-sheet-2026-Q4.html",
        "circular-2026-Q3.html",
        "circular-2026-Q3.xlsx",
        "assessment-2026.xlsx",
        "star-list-2026-H1.html",
        "star-list-2026-H1.md",
    }
    assert {p.name for p in reports.iterdir()} == expected
    for name in expected:
        assert f"  {name}" in out
    circular = (reports / "circular-2026-Q3.html").read_text(encoding="utf-8")
    assert "<svg" in circular
    assert "<script" not in circular
    assert "2026-Q3" in circular
    book = openpyxl.load_workbook(reports / "circular-2026-Q3.xlsx")
    sheet = book.worksheets[0]
    numbers = [c.value for row in sheet.iter_rows() for c in row if isinstance(c.value, int)]
    assert numbers, "the circular's counts are numbers in Excel, not text"
    listed = (reports / "problem-list-2026-11.md").read_text(encoding="utf-8")
    assert "2026-11-30 23:59" in listed  # as of the year's end, not the star round's clock
    stars = (reports / "star-list-2026-H1.md").read_text(encoding="utf-8")
    assert stars.count("已上榜發布") == 6  # the leaders listed the top half of twelve

    # The year's database is left for the commands the demo suggests.
    shown = run(
        "--db",
        "sqlite:///workflow-year.db",
        "report",
        "circular",
        "--period",
        "2026-Q3",
        "--by",
        "district",
        cwd=folder,
    )
    assert shown.returncode == 0, shown.stderr
    assert "2026-Q3" in shown.stdout
