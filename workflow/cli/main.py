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
====  ==========================================================
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from workflow.definition.graph import render_svg, to_dot, to_mermaid
from workflow.definition.loader import Catalog, load_catalog, load_definition
from workflow.definition.schema import schema_text
from workflow.errors import DefinitionError, DefinitionNotFound, WorkflowError

__all__ = [
    "EXIT_EXTERNAL",
    "EXIT_INVALID",
    "EXIT_NOT_FOUND",
    "EXIT_OK",
    "main",
    "shipped_definitions",
]

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_NOT_FOUND = 3
EXIT_EXTERNAL = 4

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
        except DefinitionNotFound as error:
            _fail(str(error), EXIT_NOT_FOUND)
        except WorkflowError as error:
            code = getattr(error, "exit_code", EXIT_INVALID)
            _fail(str(error), code)
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
@click.pass_context
def main(ctx: click.Context, definitions: str | None) -> None:
    """Workflow engine for government service work (the Service Express)."""
    ctx.ensure_object(dict)
    ctx.obj["definitions"] = definitions or shipped_definitions()


def _catalog(ctx: click.Context) -> Catalog:
    catalog, problems = load_catalog([ctx.obj["definitions"]])
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
    any problem is found.
    """
    targets = [_display(p) for p in (paths or [ctx.obj["definitions"]])]
    catalog, problems = load_catalog(targets)
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


@main.command()
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), help="Write to this file, not stdout."
)
def schema(output: str | None) -> None:
    """Print the JSON Schema of the definition language (for editors)."""
    text = schema_text()
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
@click.pass_context
@_errors_to_exit_codes
def graph(ctx: click.Context, target: str, fmt: str, lang: str, output: str | None) -> None:
    """Draw a lifecycle: TARGET is a workflow id or a definition file."""
    definition = load_definition(target) if os.path.isfile(target) else _catalog(ctx).get(target)
    data: bytes
    if fmt == "mermaid":
        data = to_mermaid(definition, lang=lang).encode("utf-8")
    elif fmt == "dot":
        data = to_dot(definition, lang=lang).encode("utf-8")
    else:
        data = render_svg(to_dot(definition, lang=lang))
    if output:
        Path(output).write_bytes(data)
    else:
        click.echo(data.decode("utf-8"), nl=False)
