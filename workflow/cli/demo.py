"""``workflow demo``: enterprise problems through the Service Express lifecycle and its ladder.

The demo is the one command that sets up for you: it creates (by default a
fresh) SQLite database, runs the migrations as ``workflow db upgrade`` would,
loads the shipped ``enterprise_issue`` definition and the sample directory
(``definitions/_directory/sample.yaml``), and then plays realistic problems
through the engine on a simulated clock that advances by office hours,
printing each step as one line.

A second chapter, "Answer every call" (有呼必應), leaves three more problems
unanswered in the autumn of 2026 and runs an escalation pass
(:class:`~workflow.schedule.scan.Escalator`) every simulated evening, across
the Mid-Autumn Festival and the National Day holiday, with the review
meetings held at their cron times; it prints each ladder level as it fires,
then the monthly meeting's agenda, the meeting's decisions, and the agenda
they resolved.

It ends with a summary table and replays every item's history (``verify``).
The database is kept, so the item commands can look around afterwards.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from workflow.cli.db import database_errors, display_url, sqlite_file
from workflow.cli.items import sample_directory
from workflow.cli.output import (
    CommandLineError,
    Lang,
    display_width,
    event_label,
    shorten,
    state_label,
    table,
)
from workflow.core.deadlines import ladder_for
from workflow.core.values import Actor
from workflow.errors import Refused

if TYPE_CHECKING:
    from workflow.app import Engine
    from workflow.cli.demo_notices import DemoPost
    from workflow.core.clock import ManualClock
    from workflow.core.values import HistoryEntry
    from workflow.definition.compiled import Definition
    from workflow.definition.model import LevelSpec
    from workflow.schedule.calendar import BusinessCalendar
    from workflow.schedule.reviews import AgendaRow

__all__ = [
    "DECISIONS",
    "DEFAULT_DEMO_DATABASE",
    "STORIES",
    "UNANSWERED",
    "Happening",
    "Problem",
    "Step",
    "Story",
    "demo",
    "shipped_calendar",
    "working_time_after",
]

DEFAULT_DEMO_DATABASE = "sqlite:///workflow-demo.db"
"""Where the demo writes when given no ``--db``: a file in the current folder."""

DEFAULT_YEAR_DATABASE = "sqlite:///workflow-year.db"
"""Where the demo's year is played: a file of its own, started afresh each run."""

DEFAULT_REPORTS_FOLDER = "service-express-2026"
"""Where the year's reports are written."""

WORKFLOW_ID = "enterprise_issue"

# Wuhan's offices keep Beijing time; the clock advances through their office hours.
BEIJING = dt.timezone(dt.timedelta(hours=8), "CST")
OFFICE_HOURS = ((dt.time(9), dt.time(12)), (dt.time(14), dt.time(18)))

ENTERPRISES = {
    "e_pixel": "Pixel Forge Games",
    "e_inkmotion": "InkMotion Animation",
    "e_soundwave": "Soundwave Media",
    "e_cloudcraft": "Cloudcraft Digital",
    "e_lumen": "Lumen Devices",
}


def working_time_after(moment: dt.datetime, hours: float) -> dt.datetime:
    """Return the moment ``hours`` of office time after ``moment``.

    Office time is Monday to Friday, 9:00-12:00 and 14:00-18:00 Beijing time
    (the statutory holidays do not fall in the demo's weeks). A step taken
    outside office hours happens at the next opening.
    """
    remaining = dt.timedelta(hours=hours)
    now = moment.astimezone(BEIJING)
    while True:
        if now.weekday() < 5:
            for opens, closes in OFFICE_HOURS:
                start = dt.datetime.combine(now.date(), opens, BEIJING)
                end = dt.datetime.combine(now.date(), closes, BEIJING)
                now = max(now, start)
                if now >= end:
                    continue
                # Strictly less: a step due at closing time waits for the next opening.
                if remaining < end - now:
                    return now + remaining
                remaining -= end - now
                now = end
        now = dt.datetime.combine(now.date() + dt.timedelta(days=1), dt.time(0), BEIJING)


@dataclass(frozen=True)
class Step:
    """One thing someone does to the story's item, ``hours`` office hours after the last."""

    hours: float
    actor: str
    """``ROLE:ID``, as with ``--as``."""
    event: str
    data: Mapping[str, Any] | None = None
    reason: str | None = None
    note: str = ""
    refused: bool = False
    """The step is expected to be refused: the demo shows the engine's message."""


@dataclass(frozen=True)
class Story:
    """A problem raised at ``raised`` (Beijing time) and the steps it goes through."""

    key: str
    raised: dt.datetime
    actor: str
    data: Mapping[str, Any]
    note: str
    steps: Sequence[Step] = field(default_factory=tuple)


def _at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """Return a moment of November 2026 (the 2nd is a Monday), Beijing time."""
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=BEIJING)


