"""The ``workflow`` command line: the edge of the system.

Every command turns the engine's typed errors into one clear line on stderr
and a distinct exit code, never a traceback:

====  ==========================================================
code  meaning
====  ==========================================================
0     success
1     the input was checked and found wrong (e.g. ``validate``)
2     the command line itself is wrong (unknown option, …)
3     something named does not exist (workflow id, file)
4     an external tool failed or is missing (Graphviz)
5     refused by the lifecycle: the event is not allowed in the item's
      state, a guard is false, or running items cannot migrate as asked
      (EventNotAllowed, GuardFailed, MigrationRefused)
6     not authorized: the actor lacks the role, or its binding to the
      item (NotAuthorized)
7     conflict: the item changed meanwhile; read it again and retry
      (ConcurrentUpdate, e.g. with ``--expect-version``)
8     the database is not ready: tables missing or out of date (run
      ``workflow db upgrade``), or it cannot be reached (SchemaOutOfDate,
      StoreError)
====  ==========================================================

Within 1: InvalidInput (bad start data, event input or reason) and
DefinitionError (each problem on its own FILE:LINE:COLUMN line). Within 3:
DefinitionNotFound, ItemNotFound and UnknownEvent (no event of that name).

The item and database commands are global-option driven: ``--db URL``
(``WORKFLOW_DATABASE_URL``, default ``sqlite:///workflow.db`` in the
current folder), ``--directory FILE`` or ``--directory db``
(``WORKFLOW_DIRECTORY``; default the register in the database when it holds
entries, else the sample directory shipped in ``definitions/_directory/``;
see ``workflow.cli.directory``) and ``--prefix``
(``WORKFLOW_TABLE_PREFIX``, default ``wf_``). The notification commands
(``outbox dispatch``, the daemon) read ``--notifiers FILE``
(``WORKFLOW_NOTIFIERS``; default: the console channel alone).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from workflow.cli import db as db_commands
from workflow.cli import demo as demo_command
from workflow.cli import diff as diff_command
from workflow.cli import directory as directory_commands
from workflow.cli import items as item_commands
from workflow.cli import outbox as outbox_commands
from workflow.cli import reports as report_commands
from workflow.cli import scenarios as scenario_commands
from workflow.cli import timers as timer_commands
from workflow.cli.output import CommandLineError
from workflow.definition.loader import Catalog, load_catalog, load_definition
from workflow.errors import (
    ConcurrentUpdate,
    DefinitionError,
    DefinitionNotFound,
    EventNotAllowed,
    GuardFailed,
    ItemNotFound,
    MigrationRefused,
    NotAuthorized,
    StoreError,
    UnknownEvent,
    WorkflowError,
)

if TYPE_CHECKING:
    from workflow.definition.compiled import Definition
    from workflow.definition.graph import ItemPath

__all__ = [
    "EXIT_CONFLICT",
    "EXIT_DATABASE",
    "EXIT_EXTERNAL",
    "EXIT_INVALID",
    "EXIT_NOT_AUTHORIZED",
    "EXIT_NOT_FOUND",
    "EXIT_OK",
    "EXIT_REFUSED",
    "exit_code_for",
    "main",
    "shipped_definitions",
]

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_NOT_FOUND = 3
EXIT_EXTERNAL = 4
EXIT_REFUSED = 5
EXIT_NOT_AUTHORIZED = 6
EXIT_CONFLICT = 7
EXIT_DATABASE = 8

# The most specific class first; anything else the engine raises exits 1.
_EXIT_CODES: tuple[tuple[type[WorkflowError], int], ...] = (
    (DefinitionNotFound, EXIT_NOT_FOUND),
    (ItemNotFound, EXIT_NOT_FOUND),
    (UnknownEvent, EXIT_NOT_FOUND),
    (EventNotAllowed, EXIT_REFUSED),
    (GuardFailed, EXIT_REFUSED),
    (MigrationRefused, EXIT_REFUSED),
    (NotAuthorized, EXIT_NOT_AUTHORIZED),
    (ConcurrentUpdate, EXIT_CONFLICT),
    (StoreError, EXIT_DATABASE),
)

F = TypeVar("F", bound=Callable[..., Any])


def shipped_definitions() -> str:
    """Return the folder of the definitions shipped with the engine."""
    return str(Path(__file__).resolve().parents[2] / "definitions")


def _display(path: str) -> str:
    """Show paths under the current folder relative to it, like compilers do."""
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return path
    return path if relative.startswith("..") else relative


def _fail(message: str, code: int) -> None:
    click.echo(f"workflow: {message}", err=True)
    sys.exit(code)


def exit_code_for(error: WorkflowError) -> int:
    """Return the exit code for an engine error (see the table above)."""
    explicit = getattr(error, "exit_code", None)
    if isinstance(explicit, int):
        return explicit
    for kind, code in _EXIT_CODES:
        if isinstance(error, kind):
            return code
    return EXIT_INVALID


def _errors_to_exit_codes(function: F) -> F:
    """Run a command, turning the engine's errors into a message and exit code."""

    @wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except DefinitionError as error:
            for problem in error.problems:
                click.echo(str(problem), err=True)
            sys.exit(EXIT_INVALID)
        except WorkflowError as error:
            _fail(str(error), exit_code_for(error))
        return None

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--definitions",
    "definitions",
    envvar="WORKFLOW_DEFINITIONS",
    default=None,
    metavar="PATH",
    help="Folder (or file) of workflow definitions [default: the shipped ones].",
)
@click.option(
    "--db",
    "database_url",
    envvar="WORKFLOW_DATABASE_URL",
    default="sqlite:///workflow.db",
    show_default=True,
    metavar="URL",
    help="Database of the items (SQLAlchemy URL).",
)
@click.option(
    "--directory",
    "directory",
    envvar="WORKFLOW_DIRECTORY",
    default=None,
    metavar="PATH",
    help=(
        "Directory: a YAML file, or `db` for the register in the database "
        "[default: the register if it holds entries, else the shipped sample]."
    ),
)
@click.option(
    "--prefix",
    envvar="WORKFLOW_TABLE_PREFIX",
    default="wf_",
    show_default=True,
    help="Prefix of the workflow tables' names.",
)
@click.option(
    "--calendar",
    "calendar_file",
    envvar="WORKFLOW_CALENDAR",
    default=None,
    metavar="PATH",
    help=(
        "Business calendar overrides (YAML) [default: _calendar/china.yaml in the "
        "definitions folder, if present]."
    ),
)
@click.option(
    "--notifiers",
    "notifiers_file",
    envvar="WORKFLOW_NOTIFIERS",
    default=None,
    metavar="PATH",
    help="Notification channels (YAML: e-mail, webhooks, robots) [default: the console only].",
)
@click.pass_context
def main(
    ctx: click.Context,
    definitions: str | None,
    database_url: str,
    directory: str | None,
    prefix: str,
    calendar_file: str | None,
    notifiers_file: str | None,
) -> None:
    """Workflow engine for government service work (the Service Express)."""
    ctx.ensure_object(dict)
    ctx.obj["notifiers"] = notifiers_file
    ctx.obj["definitions"] = definitions or shipped_definitions()
    ctx.obj["db"] = database_url
    ctx.obj["directory"] = directory or item_commands.sample_directory()
    ctx.obj["directory_option"] = directory
    ctx.obj["prefix"] = prefix
    ctx.obj["calendar"] = calendar_file


