"""The item commands: start, fire, show, history, events, list, verify, migrate.

Each command opens the engine over ``--db`` (checking that the tables are
current: exit 8 otherwise), with the definitions of ``--definitions`` and the
directory file of ``--directory``, and acts as the person given with
``--as ROLE:ID`` (``ROLE1,ROLE2:ID`` for several roles). People get tables
with the definition's labels (``--lang zh`` for Chinese); ``--json`` prints
the engine's values for machines.

The engine and SQLAlchemy are imported inside the functions, so that the
``workflow`` command starts quickly for the commands that do not need them.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from workflow.cli.db import open_database
from workflow.cli.output import (
    CommandLineError,
    Lang,
    branch_text,
    dumps,
    event_label,
    field_label,
    jsonable,
    key_values,
    shorten,
    state_label,
    table,
    timestamp,
    value_text,
)
from workflow.core.values import Actor
from workflow.errors import WorkflowError

if TYPE_CHECKING:
    from workflow.app import Engine
    from workflow.core.values import HistoryEntry, ItemSnapshot
    from workflow.definition.compiled import Definition

__all__ = [
    "COMMANDS",
    "open_engine",
    "parse_actor",
    "parse_data",
    "sample_directory",
]

F = TypeVar("F", bound=Callable[..., Any])

# Exit codes of command-line mistakes (see workflow.cli.main for the whole table).
_BAD_INPUT = 1
_BAD_COMMAND_LINE = 2
_NOT_FOUND = 3

# How many times `fire` retries on a concurrent update (without --expect-version).
_FIRE_RETRIES = 3

# How many items `verify` (without ITEMs) reads at a time.
_VERIFY_PAGE = 500


def sample_directory() -> str:
    """Return the sample directory file shipped with the definitions."""
    return str(Path(__file__).resolve().parents[2] / "definitions" / "_directory" / "sample.yaml")


# -- parsing the command line -----------------------------------------------------------


def parse_actor(text: str) -> Actor:
    """Parse ``--as ROLE:ID`` (roles may be comma-separated), as one-line errors."""
    try:
        actor = Actor.parse(text)
    except WorkflowError as error:
        raise CommandLineError(f"--as: {error}", _BAD_COMMAND_LINE) from None
    if not actor.roles:
        raise CommandLineError(f"--as: no role in {text!r} (e.g. office:office.li)")
    return actor


def parse_data(text: str | None, option: str = "--data") -> dict[str, Any] | None:
    """Parse a JSON object given inline or as ``@FILE``."""
    if text is None:
        return None
    source = "the value"
    if text.startswith("@"):
        path = text[1:]
        source = path
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise CommandLineError(f"{option}: no such file {path}", _NOT_FOUND) from None
        except (OSError, UnicodeDecodeError) as error:
            raise CommandLineError(f"{option}: cannot read {path}: {error}", _BAD_INPUT) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise CommandLineError(
            f"{option}: {source} is not valid JSON: {error.msg} "
            f"(line {error.lineno}, column {error.colno})",
            _BAD_INPUT,
        ) from None
    if not isinstance(data, dict):
        raise CommandLineError(
            f'{option}: expected a JSON object ({{"field": value, ...}}), '
            f"got {type(data).__name__}",
            _BAD_INPUT,
        )
    return data


def _parse_map(pairs: Sequence[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for pair in pairs:
        old, sep, new = pair.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise CommandLineError(f"--map: expected OLD=NEW, got {pair!r}")
        mapping[old.strip()] = new.strip()
    return mapping


if TYPE_CHECKING:
    from workflow.schedule.calendar import BusinessCalendar

# -- the engine -------------------------------------------------------------------------


@contextmanager
def open_engine(ctx: click.Context) -> Iterator[Engine]:
    """Yield the engine for the global options; database errors become exit code 8."""
    from workflow.app import Engine  # noqa: PLC0415 - keep start-up light
    from workflow.cli.directory import choose_directory  # noqa: PLC0415

    # The engine logs refusals as warnings for hosts; here the error line says it all,
    # and without a handler Python would print the warning to stderr as well.
    logging.getLogger("workflow").addHandler(logging.NullHandler())
    obj = ctx.obj
    calendar = load_calendar(obj.get("calendar"), obj["definitions"])
    with open_database(obj["db"]) as bind:
        # A YAML file, or the register in the database (see workflow.cli.directory).
        directory, _ = choose_directory(obj, bind)
        yield Engine.from_engine(
            bind,
            definitions=obj["definitions"],
            directory=directory,
            prefix=obj["prefix"],
            calendar=calendar,
        )


def load_calendar(path: str | None, definitions: str) -> BusinessCalendar:
    """Return the calendar: the given overrides file, the definitions' own, or the default."""
    from workflow.schedule.calendar import BusinessCalendar  # noqa: PLC0415

    if path is None:
        candidate = os.path.join(definitions, "_calendar", "china.yaml")
        if not os.path.isfile(candidate):
            return BusinessCalendar()
        path = candidate
    elif not os.path.isfile(path):
        raise CommandLineError(f"--calendar: no such file {path}", _NOT_FOUND)
    return BusinessCalendar.from_file(path)