# The stories, in the order their problems are raised. String values may name
# other stories' items as "{key}"; they are filled in with the item ids.
STORIES: tuple[Story, ...] = (
    Story(
        key="venue",
        raised=_at(2, 9, 30),
        actor="enterprise:ent.zhao",
        data={
            "enterprise": "e_pixel",
            "district": "d_donghu",
            "sector": "animation_games",
            "category": "venues",
            "title": "Venue for a 2,000-seat esports regional final",
            "description": (
                "We host the Central China final of our mobile MOBA league on 12-13 December "
                "and need a hall for 2,000 spectators with broadcast power and fibre; the "
                "commercial venues are booked out."
            ),
        },
        note="raised by the studio",
        steps=(
            Step(
                3,
                "office:office.li",
                "accept",
                {"lead_unit": "u_culture"},
                note="to the culture and tourism bureau",
            ),
            Step(1.5, "unit:unit.chen", "sign_for", note="its 15-working-day clock starts"),
            Step(
                14,
                "unit:unit.chen",
                "request_extension",
                {"days": 5},
                reason="The sports centre's December calendar is set by next week's committee.",
                note="asks for 5 more working days",
            ),
            Step(2, "office:office.li", "approve_extension", {"days": 5}, note="granted"),
            Step(
                30,
                "unit:unit.chen",
                "reply",
                {
                    "result": "Hall B of the city sports centre is reserved for 12-13 December "
                    "at the public-event rate; the operator confirms broadcast power "
                    "and fibre.",
                    "resolution": "solved",
                },
                note="solved: Hall B of the sports centre",
            ),
            Step(
                7,
                "commissioner:comm.sun",
                "record_revisit",
                {"satisfaction": "satisfied"},
                note="the commissioner calls the studio",
            ),
            Step(3, "enterprise:ent.zhao", "sign_off", note="the studio confirms"),
            Step(
                0.5,
                "enterprise:ent.zhao",
                "strike_off",
                refused=True,
                note="the studio tries to strike its own item off",
            ),
            Step(2, "office:office.li", "strike_off", note="struck off the problem list"),
        ),
    ),
    Story(
        key="subsidy",
        raised=_at(2, 10, 15),
        actor="commissioner:comm.sun",
        data={
            "enterprise": "e_inkmotion",
            "district": "d_jianghan",
            "sector": "animation_games",
            "category": "policy",
            "source": "commissioner",
            "title": "Animation subsidy stuck at the district review",
            "description": (
                "The 2026 original-animation subsidy application (800,000 yuan) has waited "
                "six weeks at the district's first-level review; the city deadline is 30 "
                "November."
            ),
        },
        note="collected by the commissioner",
        steps=(
            Step(
                2,
                "office:office.wang",
                "accept",
                {"lead_unit": "u_culture"},
                note="to the culture and tourism bureau",
            ),
            Step(
                2,
                "unit:unit.chen",
                "return_to_office",
                reason="The file waits at Jianghan's first-level review; the district must act.",
                note="returned: the district holds the file",
            ),
            Step(
                3,
                "office:office.wang",
                "redispatch",
                {"lead_unit": "u_jianghan"},
                note="to the Jianghan district office",
            ),
            Step(1, "unit:unit.gao", "sign_for", note="the district signs for it"),
            Step(
                4,
                "unit:unit.gao",
                "suspend",
                reason="Waiting for the district finance office to release matching funds.",
                note="clock paused while waiting",
            ),
            Step(
                21,
                "unit:unit.gao",
                "resume",
                reason="Matching funds released.",
                note="clock runs again",
            ),
            Step(
                6,
                "unit:unit.gao",
                "reply",
                {
                    "result": "First-level review passed; the file went to the city with "
                    "300,000 yuan of district matching funds.",
                    "resolution": "solved",
                },
                note="solved: review passed",
            ),
            Step(
                5,
                "commissioner:comm.sun",
                "record_revisit",
                {
                    "satisfaction": "basically_satisfied",
                    "comment": "Happy with the result, not with the six weeks.",
                },
                note="basically satisfied",
            ),
            Step(
                2, "commissioner:comm.sun", "sign_off", note="signed off on the enterprise's behalf"
            ),
            Step(3, "office:office.wang", "strike_off", note="struck off"),
        ),
    ),
    Story(
        key="talent",
        raised=_at(2, 15, 0),
        actor="enterprise:ent.han",
        data={
            "enterprise": "e_lumen",
            "district": "d_donghu",
            "sector": "smart_manufacturing",
            "category": "talent",
            "title": "Housing for 12 newly hired VR engineers",
            "description": (
                "Twelve engineers join the headset plant in January; there are no rentals "
                "within reach of the plant. We ask for talent-apartment places."
            ),
        },
        note="raised by the manufacturer",
        steps=(
            Step(
                2,
                "office:office.wang",
                "accept",
                {"lead_unit": "u_hr"},
                note="to the human resources bureau",
            ),
            Step(1.5, "unit:unit.zhou", "sign_for", note="clock starts"),
            Step(
                20,
                "unit:unit.zhou",
                "reply",
                {
                    "result": "This year's talent-apartment quota is used up; the engineers "
                    "may claim the rent subsidy of 1,000 yuan a month.",
                    "resolution": "explained",
                },
                note="explained: quota used up",
            ),
            Step(
                6,
                "commissioner:comm.sun",
                "record_revisit",
                {
                    "satisfaction": "unsatisfied",
                    "comment": "A subsidy does not help: there is nothing to rent near the plant.",
                },
                note="unsatisfied: reopened, back to the unit",
            ),
            Step(2, "unit:unit.zhou", "sign_for", note="signed for again; a new clock"),
            Step(
                16,
                "unit:unit.zhou",
                "reply",
                {
                    "result": "Twelve flats in the new Guanggu talent apartments, ten minutes "
                    "from the plant, are allocated from the second batch.",
                    "resolution": "solved",
                },
                note="solved: 12 flats from the second batch",
            ),
            Step(
                5,
                "commissioner:comm.sun",
                "record_revisit",
                {"satisfaction": "satisfied"},
                note="satisfied this time",
            ),
            Step(2, "enterprise:ent.han", "sign_off", note="the manufacturer confirms"),
            Step(1, "office:office.wang", "strike_off", note="struck off"),
        ),
    ),
    Story(
        key="financing",
        raised=_at(3, 9, 0),
        actor="enterprise:ent.lin",
        data={
            "enterprise": "e_soundwave",
            "district": "d_wuchang",
            "sector": "online_audiovisual",
            "category": "financing",
            "title": "Loan of 5 million yuan for a drama series",
            "description": (
                "Production of a 24-episode online series starts in January; banks ask for "
                "collateral we do not have as a light-asset company."
            ),
        },
        note="raised by the producer",
        steps=(
            Step(
                2,
                "office:office.li",
                "accept",
                {"lead_unit": "u_culture"},
                note="the sector's bureau leads",
            ),
            Step(1, "unit:unit.chen", "sign_for", note="clock starts"),
            Step(
                3,
                "unit:unit.chen",
                "request_joint",
                {"co_units": ["u_finance", "u_bank"]},
                reason="A guaranteed loan needs the guarantee fund and a bank's credit line.",
                note="finance bureau + bank-liaison office",
            ),
            Step(
                6,
                "co_unit:unit.qian",
                "give_opinion",
                {
                    "verdict": "agree",
                    "opinion": "Eligible for the culture-industry guarantee fund at a 1% fee.",
                },
                note="finance bureau agrees",
            ),
            Step(
                9,
                "co_unit:unit.feng",
                "give_opinion",
                {
                    "verdict": "agree",
                    "opinion": "Two partner banks will lend against the guarantee.",
                },
                note="bank-liaison office agrees",
            ),
            Step(
                14,
                "unit:unit.chen",
                "reply",
                {
                    "result": "A partner bank approved 5 million yuan under the city guarantee "
                    "fund; the first tranche is paid on 30 November.",
                    "resolution": "solved",
                },
                note="solved: loan approved",
            ),
            Step(
                4,
                "commissioner:comm.guo",
                "record_revisit",
                {"satisfaction": "satisfied"},
                note="satisfied",
            ),
            Step(2, "enterprise:ent.lin", "sign_off", note="the producer confirms"),
            Step(1, "office:office.li", "strike_off", note="struck off"),
        ),
    ),
    Story(
        key="dispute",
        raised=_at(3, 14, 30),
        actor="enterprise:ent.xu",
        data={
            "enterprise": "e_cloudcraft",
            "district": "d_hanyang",
            "sector": "digital_services",
            "category": "other",
            "title": "Unpaid invoices from a former client",
            "description": (
                "A former client owes us 420,000 yuan for a finished app and does not "
                "answer; we ask the government to make them pay."
            ),
        },
        note="raised by the software firm",
        steps=(
            Step(
                3,
                "office:office.li",
                "reject",
                reason="A contract dispute between companies is for the courts or "
                "arbitration; the commissioner passes on the legal-aid hotline.",
                note="out of scope: a commercial dispute",
            ),
        ),
    ),
    Story(
        key="duplicate",
        raised=_at(4, 9, 0),
        actor="commissioner:comm.sun",
        data={
            "enterprise": "e_pixel",
            "district": "d_donghu",
            "sector": "animation_games",
            "category": "venues",
            "source": "monthly_meeting",
            "title": "Esports final needs a venue (monthly meeting)",
            "description": "Raised again by Pixel Forge Games at the monthly service meeting.",
        },
        note="raised again at the monthly meeting",
        steps=(
            Step(
                2,
                "office:office.li",
                "merge_duplicate",
                {"duplicate_of": "{venue}"},
                reason="Same request as item {venue}, already with the culture bureau.",
                note="merged into item {venue}",
            ),
        ),
    ),
    Story(
        key="statistics",
        raised=_at(5, 10, 0),
        actor="commissioner:comm.guo",
        data={
            "enterprise": "e_cloudcraft",
            "district": "d_hanyang",
            "sector": "digital_services",
            "category": "statistics",
            "source": "commissioner",
            "title": "Registration in the statistics database",
            "description": (
                "The firm passed 20 million yuan of revenue and should be registered as an "
                "above-scale enterprise (入庫) before the annual count."
            ),
        },
        note="collected by the commissioner",
        steps=(
            Step(
                2,
                "office:office.zhang",
                "accept",
                {"lead_unit": "u_stats"},
                note="to the statistics bureau",
            ),
            Step(3, "unit:unit.ma", "sign_for", note="left in handling, to look at"),
        ),
    ),
)


