"""``workflow demo``: seven enterprise problems walked through the Service Express lifecycle.

The demo is the one command that sets up for you: it creates (by default a
fresh) SQLite database, runs the migrations as ``workflow db upgrade`` would,
loads the shipped ``enterprise_issue`` definition and the sample directory
(``definitions/_directory/sample.yaml``), and then plays realistic problems
through the engine on a simulated clock that advances by office hours,
printing each step as one line. It ends with a summary table and replays
every item's history (``verify``). The database is kept, so the item
commands can look around afterwards.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
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
from workflow.core.values import Actor
from workflow.errors import Refused

if TYPE_CHECKING:
    from workflow.app import Engine
    from workflow.core.clock import ManualClock
    from workflow.core.values import HistoryEntry
    from workflow.definition.compiled import Definition

__all__ = ["DEFAULT_DEMO_DATABASE", "STORIES", "Step", "Story", "demo", "working_time_after"]

DEFAULT_DEMO_DATABASE = "sqlite:///workflow-demo.db"
"""Where the demo writes when given no ``--db``: a file in the current folder."""

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


def _play(
    engine: Engine, clock: ManualClock, story: Story, ids: dict[str, int], printer: _Printer
) -> int:
    """Raise the story's problem and walk it through its steps; return the item's id."""
    clock.set(story.raised.astimezone(dt.UTC))
    actor = Actor.parse(story.actor)
    item = engine.start(WORKFLOW_ID, actor, _fill(story.data, ids))
    ids[story.key] = item.id
    click.echo(f"\n  #{item.id} {item.data['title']}  ({ENTERPRISES[item.data['enterprise']]})")
    printer.row(engine.history(item.id)[0], story.note)
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
        item = after
    return item.id


@click.command("demo", short_help="Play sample problems through the lifecycle (sets up).")
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
@click.pass_context
def demo(ctx: click.Context, url: str | None, fresh: bool | None, lang: Lang) -> None:
    """Play seven enterprise problems through the lifecycle (sets up for you).

    Sets up for you (the only command that does): creates the database and
    its tables as `workflow db upgrade` would, and uses the shipped
    definitions and the sample directory whatever --definitions and
    --directory say. The global --db is ignored: the demo writes only where
    its own --db says, so it never fills a real database by accident.
    """
    from workflow.app import Engine, shipped_definitions  # noqa: PLC0415 - keep start-up light
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
        f"Service Express demo: seven enterprise problems through `{WORKFLOW_ID}`.\n"
        f"Database {display_url(database)}{' (fresh)' if fresh else ''}; "
        "the demo runs `workflow db upgrade` itself\n"
        "(the one command that sets up for you; elsewhere run it once yourself).\n"
        f"People and units: {_relative(directory_file)}. Times are Beijing time on a\n"
        "simulated clock that moves through office hours (Mon-Fri 9-12, 14-18)."
    )
    clock = ManualClock(STORIES[0].raised.astimezone(dt.UTC))
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
            )
            definition = engine.catalog.get(WORKFLOW_ID)
            printer = _Printer(definition, lang)
            ids: dict[str, int] = {}
            # Each story keeps its own time line; the clock is set back to when
            # the next problem was raised (the stories overlap in the same weeks).
            for story in STORIES:
                clock = ManualClock(story.raised.astimezone(dt.UTC))
                engine.clock = clock
                _play(engine, clock, story, ids, printer)
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
    click.echo(
        f"\nAll {len(items)} items verified. Look around (the database is kept):\n"
        f"  workflow --db {database} list\n"
        f"  workflow --db {database} history {ids['venue']}\n"
        f"  workflow --db {database} events {ids['statistics']} --as unit:unit.ma"
    )


def _relative(path: str) -> str:
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return path
    return path if relative.startswith("..") else str(Path(relative))