def _output_options(function: F) -> F:
    function = click.option(
        "--lang",
        type=click.Choice(["en", "zh"]),
        default="en",
        show_default=True,
        help="Language of the labels.",
    )(function)
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")(
        function
    )


_as_option = click.option(
    "--as",
    "actor_text",
    required=True,
    metavar="ROLE:ID",
    help="Who acts, and in which role(s): office:office.li, unit:unit.chen, office,leader:li.",
)


# -- rendering --------------------------------------------------------------------------


def _item_json(item: ItemSnapshot, definition: Definition) -> dict[str, Any]:
    found: dict[str, Any] = jsonable(item)
    found["definition_version"] = definition.version
    return found


def _actor_text(actor_id: str, role: str | None) -> str:
    return f"{actor_id} ({role})" if role else actor_id


def _changes_text(row: HistoryEntry) -> str:
    """Say what a step changed; for a joint answer (which changes no field), what it said."""
    shown = row.input if row.kind == "answer" else row.changes
    if not shown:
        return ""
    parts = [
        f"{k}={shorten(v if isinstance(v, str) else json.dumps(v, ensure_ascii=False), 24)}"
        for k, v in shown.items()
        if v is not None
    ]
    return shorten(", ".join(parts), 64)


def _move_text(row: HistoryEntry) -> str:
    if row.from_state is None:
        return f"→ {row.to_state}"
    if row.from_state == row.to_state:
        return f"{row.to_state} (stays)"
    return f"{row.from_state} → {row.to_state}"


def _item_block(item: ItemSnapshot, definition: Definition, lang: Lang) -> list[tuple[str, Any]]:
    return [
        ("item", item.id),
        ("workflow", f"{item.workflow_id} v{definition.version}"),
        ("state", f"{state_label(definition, item.state, lang)} ({item.state})"),
        ("version", item.version),
        ("open", "yes" if item.is_open else f"no, closed {timestamp(item.closed_at)}"),
    ]


def _steps(engine: Engine, item: ItemSnapshot, after: int) -> list[HistoryEntry]:
    return [row for row in engine.history(item.id) if after < row.seq <= item.version]


def _print_steps(
    item: ItemSnapshot,
    definition: Definition,
    steps: Sequence[HistoryEntry],
    lang: Lang,
    as_json: bool,
) -> None:
    if as_json:
        click.echo(dumps({"item": _item_json(item, definition), "steps": steps}))
        return
    pairs = _item_block(item, definition, lang)
    for row in steps:
        pairs.append(
            (
                "step",
                f"#{row.seq} {event_label(definition, row.event, lang)}: {_move_text(row)} "
                f"by {_actor_text(row.actor_id, row.actor_role)}",
            )
        )
    click.echo(key_values(pairs))


# -- commands ---------------------------------------------------------------------------


@click.command("start")
@click.argument("workflow_id", metavar="WORKFLOW")
@_as_option
@click.option("--data", "data_text", metavar="JSON|@FILE", help="The new item's data.")
@click.option("--version", "version", type=int, help="Start on this definition version.")
@_output_options
@click.pass_context
def start(
    ctx: click.Context,
    *,
    workflow_id: str,
    actor_text: str,
    data_text: str | None,
    version: int | None,
    as_json: bool,
    lang: Lang,
) -> None:
    """Start a new item of WORKFLOW; print its id, state and version."""
    actor = parse_actor(actor_text)
    data = parse_data(data_text)
    with open_engine(ctx) as engine:
        item = engine.start(workflow_id, actor, data, version=version)
        definition = engine.definition(item)
        steps = _steps(engine, item, 0)
    _print_steps(item, definition, steps, lang, as_json)


@click.command("fire")
@click.argument("item_id", metavar="ITEM", type=int)
@click.argument("event")
@_as_option
@click.option("--data", "data_text", metavar="JSON|@FILE", help="The event's input.")
@click.option("--reason", help="Why (required by some events).")
@click.option(
    "--expect-version",
    "expected_version",
    type=int,
    metavar="N",
    help="Refuse (exit 7) unless the item is still at version N.",
)
@_output_options
@click.pass_context
def fire(
    ctx: click.Context,
    *,
    item_id: int,
    event: str,
    actor_text: str,
    data_text: str | None,
    reason: str | None,
    expected_version: int | None,
    as_json: bool,
    lang: Lang,
) -> None:
    """Fire EVENT on ITEM; print the item and the steps it took."""
    actor = parse_actor(actor_text)
    data = parse_data(data_text)
    with open_engine(ctx) as engine:
        before = engine.get(item_id)
        # Without --expect-version, a conflict with a concurrent writer (say, two
        # units answering a joint handling at once) is retried on fresh data.
        item = engine.fire(
            item_id,
            event,
            actor,
            data,
            reason=reason,
            expected_version=expected_version,
            retries=0 if expected_version is not None else _FIRE_RETRIES,
        )
        definition = engine.definition(item)
        steps = _steps(engine, item, before.version)
    _print_steps(item, definition, steps, lang, as_json)