def _fill(value: Any, ids: Mapping[str, int]) -> Any:
    """Fill "{story}" placeholders in strings with the item ids of earlier stories."""
    if isinstance(value, str):
        return value.format(**ids) if "{" in value else value
    if isinstance(value, Mapping):
        return {k: _fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    return value


class _Printer:
    """Prints each step as one line with aligned columns: time, actor, event, move, note."""

    def __init__(self, definition: Definition, lang: Lang) -> None:
        self.definition = definition
        self.lang = lang
        used = {"start", "@joint_complete", *(s.event for t in STORIES for s in t.steps)}
        self.label_width = max(display_width(event_label(definition, e, lang)) for e in used)

    def line(self, when: dt.datetime, actor: str, event: str, move: str, note: str) -> None:
        label = event_label(self.definition, event, self.lang)
        moment = when.astimezone(BEIJING).strftime("%a %m-%d %H:%M")
        click.echo(
            f"    {moment}  {_pad(actor, 12)}  {_pad(label, self.label_width)}  "
            f"{_pad(move, 28)}  {note}".rstrip()
        )

    def row(self, row: HistoryEntry, note: str) -> None:
        if row.from_state is None:
            move = f"→ {row.to_state}"
        elif row.from_state == row.to_state:
            move = f"{row.to_state} (stays)"
        else:
            move = f"{row.from_state} → {row.to_state}"
        self.line(row.at, row.actor_id, row.event, move, note)

    def refusal(self, when: dt.datetime, actor: Actor, event: str, note: str, why: str) -> None:
        self.line(when, actor.id, event, "✗ refused", note)
        click.echo(f"{' ' * 21}the engine: {why}")


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - display_width(text))


_STEP_INDENT = 21
"""Where the story chapter's notification lines start (under the actor column)."""
_DIARY_INDENT = 27
"""Where the escalation chapter's notification lines start."""


