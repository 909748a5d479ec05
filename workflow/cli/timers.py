"""The timer commands: ``tick`` (one escalation pass), ``daemon``, and ``review agenda|close``.

Like the item commands they open the engine over ``--db`` with the
definitions of ``--definitions``. Times given on the command line are ISO
8601; one without a zone is read in the calendar's zone (``Asia/Shanghai``
by default), as the people who type them mean it.

The scheduling modules are imported inside the functions, so that the
``workflow`` command starts quickly for the commands that do not need them.
"""

from __future__ import annotations

import datetime as dt
import logging
import sys
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import click

from workflow.cli.items import open_engine
from workflow.cli.output import CommandLineError, dumps, shorten, table

if TYPE_CHECKING:
    from workflow.app import Engine
    from workflow.schedule.scan import TickReport

__all__ = ["COMMANDS", "daemon", "parse_time", "review", "tick"]

_BAD_INPUT = 1
_BAD_COMMAND_LINE = 2


def parse_time(text: str, option: str, timezone: str) -> dt.datetime:
    """Parse an ISO 8601 time; one without a zone is in ``timezone``."""
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise CommandLineError(
            f"{option}: {text!r} is not an ISO 8601 time (e.g. 2026-11-20T09:00+08:00)",
            _BAD_COMMAND_LINE,
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(timezone))
    return moment.astimezone(dt.UTC)


def _zone(engine: Engine) -> str:
    from workflow.schedule.reviews import timezone_of  # noqa: PLC0415 - keep start-up light

    return timezone_of(engine)


def _local(moment: dt.datetime | None, zone: str) -> str:
    if moment is None:
        return "—"
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


# -- tick ---------------------------------------------------------------------------------


def _report_json(report: TickReport) -> dict[str, Any]:
    return {
        "now": report.now,
        "duration_seconds": round(report.duration, 6),
        "claimed": report.claimed,
        "batches": report.batches,
        "fired": report.fired_count,
        "skipped": report.skipped_count,
        "timed_out": report.timed_out_count,
        "actions": report.actions,
        "conflicts": report.conflicts,
        "lost_leases": report.lost_leases,
        "failures": report.failures,
    }