@click.command("show")
@click.argument("item_id", metavar="ITEM", type=int)
@_output_options
@click.pass_context
def show(ctx: click.Context, item_id: int, as_json: bool, lang: Lang) -> None:
    """Show an item: state, data, and its joint-handling branches."""
    with open_engine(ctx) as engine:
        item = engine.get(item_id)
        definition = engine.definition(item)
        branches = engine.branches(item_id)
    # The branches that matter now: the latest round of the state the item is in.
    here = [b for b in branches if b.state == item.state]
    latest = max((b.opened_seq for b in here), default=None)
    current = [b for b in here if b.opened_seq == latest]
    if as_json:
        found = _item_json(item, definition)
        found["branches"] = jsonable(branches)
        click.echo(dumps(found))
        return
    pairs = _item_block(item, definition, lang)
    pairs += [
        ("created", f"{timestamp(item.created_at)} by {item.created_by}"),
        ("updated", timestamp(item.updated_at)),
    ]
    click.echo(key_values(pairs))
    click.echo("")
    names = list(definition.spec.fields)
    names += [k for k in item.data if k not in definition.spec.fields]
    rows = [
        (
            field_label(definition, name, lang),
            value_text(definition, name, item.data.get(name), lang),
        )
        for name in names
    ]
    click.echo(key_values(rows))
    if current:
        click.echo("")
        title = "會辦分支" if lang == "zh" else "joint handling"
        click.echo(
            key_values(
                (title if i == 0 else "", branch_text(b.unit, b.status, b.verdict, b.answered_by))
                for i, b in enumerate(current)
            )
        )


@click.command("history")
@click.argument("item_id", metavar="ITEM", type=int)
@_output_options
@click.pass_context
def history(ctx: click.Context, item_id: int, as_json: bool, lang: Lang) -> None:
    """Show an item's history, oldest first."""
    with open_engine(ctx) as engine:
        item = engine.get(item_id)
        rows = engine.history(item_id)
        definition = engine.definition(item)
    if as_json:
        click.echo(dumps(rows))
        return
    click.echo(
        table(
            ["seq", "time", "event", "from → to", "actor (role)", "reason", "changes"],
            [
                (
                    row.seq,
                    timestamp(row.at),
                    event_label(definition, row.event, lang),
                    _move_text(row),
                    _actor_text(row.actor_id, row.actor_role),
                    shorten(row.reason or "", 30),
                    _changes_text(row),
                )
                for row in rows
            ],
        )
    )


@click.command("events", short_help="List the events an actor may fire on ITEM now.")
@click.argument("item_id", metavar="ITEM", type=int)
@_as_option
@_output_options
@click.pass_context
def events(ctx: click.Context, item_id: int, actor_text: str, as_json: bool, lang: Lang) -> None:
    """List the events an actor may fire on ITEM now, and what each needs."""
    actor = parse_actor(actor_text)
    with open_engine(ctx) as engine:
        item = engine.get(item_id)
        found = engine.available_events(item_id, actor)
    if as_json:
        click.echo(dumps(found))
        return
    if not found:
        click.echo(f"{actor.id} may fire no event on item {item.id} in state {item.state}.")
        return
    needs = {"required": "required", "optional": "optional", "none": "no"}
    click.echo(
        table(
            ["event", "label", "as", "reason", "inputs (* required)", "to"],
            [
                (
                    e.name,
                    e.label_zh if lang == "zh" else e.label_en,
                    e.role,
                    needs.get(e.reason, e.reason),
                    ", ".join(f"{i}*" if i in e.required_inputs else i for i in e.inputs) or "—",
                    ", ".join(e.targets) or "(stays)",
                )
                for e in found
            ],
        )
    )