def _play(
    engine: Engine,
    clock: ManualClock,
    story: Story,
    ids: dict[str, int],
    printer: _Printer,
    post: DemoPost,
) -> int:
    """Raise the story's problem and walk it through its steps; return the item's id.

    After each step, a dispatch pass delivers the notifications it caused.
    """
    clock.set(story.raised.astimezone(dt.UTC))
    actor = Actor.parse(story.actor)
    item = engine.start(WORKFLOW_ID, actor, _fill(story.data, ids))
    ids[story.key] = item.id
    click.echo(f"\n  #{item.id} {item.data['title']}  ({ENTERPRISES[item.data['enterprise']]})")
    printer.row(engine.history(item.id)[0], story.note)
    post.deliver(clock.now(), _STEP_INDENT)
    for step in story.steps:
        clock.set(working_time_after(clock.now(), step.hours))
        actor = Actor.parse(step.actor)
        note = _fill(step.note, ids)
        try:
            after = engine.fire(
                item.id,
                step.event,
                actor,
                _fill(step.data, ids),
                reason=_fill(step.reason, ids),
            )
        except Refused as refusal:
            if not step.refused:
                raise
            printer.refusal(clock.now(), actor, step.event, note, str(refusal))
            continue
        rows = [r for r in engine.history(item.id) if r.seq > item.version]
        for row in rows:
            printer.row(row, note if row.kind != "auto" else "every co-handling unit answered")
        post.deliver(clock.now(), _STEP_INDENT)
        item = after
    return item.id


# -- "Answer every call" (有呼必應): the escalation chapter --------------------------------

CHAPTER_START = dt.datetime(2026, 9, 21, 9, 0, tzinfo=BEIJING)
"""Monday 21 September 2026: the chapter crosses the Mid-Autumn Festival and National Day."""

MEETING = dt.datetime(2026, 11, 1, 9, 0, tzinfo=BEIJING)
"""The monthly service meeting of November 2026 (the shipped cron line: 09:00 on the 1st)."""

MEETING_REVIEW = "monthly"

DIGEST_FLUSH = dt.datetime(2026, 11, 3, 9, 30, tzinfo=BEIJING)
"""After the last step: the morning the last daily digests are due."""

PASS_TIME = dt.time(17, 30)
"""When the chapter runs its escalation pass each evening: the end of the office day, when
working-day due times fall (the business calendar's office hours end at 17:30)."""

_TIMEOUT_LABEL = {"en": "No reply, counted", "zh": "逾期未反饋視為同意"}


@dataclass(frozen=True)
class Happening:
    """One thing someone does to an item of the escalation chapter, at a set time."""

    at: dt.datetime
    actor: str
    """``ROLE:ID``, as with ``--as``."""
    event: str
    data: Mapping[str, Any] | None = None
    reason: str | None = None
    note: str = ""


@dataclass(frozen=True)
class Problem:
    """A problem of the escalation chapter: raised, then handled only so far."""

    key: str
    raised: dt.datetime
    actor: str
    data: Mapping[str, Any]
    note: str
    steps: Sequence[Happening] = field(default_factory=tuple)


def _autumn(month: int, day: int, hour: int, minute: int = 0) -> dt.datetime:
    """Return a moment of autumn 2026, Beijing time."""
    return dt.datetime(2026, month, day, hour, minute, tzinfo=BEIJING)


UNANSWERED: tuple[Problem, ...] = (
    Problem(
        key="stage",
        raised=_autumn(9, 21, 9, 30),
        actor="enterprise:ent.qin",
        data={
            "enterprise": "e_inkmotion",
            "district": "d_jianghan",
            "sector": "animation_games",
            "category": "approvals",
            "title": "Fire-safety acceptance of a motion-capture stage",
            "description": (
                "The new motion-capture stage is built, but the district has not scheduled "
                "its fire-safety acceptance; shooting for a 2027 feature cannot start."
            ),
        },
        note="raised by the studio",
        steps=(
            Happening(
                _autumn(9, 21, 11),
                "office:office.wang",
                "accept",
                {"lead_unit": "u_jianghan"},
                note="to the Jianghan district office; nobody signs for it",
            ),
        ),
    ),
    Problem(
        key="permit",
        raised=_autumn(9, 21, 10),
        actor="commissioner:comm.guo",
        data={
            "enterprise": "e_soundwave",
            "district": "d_wuchang",
            "sector": "online_audiovisual",
            "category": "venues",
            "source": "commissioner",
            "title": "Permit to film in the Yellow Crane Tower scenic area",
            "description": (
                "Two episodes of the drama series need three night shoots inside the scenic "
                "area in November; the area's administration has not answered in a month."
            ),
        },
        note="collected by the commissioner",
        steps=(
            Happening(
                _autumn(9, 21, 14, 30),
                "office:office.li",
                "accept",
                {"lead_unit": "u_culture"},
                note="to the culture and tourism bureau",
            ),
            Happening(
                _autumn(9, 22, 9, 30),
                "unit:unit.chen",
                "sign_for",
                note="15 working days to reply; no reply comes",
            ),
        ),
    ),
    Problem(
        key="revenue",
        raised=_autumn(9, 22, 9),
        actor="enterprise:ent.zhao",
        data={
            "enterprise": "e_pixel",
            "district": "d_donghu",
            "sector": "animation_games",
            "category": "financing",
            "title": "Overseas app-store revenue held at the bank",
            "description": (
                "Three months of overseas app-store revenue, 2.6 million yuan, wait at our "
                "bank for foreign-exchange documents nobody can tell us how to provide."
            ),
        },
        note="raised by the studio",
        steps=(
            Happening(
                _autumn(9, 22, 11),
                "office:office.li",
                "accept",
                {"lead_unit": "u_culture"},
                note="the sector's bureau leads",
            ),
            Happening(_autumn(9, 22, 14), "unit:unit.chen", "sign_for", note="clock starts"),
            Happening(
                _autumn(9, 23, 10),
                "unit:unit.chen",
                "request_joint",
                {"co_units": ["u_finance", "u_bank"]},
                reason="The documents are the bank's business, the foreign-exchange rules "
                "the finance bureau's.",
                note="5 working days for each opinion",
            ),
            Happening(
                _autumn(9, 28, 15),
                "co_unit:unit.feng",
                "give_opinion",
                {
                    "verdict": "agree",
                    "opinion": "The bank accepts the app stores' monthly statements as proof.",
                },
                note="the bank-liaison office answers",
            ),
            Happening(
                _autumn(10, 12, 10),
                "unit:unit.chen",
                "reply",
                {
                    "result": "The bank released the 2.6 million yuan against the app stores' "
                    "monthly statements; later payments clear within two days.",
                    "resolution": "solved",
                },
                note="solved in time: this item's own ladder never starts",
            ),
            Happening(
                _autumn(10, 13, 15),
                "commissioner:comm.sun",
                "record_revisit",
                {"satisfaction": "satisfied"},
                note="satisfied",
            ),
            Happening(_autumn(10, 14, 10), "enterprise:ent.zhao", "sign_off", note="confirmed"),
            Happening(_autumn(10, 14, 16), "office:office.li", "strike_off", note="struck off"),
        ),
    ),
)
"""The escalation chapter's problems, each left unanswered in its own way."""

