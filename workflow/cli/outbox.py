"""The outbox commands: ``outbox list``, ``outbox retry`` and ``outbox dispatch``.

They open the engine over ``--db`` like the item commands; ``dispatch``
also reads the notifier configuration (``--notifiers FILE``, else
``$WORKFLOW_NOTIFIERS``, else the console channel alone). Times are shown
in the calendar's zone; ``--now`` without a zone is read in it.

The notification modules are imported inside the functions, so that the
``workflow`` command starts quickly for the commands that do not need them.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import click

from workflow.cli.items import open_engine
from workflow.cli.output import CommandLineError, dumps, shorten, table
from workflow.cli.timers import parse_time

if TYPE_CHECKING:
    from workflow.app import Engine
    from workflow.store.outbox import OutboxRow

__all__ = ["COMMANDS", "outbox"]

_BAD_INPUT = 1
_BAD_COMMAND_LINE = 2

_STATUSES = (
    "intent",
    "expanded",
    "unroutable",
    "pending",
    "digest",
    "batched",
    "sent",
    "dead",
)


def _zone(engine: Engine) -> str:
    from workflow.schedule.reviews import timezone_of  # noqa: PLC0415 - keep start-up light

    return timezone_of(engine)


def _local(moment: dt.datetime | None, zone: str) -> str:
    if moment is None:
        return "—"
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


def _to(row: OutboxRow) -> str:
    if row.person is None:
        return row.recipient
    return (
        f"{row.person} <{row.address}>" if row.address and row.address != row.person else row.person
    )


def _row_json(row: OutboxRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "status": row.status,
        "key": row.key,
        "item": row.item_id,
        "history_seq": row.history_seq,
        "channel": row.channel,
        "recipient": row.recipient,
        "person": row.person,
        "address": row.address,
        "locale": row.locale,
        "template": row.template,
        "subject": row.subject,
        "urgent": row.urgent,
        "attempts": row.attempts,
        "next_attempt_at": row.next_attempt_at,
        "last_error": row.last_error,
        "created_at": row.created_at,
        "sent_at": row.sent_at,
        "intent": row.parent_id,
        "digest": row.digest_id,
    }


@click.group("outbox")
def outbox() -> None:
    """Notifications: list the outbox, retry dead letters, run a dispatch pass."""


@outbox.command("list")
@click.option("--status", type=click.Choice(_STATUSES), help="Only rows with this status.")
@click.option("--item", "item_id", type=int, metavar="N", help="Only rows of item N.")
@click.option(
    "--kind",
    type=click.Choice(["intent", "message", "digest"]),
    help="Only intents, messages or digests.",
)
@click.option(
    "--limit",
    type=click.IntRange(1, 100_000),
    default=200,
    show_default=True,
    help="At most this many rows.",
)
@click.option("--after", "after_id", type=int, metavar="ID", help="Rows after this id (paging).")
@click.option("--attempts", "with_attempts", is_flag=True, help="With each row's attempts.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@click.pass_context
def list_command(
    ctx: click.Context,
    status: str | None,
    item_id: int | None,
    kind: str | None,
    limit: int,
    after_id: int | None,
    with_attempts: bool,
    as_json: bool,
) -> None:
    """List outbox rows, oldest first: intents, messages and digests, with their status.

    ``dead`` are the dead letters (given up after their attempts, or a final
    error); ``unroutable`` are intents that reached nobody, with the reason in
    the error column. Both can be queued again with ``workflow outbox retry``.
    """
    from workflow.store import outbox as store  # noqa: PLC0415 - keep start-up light

    with open_engine(ctx) as engine:
        zone = _zone(engine)
        with engine.store.read() as tx:
            rows = store.list_rows(
                tx.connection,
                tx.t,
                status=status,
                item_id=item_id,
                kind=kind,
                after_id=after_id,
                limit=limit,
            )
            attempts = (
                {row.id: store.attempts_of(tx.connection, tx.t, row.id) for row in rows}
                if with_attempts
                else {}
            )
    if as_json:
        found = []
        for row in rows:
            data = _row_json(row)
            if with_attempts:
                data["attempts_made"] = attempts[row.id]
            found.append(data)
        click.echo(dumps(found))
        return
    if not rows:
        click.echo("no outbox rows match", err=True)
        return
    click.echo(
        table(
            ["id", "kind", "status", "item", "channel", "to", "tries", "next", "error"],
            [
                (
                    row.id,
                    row.kind,
                    row.status + (" !" if row.urgent else ""),
                    row.item_id if row.item_id is not None else "—",
                    row.channel,
                    shorten(_to(row), 40),
                    row.attempts,
                    _local(row.next_attempt_at, zone),
                    shorten(row.last_error or "", 60) or "—",
                )
                for row in rows
            ],
        )
    )
    for row in rows:
        for attempt in attempts.get(row.id, ()):
            click.echo(
                f"  {row.id} #{attempt.attempt} {_local(attempt.at, zone)} {attempt.outcome} "
                f"{attempt.duration_ms} ms" + (f": {attempt.error}" if attempt.error else "")
            )
    click.echo(f"{len(rows)} row(s)", err=True)


@outbox.command("retry")
@click.argument("ids", nargs=-1, type=int)
@click.option("--dead", "all_dead", is_flag=True, help="Every dead message and unroutable intent.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@click.pass_context
def retry_command(ctx: click.Context, ids: tuple[int, ...], all_dead: bool, as_json: bool) -> None:
    """Queue dead messages (and unroutable intents) again: the next dispatch sends them.

    Give outbox IDS, or --dead for all of them. A message gets its full set
    of attempts again (its earlier attempts stay on record); an unroutable
    intent is expanded again (fix the directory or the template first).
    Exits 1 if an id was not retried (not dead or unroutable, or unknown).
    """
    from workflow.store import outbox as store  # noqa: PLC0415 - keep start-up light
    from workflow.store import timers  # noqa: PLC0415

    if bool(ids) == all_dead:
        raise CommandLineError("give outbox ids to retry, or --dead (not both)", _BAD_COMMAND_LINE)
    with open_engine(ctx) as engine, engine.store.write() as tx:
        now = timers.db_now(tx.connection)
        result = store.retry(tx.connection, tx.t, None if all_dead else ids, now)
    if as_json:
        click.echo(dumps({"requeued": result.requeued, "skipped": result.skipped}))
    else:
        if result.requeued:
            click.echo(f"requeued {len(result.requeued)}: {', '.join(map(str, result.requeued))}")
        elif all_dead:
            click.echo("nothing dead or unroutable to retry")
        for row_id, why in result.skipped.items():
            click.echo(f"outbox {row_id}: not retried: {why}", err=True)
    if result.skipped:
        ctx.exit(_BAD_INPUT)


@outbox.command("dispatch")
@click.option(
    "--now",
    "now_text",
    metavar="ISO8601",
    help="Judge what is due at this time [default: the database's clock].",
)
@click.option(
    "--batch",
    type=click.IntRange(1, 10_000),
    default=100,
    show_default=True,
    help="Rows claimed at a time.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@click.pass_context
def dispatch_command(ctx: click.Context, now_text: str | None, batch: int, as_json: bool) -> None:
    """Run one dispatch pass: expand intents, compose due digests, send due messages.

    Messages go out through the channels of the notifier configuration
    (--notifiers FILE; the console alone without one). Failures are retried
    by later passes with a growing wait; a message that keeps failing becomes
    dead (see ``outbox list --status dead``). With --json, console channels
    print to stderr, so that stdout holds the JSON alone. Exits 1 if a row's
    handling failed unexpectedly (it is logged, and left for the next pass).
    """
    from notifiers.config import (  # noqa: PLC0415 - keep start-up light
        ConsoleChannelConfig,
        load_notifier_config,
    )
    from notifiers.console import ConsoleChannel  # noqa: PLC0415
    from workflow.notify.dispatch import Dispatcher  # noqa: PLC0415

    config = load_notifier_config(ctx.obj.get("notifiers"))
    if config.source is None:
        click.echo(
            "no --notifiers file (or WORKFLOW_NOTIFIERS): messages go to the console only",
            err=True,
        )
    channels = config.build_channels()
    if as_json:
        # stdout holds the JSON alone: console channels print to stderr instead.
        for name, settings in config.channels.items():
            if isinstance(settings, ConsoleChannelConfig) and settings.stream == "stdout":
                channels[name] = ConsoleChannel(name, stream="stderr")
    with open_engine(ctx) as engine:
        zone = _zone(engine)
        now = parse_time(now_text, "--now", zone) if now_text else None
        dispatcher = Dispatcher(engine, config, channels)
        try:
            report = dispatcher.run_pass(now, limit=batch)
        finally:
            dispatcher.close()
    if as_json:
        click.echo(
            dumps(
                {
                    "now": report.now,
                    "duration_seconds": round(report.duration, 6),
                    "expanded": report.expanded,
                    "created": report.created,
                    "held": report.held,
                    "unroutable": report.unroutable,
                    "digests": report.digests,
                    "sent": report.sent,
                    "retried": report.retried,
                    "dead": report.dead,
                    "lost_leases": report.lost_leases,
                    "failures": report.failures,
                }
            )
        )
    else:
        for label, found in (
            ("unroutable (see outbox list --status unroutable)", report.unroutable),
            ("dead (see outbox list --status dead)", report.dead),
            ("FAILED (see the log)", report.failures),
        ):
            if found:
                click.echo(f"outbox {', '.join(map(str, found))}: {label}", err=True)
        click.echo(f"dispatch at {_local(report.now, zone)}: {report.summary()}", err=True)
    if report.failures:
        ctx.exit(_BAD_INPUT)


COMMANDS: tuple[click.Command, ...] = (outbox,)
"""The outbox commands, for ``workflow.cli.main`` to register."""
