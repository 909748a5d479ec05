"""The ``workflow report`` command: a report for a period, in a format, to a file or stdout.

Like the item commands it opens the engine over ``--db`` with the
definitions of ``--definitions``. Display names come from the engine's
directory when it can give them (``display_name``); otherwise ids are shown.
Text formats go to stdout unless ``-o`` names a file; an Excel workbook
needs ``-o``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from workflow.cli.items import open_engine
from workflow.cli.output import CommandLineError
from workflow.cli.timers import parse_time

__all__ = ["COMMANDS", "report"]

_BAD_COMMAND_LINE = 2

# Kept here (not imported) so that `workflow --help` does not load the reports.
_NAMES = ("problem-list", "dispatch-sheet", "circular", "assessment", "star-list")
_FORMATS = ("table", "markdown", "csv", "xlsx", "html")
_GROUPINGS = ("district", "unit", "sector", "enterprise")


@click.command("report")
@click.argument("name", type=click.Choice(_NAMES))
@click.option(
    "--period",
    required=True,
    metavar="PERIOD",
    help="A month (2026-11), quarter (2026-Q3), half-year (2026-H2) or year (2026).",
)
@click.option(
    "--by",
    type=click.Choice(_GROUPINGS),
    default=None,
    help="Grouping of the problem list and the circular "
    "[default: unit for the problem list, district for the circular].",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(_FORMATS),
    default="table",
    show_default=True,
    help="Output format.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Write to this file [default: stdout; required for xlsx].",
)
@click.option(
    "--lang",
    type=click.Choice(["en", "zh"]),
    default="en",
    show_default=True,
    help="Language of headings and labels.",
)
@click.option(
    "--now",
    "now_text",
    metavar="ISO8601",
    help="Make the report as of this time [default: now]; a running period ends here.",
)
@click.option(
    "--workflow",
    "workflow_id",
    default="enterprise_issue",
    show_default=True,
    help="The workflow whose items the report covers.",
)
@click.option(
    "--weights",
    default=None,
    metavar="NAME=W,...",
    help="Assessment weights: on_time, satisfaction, no_reopen, prompt_sign_for "
    "[default: 0.4, 0.3, 0.15, 0.15].",
)
@click.pass_context
def report(
    ctx: click.Context,
    name: str,
    period: str,
    by: str | None,
    fmt: str,
    output: str | None,
    lang: str,
    now_text: str | None,
    workflow_id: str,
    weights: str | None,
) -> None:
    """Make report NAME for a period (docs/reports.md defines every figure).

    NAME is problem-list (問題清單: open items by responsible unit),
    dispatch-sheet (季調度: items before the city leaders, with history and
    decisions), circular (通報: figures per district, unit or sector, ranked
    against the previous period), assessment (年考核: year-end scores per
    unit and district) or star-list (明星企業榜單: a half-year's nominations
    ranked by weighted total; --period 2026-H1).
    """
    from workflow.reports import (  # noqa: PLC0415 - keep start-up light
        NameDirectory,
        build_report,
        parse_weights,
        render_report,
    )
    from workflow.schedule.reviews import timezone_of  # noqa: PLC0415

    if fmt == "xlsx" and output is None:
        raise CommandLineError("--format xlsx writes a workbook: name the file with -o", 2)
    chosen = parse_weights(weights) if weights else None
    with open_engine(ctx) as engine:
        now = parse_time(now_text, "--now", timezone_of(engine)) if now_text else None
        directory = engine.directory
        made = build_report(
            engine,
            name,
            period,
            by=by,
            lang="zh" if lang == "zh" else "en",
            names=directory if isinstance(directory, NameDirectory) else None,
            now=now,
            workflow_id=workflow_id,
            weights=chosen,
        )
    data = render_report(made, fmt)
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    Path(output).write_bytes(data)
    click.echo(f"{made.title.get(made.lang)} {made.period}: {output}", err=True)


COMMANDS: tuple[click.Command, ...] = (report,)