DECISIONS: tuple[tuple[str, Happening], ...] = (
    (
        "stage",
        Happening(
            _autumn(11, 1, 9, 40),
            "leader:leader.wu",
            "assign_supervisor",
            {"supervisor": "leader.wu"},
            note="the task-force leader supervises it himself",
        ),
    ),
    (
        "permit",
        Happening(
            _autumn(11, 1, 9, 50),
            "office:office.li",
            "set_new_deadline",
            {"days": 20},
            reason="The meeting asks the scenic area's administration to answer the bureau "
            "first; 20 more working days.",
            note="20 working days added to the due time; a fresh ladder",
        ),
    ),
)
"""What the monthly meeting decides on its agenda (item key, decision)."""


def shipped_calendar() -> BusinessCalendar:
    """Return the business calendar of the shipped ``definitions/_calendar/china.yaml``."""
    from workflow.app import shipped_definitions  # noqa: PLC0415 - keep start-up light
    from workflow.schedule.calendar import BusinessCalendar  # noqa: PLC0415

    return BusinessCalendar.from_file(
        os.path.join(shipped_definitions(), "_calendar", "china.yaml")
    )


def _when(moment: dt.datetime) -> str:
    return moment.astimezone(BEIJING).strftime("%a %m-%d %H:%M")


def _day(day: dt.date) -> str:
    return day.strftime("%a %m-%d")


def _holiday_name(day: dt.date) -> str:
    """Name the statutory holiday a day belongs to (an adjusted working day's too)."""
    return shipped_calendar().holiday_name(day) or "holiday"


def _calendar_notes(calendar: BusinessCalendar, first: dt.date, last: dt.date) -> list[str]:
    """Describe the days in ``[first, last]`` that are not what their weekday suggests."""
    notes: list[str] = []
    day = first
    while day <= last:
        working = calendar.is_working_day(day)
        if working and day.weekday() >= 5:
            notes.append(f"{_pad(_day(day), 22)}  working day (調休), for {_holiday_name(day)}")
        elif not working and day.weekday() < 5:
            end = day
            while not calendar.is_working_day(end + dt.timedelta(days=1)):
                end += dt.timedelta(days=1)
            notes.append(f"{_day(day)} to {_day(end)}  off: {_holiday_name(day)}")
            day = end
        day += dt.timedelta(days=1)
    return notes


def _counted(calendar: BusinessCalendar, due: dt.datetime, at: dt.datetime) -> str:
    """Say which working days were counted from a due time to a level's time, and which not."""
    day = due.astimezone(calendar.zone).date()
    last = at.astimezone(calendar.zone).date()
    counted: list[dt.date] = []
    holidays: dict[str, int] = {}
    while day < last:
        day += dt.timedelta(days=1)
        if calendar.is_working_day(day):
            counted.append(day)
        elif day.weekday() < 5:
            name = _holiday_name(day)
            holidays[name] = holidays.get(name, 0) + 1
    if len(counted) <= 4:
        text = f"{len(counted)} working days counted: {', '.join(map(_day, counted))}"
    else:
        text = f"{len(counted)} working days counted, {_day(counted[0])} to {_day(counted[-1])}"
    skipped = [
        f"{name} ({days} weekday{'s' if days > 1 else ''})" for name, days in holidays.items()
    ]
    adjusted = [f"{_day(d)} (調休)" for d in counted if d.weekday() >= 5]
    if skipped:
        text += "; not counted: " + ", ".join(skipped)
    if adjusted:
        text += "; counted: " + ", ".join(adjusted)
    return text