def _catalog(ctx: click.Context) -> Catalog:
    catalog, problems = load_catalog([_display(ctx.obj["definitions"])])
    if problems:
        raise DefinitionError(problems)
    return catalog


@main.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.pass_context
@_errors_to_exit_codes
def validate(ctx: click.Context, paths: Sequence[str]) -> None:
    """Check definition files and print every problem as FILE:LINE:COLUMN: message.

    PATHS are files or folders (default: the definitions folder). Exits 1 if
    any problem is found. Scenario files in the folders' ``_scenarios/`` are
    checked too (their format and the names they use), not run.
    """
    from workflow.scenarios.loader import check_scenario_files  # noqa: PLC0415 - start-up

    targets = [_display(p) for p in (paths or [ctx.obj["definitions"]])]
    catalog, problems = load_catalog(targets)
    scenario_files, scenario_problems = check_scenario_files(targets, catalog)
    problems = sorted([*problems, *scenario_problems])
    for problem in problems:
        click.echo(str(problem))
    if problems:
        files = len({p.file for p in problems})
        noun = "problem" if len(problems) == 1 else "problems"
        click.echo(f"{len(problems)} {noun} in {files} file(s)", err=True)
        sys.exit(EXIT_INVALID)
    for definition in catalog:
        click.echo(
            f"ok  {definition.id} v{definition.version}  {definition.hash[:12]}  "
            f"{_display(definition.file)}",
            err=True,
        )
    click.echo(f"{len(catalog)} definition(s) valid", err=True)
    if scenario_files:
        click.echo(f"{scenario_files} scenario file(s) valid", err=True)