@click.command("tick")
@click.option(
    "--now",
    "now_text",
    metavar="ISO8601",
    help="Judge what is due at this time [default: the database's clock].",
)
@click.option(
    "--batch",
    type=click.IntRange(1, 100_000),
    default=500,
    show_default=True,
    help="Deadlines claimed at a time.",
)
@click.option(
    "--recalendar",
    is_flag=True,
    help="First recompute the due times that relied on a year without official holidays.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@click.pass_context
def tick(
    ctx: click.Context, now_text: str | None, batch: int, recalendar: bool, as_json: bool
) -> None:
    """Run one escalation pass: apply every ladder level that is due, once.

    Prints what it did per item. Exits 1 if handling a deadline failed
    unexpectedly (it is logged and retried at the next pass); conflicts with
    concurrent changes are normal and left for the next pass.
    """
    from workflow.schedule.scan import Escalator  # noqa: PLC0415 - keep start-up light

    with open_engine(ctx) as engine:
        zone = _zone(engine)
        now = parse_time(now_text, "--now", zone) if now_text else None
        escalator = Escalator(engine)
        moved = escalator.recompute_provisional(now).moved if recalendar else ()
        report = escalator.tick(now, limit=batch)
    if as_json:
        found = _report_json(report)
        found["recalendared"] = moved
        click.echo(dumps(found))
    else:
        for change in moved:
            click.echo(
                f"item {change.item_id}: due {_local(change.old_due, zone)} → "
                f"{_local(change.new_due, zone)} (official calendar)"
            )
        if report.actions:
            click.echo(
                table(
                    ["item", "deadline", "scope", "fired", "skipped", "timed out", "next look"],
                    [
                        (
                            a.item_id,
                            a.deadline_id,
                            a.scope if a.branch_id is None else f"{a.scope} (branch)",
                            ", ".join(a.fired) or "—",
                            ", ".join(a.skipped) or "—",
                            "yes" if a.timed_out else "no",
                            _local(a.next_at, zone),
                        )
                        for a in report.actions
                    ],
                )
            )
        for label, ids in (
            ("left for the next pass (changed meanwhile)", report.conflicts),
            ("lease lost (another pass has it)", report.lost_leases),
            ("FAILED (see the log)", report.failures),
        ):
            if ids:
                click.echo(f"deadline(s) {', '.join(map(str, ids))}: {label}", err=True)
        click.echo(f"tick at {_local(report.now, zone)}: {report.summary()}", err=True)
    if report.failures:
        ctx.exit(_BAD_INPUT)


# -- daemon -------------------------------------------------------------------------------


@click.command("daemon")
@click.option(
    "--interval",
    type=float,
    metavar="S",
    help="Seconds between passes [env WORKFLOW_TICK_INTERVAL; default 10].",
)
@click.option(
    "--lease",
    type=float,
    metavar="S",
    help="Seconds a claim keeps other daemons off a deadline [env WORKFLOW_LEASE_SECONDS; "
    "default 60].",
)
@click.option(
    "--batch",
    type=int,
    metavar="N",
    help="Deadlines claimed at a time [env WORKFLOW_BATCH_SIZE; default 500].",
)
@click.option(
    "--heartbeat",
    type=float,
    metavar="S",
    help="Seconds between heartbeats [env WORKFLOW_HEARTBEAT_SECONDS; default 10].",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
    help="What the daemon logs on stderr.",
)
@click.pass_context
def daemon(
    ctx: click.Context,
    *,
    interval: float | None,
    lease: float | None,
    batch: int | None,
    heartbeat: float | None,
    log_level: str,
) -> None:
    """Run escalation passes, notification passes and review meetings until SIGTERM or SIGINT.

    Several daemons may share one database: they split the due deadlines
    and the outbox between them, no level is ever applied twice and no
    message sent twice. Notifications go through the channels of
    --notifiers (the console, on stdout, without it). Logs go to stderr.
    """
    from notifiers.config import load_notifier_config  # noqa: PLC0415
    from workflow.notify.dispatch import Dispatcher  # noqa: PLC0415
    from workflow.schedule.daemon import DaemonSettings, run_daemon  # noqa: PLC0415

    settings = DaemonSettings.from_env(
        interval=interval, lease=lease, batch=batch, heartbeat=heartbeat
    )
    level = getattr(logging, log_level.upper())
    logging.basicConfig(
        level=level,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # APScheduler reports every job run at INFO: at a pass a second, noise.
    logging.getLogger("apscheduler").setLevel(max(level, logging.WARNING))
    notifiers = load_notifier_config(ctx.obj.get("notifiers"))
    with open_engine(ctx) as engine:
        code = run_daemon(
            engine,
            interval=settings.interval,
            lease=settings.lease_delta,
            batch=settings.batch,
            heartbeat=settings.heartbeat,
            dispatcher=Dispatcher(engine, notifiers),
        )
    ctx.exit(code)


# -- reviews ------------------------------------------------------------------------------


@click.group("review")
def review() -> None:
    """Periodic reviews: print an occurrence's agenda, or hold an occurrence by hand."""


@review.command("agenda")
@click.argument("name")
@click.option(
    "--period",
    metavar="P",
    help="The meeting, named by its period: 2026-11, 2026-Q4, 2026-H2 or 2026 "
    "[default: the next meeting, whose agenda is being gathered].",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "markdown"]),
    default="table",
    show_default=True,
)
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.pass_context
def agenda_command(
    ctx: click.Context, name: str, period: str | None, fmt: str, as_json: bool
) -> None:
    """Print the agenda (the problem list) of review NAME for one period.

    Each item with its responsible unit, age and overdue days (working days),
    due time, highest escalation level, last action, and whether an earlier
    meeting left it unresolved.
    """
    from workflow.schedule import reviews  # noqa: PLC0415 - keep start-up light

    if as_json:
        fmt = "json"
    with open_engine(ctx) as engine:
        zone = _zone(engine)
        found = reviews.review_named(engine, name)
        now = engine.clock.now()
        wanted = reviews.check_period(found, period) if period else None
        wanted = wanted or reviews.upcoming_period(found, now, zone)
        rows = reviews.agenda(engine, found.name, wanted, now=now)
    if fmt == "json":
        click.echo(dumps(reviews.agenda_json(found, wanted, rows)))
        return
    title = f"{found.spec.label.en} ({found.spec.label.zh}) {wanted}"
    if fmt == "markdown":
        click.echo(reviews.agenda_markdown(rows, title, zone), nl=False)
        return
    click.echo(title)
    if not rows:
        click.echo("no items on this agenda")
        return
    lines = []
    for row in rows:
        cells = list(reviews.agenda_cells(row, ZoneInfo(zone)))
        cells[2] = shorten(cells[2], 40)
        cells[9] = shorten(cells[9], 48)
        lines.append(cells)
    click.echo(table(reviews.AGENDA_HEADERS, lines))
    carried = sum(1 for row in rows if row.carried)
    click.echo(f"{len(rows)} item(s), {carried} carried over", err=True)


@review.command("close")
@click.argument("name")
@click.option(
    "--at",
    "at_text",
    metavar="ISO8601",
    help="When the meeting was held [default: the review's latest scheduled time].",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@click.pass_context
def close_command(ctx: click.Context, name: str, at_text: str | None, as_json: bool) -> None:
    """Hold an occurrence of review NAME by hand: carry its unresolved items over.

    A meeting is named by the period it falls in; the items it left
    unresolved go onto the next meeting's agenda. Running it again changes
    nothing.
    """
    from workflow.schedule import reviews  # noqa: PLC0415 - keep start-up light

    with open_engine(ctx) as engine:
        zone = _zone(engine)
        at = parse_time(at_text, "--at", zone) if at_text else None
        closed = reviews.close_occurrence(engine, name, at)
    if as_json:
        click.echo(dumps(closed))
        return
    click.echo(
        f"{closed.review} at {_local(closed.occurrence, zone)}: {closed.discussed} closed, "
        f"{closed.carried} item(s) carried to {closed.carried_to}"
    )


COMMANDS: tuple[click.Command, ...] = (tick, daemon, review)
"""The timer commands, for ``workflow.cli.main`` to register."""