class _Diary:
    """Prints the escalation chapter in time order: steps, ladder levels, meetings."""

    def __init__(
        self, engine: Engine, definition: Definition, calendar: BusinessCalendar, lang: Lang
    ) -> None:
        self.engine = engine
        self.definition = definition
        self.calendar = calendar
        self.lang: Lang = lang
        ladder = definition.spec.escalation
        self.levels = {level.name: level for level in ladder.levels} if ladder else {}
        self.seen: dict[int, int] = {}
        self.reached: dict[str, set[int]] = {}
        labels = [self.level_label(name) for name in self.levels]
        labels.append(_TIMEOUT_LABEL[lang])
        events = {"start", "@joint_complete", *(h.event for p in UNANSWERED for h in p.steps)}
        events.update(h.event for _, h in DECISIONS)
        labels.extend(event_label(definition, event, lang) for event in events)
        self.width = max(display_width(label) for label in labels)

    def level_label(self, name: str, spec: LevelSpec | None = None) -> str:
        """Return a ladder level's label in the demo's language."""
        spec = spec or self.levels.get(name)
        if spec is None:
            return name
        return spec.label.zh if self.lang == "zh" else spec.label.en

    def line(
        self, when: dt.datetime, item: str, actor: str, label: str, *, move: str, note: str
    ) -> None:
        """Print one line: time, item, actor, what happened, the move, a note."""
        click.echo(
            f"    {_when(when)}  {_pad(item, 4)} {_pad(actor, 11)}  {_pad(label, self.width)}  "
            f"{_pad(move, 26)}  {note}".rstrip()
        )

    def detail(self, text: str) -> None:
        """Print a line of detail under the last one."""
        click.echo(f"{' ' * 27}{text}")

    def news(self, item_id: int, note: str = "") -> None:
        """Print the item's history rows written since it was last printed."""
        rows = [r for r in self.engine.history(item_id) if r.seq > self.seen.get(item_id, 0)]
        for row in rows:
            self.row(row, note if row.kind in ("event", "start") or row.seq == 1 else "")
            self.seen[item_id] = row.seq

    def row(self, row: HistoryEntry, note: str) -> None:
        """Print one history row (an escalation with its working-day count)."""
        if row.from_state is None:
            move = f"→ {row.to_state}"
        elif row.from_state == row.to_state:
            move = f"{row.to_state} (stays)"
        else:
            move = f"{row.from_state} → {row.to_state}"
        item = f"#{row.item_id}"
        values = row.input or {}
        if row.kind == "escalation":
            self._level(row, item, move, values)
            return
        if row.event == "@timeout":
            note = (
                f"{values.get('unit')} gave no opinion in time: counted as {values.get('verdict')}"
            )
            self.line(row.at, item, row.actor_id, _TIMEOUT_LABEL[self.lang], move=move, note=note)
            return
        if row.event == "@joint_complete":
            note = "all opinions in (or counted)"
        label = event_label(self.definition, row.event, self.lang)
        self.line(row.at, item, row.actor_id, label, move=move, note=note)

    def _level(self, row: HistoryEntry, item: str, move: str, values: Mapping[str, Any]) -> None:
        level = str(values.get("level"))
        due = dt.datetime.fromisoformat(str(values.get("due_at")))
        # The deadline's own ladder: a state may declare one instead of the workflow's.
        ladder = ladder_for(self.definition, str(values.get("scope")))
        spec = next((s for s in ladder.levels if s.name == level), None) if ladder else None
        label = self.level_label(level, spec)
        if values.get("outcome") == "skipped":
            # catch_up: highest after downtime: the level is recorded, not applied.
            self.line(row.at, item, row.actor_id, label, move=move, note="skipped (catch-up)")
            return
        self.reached.setdefault(level, set()).add(row.item_id)
        if "branch" in values:
            unit = next(
                b.unit for b in self.engine.branches(row.item_id) if b.id == values["branch"]
            )
            note = f"{unit}'s opinion, due {_when(due)}"
        else:
            unit = str(self.engine.get(row.item_id).data.get("lead_unit") or "—")
            note = f"{unit}, due {_when(due)}"
        self.line(row.at, item, row.actor_id, label, move=move, note=note)
        if spec is None:
            return
        if spec.before:
            self.detail(f"{spec.before} working day before the due time")
        elif spec.after:
            self.detail(_counted(self.calendar, due, row.at))
        if spec.review is not None:
            review = self.definition.spec.reviews[spec.review]
            period = self.calendar.next_period(review.cron, review.period, row.at)
            label = review.label.zh if self.lang == "zh" else review.label.en
            self.detail(f"onto the agenda of the {label}, {period}")


def _agenda_table(rows: Sequence[AgendaRow]) -> str:
    """Render an agenda as the problem list (the CLI's columns, without the workflow)."""
    from workflow.schedule.reviews import AGENDA_HEADERS, agenda_cells  # noqa: PLC0415

    lines = []
    for row in rows:
        cells = list(agenda_cells(row, BEIJING))
        cells[2] = shorten(cells[2], 36)
        del cells[1]
        lines.append(cells)
    headers = [h for i, h in enumerate(AGENDA_HEADERS) if i != 1]
    return "\n".join("    " + line for line in table(headers, lines).splitlines())