@click.command("list")
@click.option("--workflow", "workflow_id", metavar="W", help="Only items of this workflow.")
@click.option("--state", metavar="S", help="Only items in this state.")
@click.option("--open/--closed", "is_open", default=None, help="Only open (or closed) items.")
@click.option("--after", "after_id", type=int, metavar="ID", help="Start after this item id.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@_output_options
@click.pass_context
def list_command(
    ctx: click.Context,
    *,
    workflow_id: str | None,
    state: str | None,
    is_open: bool | None,
    after_id: int | None,
    limit: int,
    as_json: bool,
    lang: Lang,
) -> None:
    """List items by id, filtered; page with --after."""
    with open_engine(ctx) as engine:
        if workflow_id is not None:
            engine.catalog.get(workflow_id)  # an unknown workflow is an error, not "no items"
        found = engine.list(
            workflow_id=workflow_id, state=state, is_open=is_open, after_id=after_id, limit=limit
        )
        definitions = {item.definition_hash: engine.definition(item) for item in found}
    if as_json:
        click.echo(dumps([_item_json(i, definitions[i.definition_hash]) for i in found]))
        return
    if not found:
        click.echo("no items")
        return
    click.echo(
        table(
            ["id", "workflow", "state", "version", "open", "title", "updated"],
            [
                (
                    i.id,
                    i.workflow_id,
                    state_label(definitions[i.definition_hash], i.state, lang),
                    i.version,
                    "yes" if i.is_open else "no",
                    shorten(str(i.data.get("title") or ""), 48),
                    timestamp(i.updated_at),
                )
                for i in found
            ],
        )
    )
    if len(found) == limit:
        click.echo(f"(more may follow: --after {found[-1].id})", err=True)


@click.command("verify", short_help="Replay items' history against their stored state.")
@click.argument("item_ids", metavar="[ITEM]...", nargs=-1, type=int)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@click.pass_context
def verify(ctx: click.Context, item_ids: Sequence[int], as_json: bool) -> None:
    """Replay items' history and compare it with their state (default: all items).

    Exits 1 if any item's history disagrees with it.
    """
    results: list[dict[str, Any]] = []
    with open_engine(ctx) as engine:
        for item in _items_to_verify(engine, item_ids):
            problems = engine.verify(item.id)
            results.append({"id": item.id, "version": item.version, "problems": problems})
            if not as_json:
                if problems:
                    click.echo(f"item {item.id}: DISCREPANCY: {'; '.join(problems)}")
                else:
                    click.echo(f"item {item.id}: verified ({item.version} history rows)")
    bad = sum(1 for r in results if r["problems"])
    if as_json:
        click.echo(dumps([{**r, "ok": not r["problems"]} for r in results]))
    else:
        click.echo(f"{len(results)} item(s) verified, {bad} with discrepancies", err=True)
    if bad:
        ctx.exit(_BAD_INPUT)


def _items_to_verify(engine: Engine, item_ids: Sequence[int]) -> Iterator[ItemSnapshot]:
    if item_ids:
        for item_id in item_ids:
            yield engine.get(item_id)
        return
    after: int | None = None
    while True:
        page = engine.list(after_id=after, limit=_VERIFY_PAGE)
        yield from page
        if len(page) < _VERIFY_PAGE:
            return
        after = page[-1].id


@click.command("migrate")
@click.argument("workflow_id", metavar="WORKFLOW")
@click.option("--to-version", type=int, metavar="N", help="Target version [default: newest].")
@click.option(
    "--map",
    "maps",
    multiple=True,
    metavar="OLD=NEW",
    help="Move items in state OLD to state NEW (repeatable).",
)
@click.option("--dry-run", is_flag=True, help="Check and count, but move nothing.")
@click.option("--as", "actor_text", metavar="ROLE:ID", help="Who is recorded as migrating.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@click.pass_context
def migrate(
    ctx: click.Context,
    *,
    workflow_id: str,
    to_version: int | None,
    maps: Sequence[str],
    dry_run: bool,
    actor_text: str | None,
    as_json: bool,
) -> None:
    """Move running items of WORKFLOW to a newer definition version.

    Every item is checked first; if any cannot move, nothing moves (exit 5).
    """
    mapping = _parse_map(maps)
    actor = parse_actor(actor_text) if actor_text else None
    with open_engine(ctx) as engine:
        target = engine.catalog.get(workflow_id, to_version)
        plan = engine.migrate(
            workflow_id,
            to_version=to_version,
            state_map=mapping,
            actor=actor,
            dry_run=dry_run,
        )
    moved = sum(plan.values())
    if as_json:
        click.echo(
            dumps(
                {
                    "workflow": workflow_id,
                    "to_version": target.version,
                    "dry_run": dry_run,
                    "items": moved,
                    "moves": plan,
                }
            )
        )
        return
    if plan:
        click.echo(
            table(
                ["from → to", "items"],
                [(key.replace("->", " → "), count) for key, count in sorted(plan.items())],
            )
        )
    verb = "would move" if dry_run else "moved"
    click.echo(f"{verb} {moved} item(s) to {workflow_id} v{target.version}")


COMMANDS: tuple[click.Command, ...] = (
    start,
    fire,
    show,
    history,
    events,
    list_command,
    verify,
    migrate,
)
"""The item commands, for ``workflow.cli.main`` to register."""
