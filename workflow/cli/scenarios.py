"""``workflow test``: run scenario files and report like pytest (see docs/scenarios.md).

Exit codes follow :mod:`workflow.cli.main`: 0 when every scenario passed
(and coverage reached ``--fail-under``), 1 when a scenario failed, a file
is invalid (each problem on a FILE:LINE:COLUMN line) or coverage fell
short, 3 when a path named does not exist.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence

import click

__all__ = ["test"]

_FAILED = 1
_NOT_FOUND = 3


def _display(path: str) -> str:
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


@click.command(name="test")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option(
    "--coverage", "show_coverage", is_flag=True, help="Report what no scenario exercised."
)
@click.option("--json", "as_machine", is_flag=True, help="Print the results as JSON.")
@click.option(
    "-k",
    "select",
    default=None,
    metavar="NAME",
    help="Run only scenarios whose name contains NAME (or matches it as a shell pattern).",
)
@click.option(
    "--fail-under",
    type=click.FloatRange(0, 100),
    default=None,
    metavar="PERCENT",
    help="With --coverage: exit 1 if a workflow's coverage is below PERCENT.",
)
@click.pass_context
def test(
    ctx: click.Context,
    paths: Sequence[str],
    show_coverage: bool,
    as_machine: bool,
    select: str | None,
    fail_under: float | None,
) -> None:
    """Run scenario tests: PATHS are scenario files or folders with `_scenarios/` in them.

    Default: the definitions folder. Each scenario runs on its own in-memory
    store with a simulated clock; failures print as FILE:LINE:COLUMN with the
    expected and the actual value.
    """
    # The runner brings the dispatcher and the channels: imported only to run scenarios.
    from workflow.scenarios.coverage import coverage  # noqa: PLC0415
    from workflow.scenarios.report import as_json, as_text, coverage_text  # noqa: PLC0415
    from workflow.scenarios.runner import run_scenarios  # noqa: PLC0415

    targets = [_display(p) for p in (paths or [ctx.obj["definitions"]])]
    missing = [p for p in targets if not os.path.exists(p)]
    if missing:
        for path in missing:
            click.echo(f"workflow: no such file or folder: {path}", err=True)
        sys.exit(_NOT_FOUND)
    started = time.perf_counter()
    results = run_scenarios(targets, select=select)
    elapsed = time.perf_counter() - started
    found = coverage(results) if show_coverage or fail_under is not None else None
    if as_machine:
        click.echo(as_json(results, elapsed, found))
    else:
        for line in as_text(results, elapsed):
            click.echo(line)
        if found is not None:
            for line in coverage_text(found):
                click.echo(line)
    if not results.results and not results.problems:
        click.echo("workflow: no scenarios found (they live in _scenarios/ folders)", err=True)
        sys.exit(_FAILED)
    short = [c for c in found or () if fail_under is not None and c.percent < fail_under]
    for item in short:
        click.echo(
            f"workflow: {item.workflow} coverage {item.percent:.0f}% is under {fail_under:g}%",
            err=True,
        )
    if not results.passed or short:
        sys.exit(_FAILED)