def _answer_every_call(
    engine: Engine,
    definition: Definition,
    calendar: BusinessCalendar,
    ids: dict[str, int],
    lang: Lang,
    post: DemoPost,
) -> dict[str, set[int]]:
    """Leave problems unanswered, run an escalation pass every evening, hold the meeting.

    Returns the ladder levels reached, with the items that reached each.
    """
    from workflow.core.clock import ManualClock  # noqa: PLC0415 - keep start-up light
    from workflow.schedule import reviews  # noqa: PLC0415
    from workflow.schedule.cadence import next_occurrence  # noqa: PLC0415
    from workflow.schedule.scan import Escalator  # noqa: PLC0415

    clock = ManualClock(CHAPTER_START.astimezone(dt.UTC))
    engine.clock = clock
    zone = calendar.timezone
    diary = _Diary(engine, definition, calendar, lang)
    escalator = Escalator(engine)
    official = calendar.official_years()
    click.echo(
        "\nAnswer every call (有呼必應)\n\n"
        "Three more problems, raised in late September 2026, are left without an answer.\n"
        "Each deadline climbs the ladder of enterprise_issue: a warning 1 working day before\n"
        "the due time, a reminder (催辦) at it, onto the monthly review 3 working days after,\n"
        "onto the quarterly dispatch 20 after. Working days follow the State Council's\n"
        f"calendar (chinesecalendar: official {official[0]}-{official[-1]}; "
        "definitions/_calendar/china.yaml):"
    )
    for note in _calendar_notes(calendar, CHAPTER_START.date(), MEETING.date()):
        click.echo(f"    {note}")
    click.echo(
        "An escalation pass runs every evening at 17:30, Escalator(engine).tick(now=...),\n"
        "the call `workflow tick` and `workflow daemon` make (the daemon every 10 s). Each\n"
        "level fires once per item and deadline; the meetings are held at their cron times.\n"
    )

    def start(problem: Problem) -> None:
        item = engine.start(WORKFLOW_ID, Actor.parse(problem.actor), problem.data)
        ids[problem.key] = item.id
        diary.news(item.id, problem.note)
        post.deliver(clock.now(), _DIARY_INDENT)

    def step(key: str, happening: Happening) -> None:
        item_id = ids[key]
        engine.fire(
            item_id,
            happening.event,
            Actor.parse(happening.actor),
            _fill(happening.data, ids),
            reason=happening.reason,
        )
        diary.news(item_id, happening.note)
        post.deliver(clock.now(), _DIARY_INDENT)

    def escalation_pass() -> None:
        report = escalator.tick(now=clock.now())
        if report.conflicts or report.lost_leases or report.failures:
            raise click.ClickException(f"escalation pass: {report.summary()}")
        for item_id in dict.fromkeys(action.item_id for action in report.actions):
            diary.news(item_id)
        # A quiet evening may still deliver a digest that fell due: say when.
        post.deliver(clock.now(), _DIARY_INDENT, None if report.actions else dispatch_line)

    def dispatch_line() -> None:
        diary.line(
            clock.now(),
            "",
            "dispatcher",
            "Daily digest",
            move="",
            note="due: held messages sent together",
        )

    def meeting(name: str, when: dt.datetime) -> None:
        closed = reviews.close_occurrence(engine, name, when)
        review = reviews.review_named(engine, name)
        label = review.spec.label.zh if lang == "zh" else review.spec.label.en
        carried = [r.item_id for r in reviews.agenda(engine, name, closed.carried_to) if r.carried]
        what = ", ".join(f"#{i}" for i in carried) or "nothing"
        diary.line(
            when,
            "",
            "daemon",
            f"{label} {closed.discussed}",
            move="",
            note=f"held; carried to {closed.carried_to}: {what}",
        )
        post.deliver(clock.now(), _DIARY_INDENT)

    # Everything in time order: people's steps first, then the evening pass, then meetings.
    timeline: list[tuple[dt.datetime, int, int, Callable[[], None]]] = []
    for problem in UNANSWERED:
        timeline.append((problem.raised, 0, len(timeline), partial(start, problem)))
        for happening in problem.steps:
            timeline.append((happening.at, 0, len(timeline), partial(step, problem.key, happening)))
    day = CHAPTER_START.date()
    while day < MEETING.date():
        evening = dt.datetime.combine(day, PASS_TIME, BEIJING)
        timeline.append((evening, 1, len(timeline), escalation_pass))
        day += dt.timedelta(days=1)
    for name, review in reviews.collect_reviews(engine.catalog).items():
        held = next_occurrence(review.cron, CHAPTER_START, zone)
        while held < MEETING:
            timeline.append((held, 2, len(timeline), partial(meeting, name, held)))
            held = next_occurrence(review.cron, held, zone)
    for when, _, _, action in sorted(timeline, key=lambda entry: entry[:3]):
        clock.set(when.astimezone(dt.UTC))
        action()

    # The monthly service meeting: its agenda is the problem list.
    clock.set(MEETING.astimezone(dt.UTC))
    review = reviews.review_named(engine, MEETING_REVIEW)
    period = reviews.occurrence_periods(review, MEETING, zone)[0]
    label = f"{review.spec.label.en} ({review.spec.label.zh})"
    click.echo(
        f"\n{_when(MEETING)}  {label}: the {period} agenda\n"
        f"(workflow.agenda; `workflow review agenda {MEETING_REVIEW} "
        f"--period {period}` prints the same; ages and overdue days in working days)\n"
    )
    click.echo(_agenda_table(reviews.agenda(engine, review.name, period, now=MEETING)))
    click.echo("\n  The meeting's decisions, recorded as events on the items:\n")
    for key, happening in DECISIONS:
        clock.set(happening.at.astimezone(dt.UTC))
        step(key, happening)
    click.echo("\n  The agenda after the meeting (a decision resolves the item's entry):\n")
    click.echo(_agenda_table(reviews.agenda(engine, review.name, period, now=clock.now())))
    closed = reviews.close_occurrence(engine, review.name, MEETING)
    click.echo(
        f"\n  Meeting closed (close_occurrence): {closed.carried} unresolved item(s) carried "
        f"to {closed.carried_to}."
    )
    return diary.reached


