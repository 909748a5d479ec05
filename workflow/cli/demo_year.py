"""The demo's last chapter: a year of the Service Express, and the reports its meetings use.

A generated register (tens of enterprises across the districts and the four
sectors, their commissioners, the units) is imported into a database of its
own; a few hundred problems are played through a year on a simulated clock
(:mod:`workflow.simulation`), one line per month; a half-yearly star list is
nominated, scored, reviewed and published; and the reports are written into
an output folder: the monthly problem list, the quarterly dispatch sheet, the
district circular (HTML and Excel), the year-end assessment and the star list.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import click
from sqlalchemy import event

from workflow.cli.output import display_width

if TYPE_CHECKING:
    from sqlalchemy import Engine as SqlEngine

    from workflow.app import Engine
    from workflow.simulation import MonthLine, World

__all__ = ["FIRST_DAY", "LAST_DAY", "play_year"]

FIRST_DAY = dt.date(2025, 12, 1)
LAST_DAY = dt.date(2026, 11, 30)
STAR_ROUND = "2026-H1"
"""The star list the chapter publishes (nominated in June, published in July)."""


def _fast_commits(bind: SqlEngine) -> None:
    # The year's database is a throwaway sample: commits need not survive a
    # power cut, so the chapter trades fsync for speed (WAL with
    # synchronous=NORMAL is still atomic and consistent). The engine's own
    # default stays synchronous=FULL.
    @event.listens_for(bind, "connect")
    def _normal(dbapi_connection: object, _record: object) -> None:
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")  # type: ignore[attr-defined]


def play_year(
    database: str,
    out: Path,
    *,
    prefix: str,
    enterprises: int,
    problems: int,
    seed: int,
) -> None:
    """Play the year into ``database`` (a fresh SQLite file) and write the reports into ``out``."""
    from workflow.app import Engine, shipped_definitions  # noqa: PLC0415 - keep start-up light
    from workflow.cli.demo import shipped_calendar  # noqa: PLC0415
    from workflow.directory.generate import generate_register  # noqa: PLC0415
    from workflow.directory.importer import import_register  # noqa: PLC0415
    from workflow.directory.register import RegisterDirectory  # noqa: PLC0415
    from workflow.simulation import World, simulate_year  # noqa: PLC0415
    from workflow.store.migrate import upgrade  # noqa: PLC0415
    from workflow.store.sql import create_database_engine  # noqa: PLC0415

    began = time.perf_counter()
    bind = create_database_engine(database)
    _fast_commits(bind)
    try:
        upgrade(bind, prefix=prefix)
        register = generate_register(enterprises, seed)
        import_register(bind, register, prefix=prefix)
        directory = RegisterDirectory(bind, prefix=prefix)
        world = World.from_register(register)
        districts = {e.district for e in register.enterprises}
        click.echo(
            f"\nA year of the Service Express ({FIRST_DAY:%Y-%m} to {LAST_DAY:%Y-%m})\n\n"
            f"A register of {len(register.enterprises)} key enterprises in {len(districts)} "
            f"districts across the four sectors, with {len(world.units)} units and "
            f"{len(register.people)} people, is\n"
            f"generated (seed {seed}) and imported into {database}'s register "
            "(`workflow directory show`).\n"
            f"{problems} problems are raised over the year on a simulated clock: most answered "
            "fast, some late,\nsome reopened, some escalated to the monthly meeting and the "
            "quarterly dispatch, whose\nmeetings decide on their agendas. Every evening: an "
            "escalation pass (the daemon's\ncall). The year's notifications stay in the outbox, "
            "as the stories above showed them delivered.\n"
        )
        engine = Engine.from_engine(
            bind,
            definitions=shipped_definitions(),
            directory=directory,
            prefix=prefix,
            calendar=shipped_calendar(),
        )
        click.echo(_month_header())
        report = simulate_year(
            engine,
            world,
            first=FIRST_DAY,
            last=LAST_DAY,
            problems=problems,
            seed=seed,
            on_month=lambda line: click.echo(_month_row(line)),
        )
        if report.refusals:
            raise click.ClickException(f"the year's scripts were refused: {dict(report.refusals)}")
        click.echo(
            f"\n{len(report.items)} problems, {report.transitions} transitions, "
            f"{sum(report.levels.values())} ladder levels, "
            f"{sum(report.decisions.values())} meeting decisions "
            f"({report.closed_by_meetings} closures), {_intents(engine)} notification intents in "
            "the outbox\n(`workflow outbox dispatch` delivers them); "
            f"{report.unplayed} steps fall after {LAST_DAY} (those items are still open)."
        )
        stars = _star_round(engine, world, seed)
        click.echo(stars)
        # The reports describe the year as it ends, whatever the star round's clock said.
        year_end = dt.datetime.combine(LAST_DAY, dt.time(23, 59), _zone(engine))
        written = _write_reports(engine, directory, out, year_end)
    finally:
        bind.dispose()
    click.echo(f"\nReports written to {out}{os.sep}:")
    width = max(display_width(name) for name, _ in written)
    for name, what in written:
        click.echo(f"  {name}{' ' * (width - display_width(name))}  {what}")
    click.echo(f"\nThe year took {time.perf_counter() - began:.1f} s.")


def _intents(engine: Engine) -> int:
    from sqlalchemy import func, select  # noqa: PLC0415

    with engine.store.read() as tx:
        outbox = tx.t.outbox
        found = tx.connection.execute(
            select(func.count()).select_from(outbox).where(outbox.c.kind == "intent")
        ).scalar_one()
    return int(found)


def _month_header() -> str:
    return (
        "  month    raised  closed  open  warnings  reminders  monthly  quarterly  meetings\n"
        "  -------  ------  ------  ----  --------  ---------  -------  ---------  --------"
    )


def _month_row(line: MonthLine) -> str:
    levels = line.levels
    meetings = "; ".join(m.split(":")[0] for m in line.meetings) or "—"
    return (
        f"  {line.month}  {line.raised:>6}  {line.finished:>6}  {line.open_at_end:>4}  "
        f"{levels.get('warning', 0):>8}  {levels.get('reminder', 0):>9}  "
        f"{levels.get('monthly_review', 0):>7}  {levels.get('quarterly_dispatch', 0):>9}  "
        f"{meetings}"
    )


def _star_round(engine: Engine, world: World, seed: int) -> str:
    """Nominate, score, review and publish one half-year's star list; describe it."""
    import random  # noqa: PLC0415

    from workflow.core.clock import ManualClock  # noqa: PLC0415
    from workflow.core.values import Actor  # noqa: PLC0415

    rng = random.Random(seed + 1)  # noqa: S311 - sample data, not secrets
    local = _zone(engine)
    engine.clock = clock = ManualClock(dt.datetime(2026, 6, 15, 9, 0, tzinfo=local))
    office = Actor(world.office[0], frozenset({"office"}))
    leader = Actor(world.leaders[0], frozenset({"leader"}))
    judges = _judges(engine)
    nominees = rng.sample(list(world.enterprises), k=min(12, len(world.enterprises)))
    items = []
    for seat in nominees:
        clock.advance(dt.timedelta(minutes=20))
        item = engine.start(
            "star_enterprises",
            Actor(seat.commissioner, frozenset({"commissioner"})),
            {
                "title": f"{seat.name} {STAR_ROUND}",
                "round": STAR_ROUND,
                "recommendation": "上半年營收與用戶增長領先,自主研發新品上線。",
                "enterprise": seat.id,
                "district": seat.district,
                "sector": seat.sector,
            },
        )
        items.append(item.id)
    clock.set(dt.datetime(2026, 6, 17, 10, 0, tzinfo=local))
    for item_id in items:
        clock.advance(dt.timedelta(minutes=5))
        engine.fire(item_id, "admit", office, {})
    clock.set(dt.datetime(2026, 6, 22, 9, 0, tzinfo=local))
    for judge in judges:
        for item_id in items:
            clock.advance(dt.timedelta(minutes=4))
            marks = {k: rng.randint(60, 98) for k in ("social", "business", "technology", "model")}
            engine.fire(item_id, "score", Actor(judge, frozenset({"judge"})), marks)
    clock.set(dt.datetime(2026, 6, 29, 10, 0, tzinfo=local))
    for item_id in items:
        clock.advance(dt.timedelta(minutes=5))
        engine.fire(item_id, "close_scoring", office)
    ranked = sorted(items, key=lambda i: -float(engine.get(i).data["total"]))
    listed = ranked[: len(ranked) // 2]
    clock.set(dt.datetime(2026, 7, 2, 15, 0, tzinfo=local))
    for item_id in ranked:
        clock.advance(dt.timedelta(minutes=5))
        if item_id in listed:
            engine.fire(item_id, "approve_listing", leader, {"note": "同意上榜"})
        else:
            engine.fire(item_id, "decline_listing", leader, reason="綜合得分未進入本期前列")
    clock.set(dt.datetime(2026, 7, 8, 10, 0, tzinfo=local))
    for item_id in listed:
        clock.advance(dt.timedelta(minutes=5))
        engine.fire(item_id, "publish", office, {"channels": ["長江日報", "市融媒體中心"]})
    return (
        f"\nStar list {STAR_ROUND} (明星企業榜單): {len(items)} nominations scored by "
        f"{len(judges)} judges on the four weighted criteria; the leaders listed the top "
        f"{len(listed)}, published on 2026-07-08."
    )


def _judges(engine: Engine) -> Sequence[str]:
    from workflow.directory.register import RegisterDirectory  # noqa: PLC0415

    directory = engine.directory
    if not isinstance(directory, RegisterDirectory):
        raise click.ClickException("the year needs the register directory")
    found = list(directory.group_members("star_judges"))
    if len(found) < 3:
        raise click.ClickException("the register has fewer than three star-list judges")
    return found


def _zone(engine: Engine) -> ZoneInfo:
    return ZoneInfo(engine.calendar.timezone if engine.calendar is not None else "Asia/Shanghai")


def _write_reports(
    engine: Engine, names: object, out: Path, now: dt.datetime
) -> list[tuple[str, str]]:
    """Write the reports the meetings work from; return (file, what) pairs."""
    from workflow.reports import build_report, render_report  # noqa: PLC0415

    out.mkdir(parents=True, exist_ok=True)
    wanted = [
        (
            "problem-list",
            "2026-11",
            "unit",
            ("markdown", "xlsx"),
            "問題清單 for the November meeting",
        ),
        ("dispatch-sheet", "2026-Q4", None, ("html",), "季調度 sheet: escalated items, history"),
        ("circular", "2026-Q3", "district", ("html", "xlsx"), "通報 by district, Q3 vs Q2"),
        ("assessment", "2026", None, ("xlsx",), "年考核 figures per unit and district"),
        ("star-list", STAR_ROUND, None, ("html", "markdown"), "明星企業榜單, ranked by total"),
    ]
    written: list[tuple[str, str]] = []
    for name, period, by, formats, what in wanted:
        report = build_report(
            engine,
            name,
            period,
            by=by,
            lang="zh",
            names=names,  # type: ignore[arg-type]
            now=now,
        )
        for fmt in formats:
            suffix = {"markdown": "md"}.get(fmt, fmt)
            file = out / f"{name}-{period}.{suffix}"
            file.write_bytes(render_report(report, fmt))
            written.append((file.name, what))
    return written