@main.command()
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), help="Write to this file, not stdout."
)
@click.option(
    "--fragment",
    is_flag=True,
    help="The schema of a partial (an included file) instead of a whole workflow.",
)
@click.option(
    "--reference",
    is_flag=True,
    help="The language reference in Markdown (docs/reference.md) instead of the JSON Schema.",
)
def schema(output: str | None, fragment: bool, reference: bool) -> None:
    """Print the JSON Schema of the definition language (for editors).

    The repository ships both: definitions/workflow.schema.json and, with
    --fragment, definitions/workflow-fragment.schema.json. With --reference it
    prints the language reference generated from the same models
    (docs/reference.md).
    """
    from workflow.definition.reference import reference_text  # noqa: PLC0415 - start-up
    from workflow.definition.schema import schema_text  # noqa: PLC0415

    if fragment and reference:
        raise click.UsageError("give --fragment or --reference, not both")
    text = reference_text() if reference else schema_text(fragment=fragment)
    if output:
        Path(output).write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)


@main.command()
@click.argument("target")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["mermaid", "dot", "svg"]),
    default="mermaid",
    show_default=True,
)
@click.option("--lang", type=click.Choice(["en", "zh"]), default="en", show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to this file.")
@click.option(
    "--item",
    "item_id",
    type=int,
    metavar="N",
    help="Highlight the path item N's history took (its states and transitions, in order).",
)
@click.option(
    "--db",
    "item_db",
    metavar="URL",
    default=None,
    help="The database of --item [default: the global --db].",
)
@click.pass_context
@_errors_to_exit_codes
def graph(
    ctx: click.Context,
    target: str,
    fmt: str,
    lang: str,
    output: str | None,
    item_id: int | None,
    item_db: str | None,
) -> None:
    """Draw a lifecycle: TARGET is a workflow id or a definition file.

    Time limits (⏱) and escalation ladders (⚠) are drawn on the diagram. With
    --item N, the item's own definition version is drawn and the path its
    history took is highlighted, each transition numbered with its history rows.
    """
    from workflow.definition.graph import render_svg, to_dot, to_mermaid  # noqa: PLC0415

    path: ItemPath | None = None
    if item_id is not None:
        definition, path = _item_path(ctx, target, item_id, item_db)
    elif os.path.isfile(target):
        definition = load_definition(_display(target))
    else:
        definition = _catalog(ctx).get(target)
    data: bytes
    if fmt == "mermaid":
        data = to_mermaid(definition, lang=lang, path=path).encode("utf-8")
    elif fmt == "dot":
        data = to_dot(definition, lang=lang, path=path).encode("utf-8")
    else:
        data = render_svg(to_dot(definition, lang=lang, path=path))
    if output:
        Path(output).write_bytes(data)
    else:
        click.echo(data.decode("utf-8"), nl=False)


def _item_path(
    ctx: click.Context, target: str, item_id: int, url: str | None
) -> tuple[Definition, ItemPath]:
    """Return the definition version item ``item_id`` is pinned to, and its history's path."""
    if url is not None:
        ctx.obj["db"] = url
    with item_commands.open_engine(ctx) as engine:
        item = engine.get(item_id)
        definition = engine.definition(item)
        rows = engine.history(item_id)
    from workflow.definition.graph import ItemPath  # noqa: PLC0415 - keep start-up light

    named = load_definition(_display(target)).id if os.path.isfile(target) else target
    if named != definition.id:
        raise CommandLineError(
            f"item {item_id} is a {definition.id!r} item, not {named!r}", EXIT_NOT_FOUND
        )
    return definition, ItemPath.from_history(rows)


def _with_exit_codes(command: click.Command) -> click.Command:
    """Wrap the callback of a command (and of a group's commands) in the error wrapper."""
    if command.callback is not None:
        command.callback = _errors_to_exit_codes(command.callback)
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _with_exit_codes(sub)
    return command


for _command in (*item_commands.COMMANDS, db_commands.db, demo_command.demo):
    main.add_command(_with_exit_codes(_command))
main.add_command(_with_exit_codes(timer_commands.tick))
main.add_command(_with_exit_codes(timer_commands.daemon))
main.add_command(_with_exit_codes(timer_commands.review))
main.add_command(_with_exit_codes(outbox_commands.outbox))
main.add_command(_with_exit_codes(report_commands.report))
main.add_command(_with_exit_codes(scenario_commands.test))
main.add_command(_with_exit_codes(directory_commands.directory))
main.add_command(_with_exit_codes(diff_command.diff))