@click.command(
    "demo", short_help="Play sample problems through the lifecycle and escalation (sets up)."
)
@click.option(
    "--db",
    "url",
    metavar="URL",
    default=None,
    help=f"Database to fill [default: {DEFAULT_DEMO_DATABASE}, fresh each run].",
)
@click.option(
    "--fresh/--keep",
    default=None,
    help="Delete the SQLite file first [default: --fresh without --db, --keep with it].",
)
@click.option("--lang", type=click.Choice(["en", "zh"]), default="en", show_default=True)
@click.option(
    "--year/--no-year",
    "with_year",
    default=True,
    help="Then play a year of the Service Express and write its reports [default: --year].",
)
@click.option(
    "--year-db",
    metavar="URL",
    default=DEFAULT_YEAR_DATABASE,
    show_default=True,
    help="The year's database (a SQLite file is started afresh).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(DEFAULT_REPORTS_FOLDER),
    show_default=True,
    help="Where the year's reports are written.",
)
@click.option(
    "--problems",
    "year_problems",
    type=click.IntRange(10, 5000),
    default=300,
    show_default=True,
    help="Problems raised over the year.",
)
@click.option(
    "--enterprises",
    type=click.IntRange(5, 200),
    default=40,
    show_default=True,
    help="Enterprises in the generated register.",
)
@click.pass_context
def demo(
    ctx: click.Context,
    url: str | None,
    fresh: bool | None,
    lang: Lang,
    with_year: bool,
    year_db: str,
    out: Path,
    year_problems: int,
    enterprises: int,
) -> None:
    """Play enterprise problems through the lifecycle, the escalation ladder and a year.

    Seven problems go through the lifecycle, with the notifications each step
    causes; three more are left unanswered across the 2026 National Day
    holiday, climb the escalation ladder, and reach the monthly review, whose
    agenda and decisions are shown. Then a year of the Service Express is
    played on a generated register (a few hundred problems, one line per
    month), a star list is published, and the reports are written to --out.

    Sets up for you (the only command that does): creates the database and
    its tables as `workflow db upgrade` would, and uses the shipped
    definitions, calendar and sample directory whatever --definitions,
    --calendar and --directory say. The global --db is ignored: the demo writes only where
    its own --db says, so it never fills a real database by accident.
    """
    from workflow.app import Engine, shipped_definitions  # noqa: PLC0415 - keep start-up light
    from workflow.cli.demo_notices import DemoPost  # noqa: PLC0415
    from workflow.core.clock import ManualClock  # noqa: PLC0415
    from workflow.directory.static import StaticDirectory  # noqa: PLC0415
    from workflow.store.migrate import upgrade  # noqa: PLC0415
    from workflow.store.sql import create_database_engine  # noqa: PLC0415

    # The engine logs each refusal as a warning; the demo prints refusals itself.
    logging.getLogger("workflow").addHandler(logging.NullHandler())
    database = url or DEFAULT_DEMO_DATABASE
    fresh = url is None if fresh is None else fresh
    path = sqlite_file(database)
    if fresh:
        if path is None:
            raise CommandLineError("--fresh: only a SQLite file can be started afresh; use --keep")
        for leftover in (path, f"{path}-wal", f"{path}-shm"):
            if os.path.exists(leftover):
                os.remove(leftover)
    prefix = ctx.obj["prefix"] if ctx.obj else "wf_"
    directory_file = sample_directory()
    click.echo(
        f"Service Express demo: ten enterprise problems through `{WORKFLOW_ID}`.\n"
        f"Database {display_url(database)}{' (fresh)' if fresh else ''}; "
        "the demo runs `workflow db upgrade` itself\n"
        "(the one command that sets up for you; elsewhere run it once yourself).\n"
        f"People and units: {_relative(directory_file)}. Times are Beijing time on a\n"
        "simulated clock that moves through office hours (Mon-Fri 9-12, 14-18)."
    )
    clock = ManualClock(STORIES[0].raised.astimezone(dt.UTC))
    calendar = shipped_calendar()
    with database_errors():
        bind = create_database_engine(database)
        try:
            upgrade(bind, prefix=prefix)
            engine = Engine.from_engine(
                bind,
                definitions=shipped_definitions(),
                directory=StaticDirectory.from_file(directory_file),
                prefix=prefix,
                clock=clock,
                calendar=calendar,
            )
            definition = engine.catalog.get(WORKFLOW_ID)
            printer = _Printer(definition, lang)
            ids: dict[str, int] = {}
            post = DemoPost(engine)
            try:
                # Each story keeps its own time line; the clock is set back to when
                # the next problem was raised (the stories overlap in the same weeks).
                for story in STORIES:
                    clock = ManualClock(story.raised.astimezone(dt.UTC))
                    engine.clock = clock
                    _play(engine, clock, story, ids, printer, post)
                reached = _answer_every_call(engine, definition, calendar, ids, lang, post)
                # Digests wait for their morning: one last pass delivers what is held.
                post.deliver(
                    DIGEST_FLUSH.astimezone(dt.UTC),
                    4,
                    lambda: click.echo(f"\n{_when(DIGEST_FLUSH)}  the last daily digests"),
                )
            finally:
                post.close()
            items = [engine.get(item_id) for item_id in ids.values()]
            results = {item.id: engine.verify(item.id) for item in items}
        finally:
            bind.dispose()
    click.echo("\nSummary\n")
    click.echo(
        table(
            ["id", "title", "enterprise", "state", "version", "reopened"],
            [
                (
                    item.id,
                    shorten(str(item.data["title"]), 48),
                    ENTERPRISES.get(str(item.data["enterprise"]), str(item.data["enterprise"])),
                    state_label(definition, item.state, lang),
                    item.version,
                    item.data.get("reopen_count", 0),
                )
                for item in items
            ],
        )
    )
    click.echo(
        f"\nNotifications: {post.summary()}.\nEach was written to the outbox with the step "
        "that caused it (`workflow outbox list`)."
    )
    if reached:
        click.echo("\nLadder levels reached (each once per item and deadline):")
        for name in _level_order(definition, reached):
            items_text = ", ".join(f"#{i}" for i in sorted(reached[name]))
            click.echo(f"  {name}: {items_text}")
    click.echo("\nReplaying every item's history (workflow verify):")
    for item in items:
        problems = results[item.id]
        if problems:
            click.echo(f"  item {item.id}: DISCREPANCY: {'; '.join(problems)}")
        else:
            click.echo(
                f"  item {item.id}: verified, {item.version} history rows replay to its state"
            )
    bad = sum(1 for p in results.values() if p)
    if bad:
        click.echo(f"{bad} item(s) with discrepancies", err=True)
        ctx.exit(1)
    if with_year:
        from workflow.cli.demo_year import play_year  # noqa: PLC0415 - keep start-up light

        year_path = sqlite_file(year_db)
        if year_path is not None:
            for leftover in (year_path, f"{year_path}-wal", f"{year_path}-shm"):
                if os.path.exists(leftover):
                    os.remove(leftover)
        with database_errors():
            play_year(
                year_db,
                out,
                prefix=prefix,
                enterprises=enterprises,
                problems=year_problems,
                seed=2026,
            )
    click.echo(
        f"\nAll {len(items)} items verified. Look around (the databases are kept):\n"
        f"  workflow --db {database} list\n"
        f"  workflow --db {database} history {ids['venue']}\n"
        f"  workflow --db {database} events {ids['statistics']} --as unit:unit.ma\n"
        f"  workflow --db {database} history {ids['stage']}\n"
        f"  workflow --db {database} review agenda {MEETING_REVIEW} --period "
        f"{MEETING.strftime('%Y-%m')}"
        + (
            f"\n  workflow --db {year_db} report circular --period 2026-Q3 --by district\n"
            f"  workflow --db {year_db} directory show"
            if with_year
            else ""
        )
    )


def _level_order(definition: Definition, reached: Mapping[str, Any]) -> list[str]:
    """Return the levels reached, in the order of the ladder."""
    ladder = definition.spec.escalation
    order = [level.name for level in ladder.levels] if ladder else []
    return sorted(reached, key=lambda name: order.index(name) if name in order else len(order))


def _relative(path: str) -> str:
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return path
    return path if relative.startswith("..") else str(Path(relative))
