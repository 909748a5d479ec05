"""``workflow directory import|export|show``, and which directory the engine's commands use.

Which directory the item, timer and outbox commands use (:func:`choose_directory`):

1. ``--directory FILE`` (or ``WORKFLOW_DIRECTORY``): that YAML file, as always;
2. ``--directory db``: the register in the database, even when it is empty;
3. neither: the register when it holds any entry, else the shipped sample
   file (so a fresh database behaves as before the register existed).

``workflow directory show`` prints which one that is.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import click

from workflow.cli.db import open_database
from workflow.cli.output import CommandLineError, dumps, key_values, table
from workflow.errors import DirectoryImportError, StoreError

if TYPE_CHECKING:
    from sqlalchemy import Engine as SqlEngine

    from workflow.directory.register import RegisterDirectory
    from workflow.directory.static import StaticDirectory

__all__ = ["DB_SOURCE", "choose_directory", "directory"]

DB_SOURCE = "db"
"""The ``--directory`` value that selects the register in the database."""

_NOT_FOUND = 3
_INVALID = 1
_KIND_CHOICES = ("districts", "units", "enterprises", "people")


def sample_directory() -> str:
    """Return the sample directory file shipped with the definitions."""
    from workflow.cli.items import sample_directory as shipped  # noqa: PLC0415

    return shipped()


def choose_directory(
    obj: Mapping[str, Any], bind: SqlEngine
) -> tuple[StaticDirectory | RegisterDirectory, str]:
    """Return the directory the engine's commands use, and a line saying which it is."""
    from workflow.directory.register import RegisterDirectory  # noqa: PLC0415
    from workflow.directory.static import StaticDirectory  # noqa: PLC0415

    given: str | None = obj.get("directory_option")
    prefix: str = obj["prefix"]
    if given == DB_SOURCE:
        return RegisterDirectory(
            bind, prefix=prefix
        ), f"the register in the database ({prefix}dir_*)"
    if given is None:
        register = RegisterDirectory(bind, prefix=prefix)
        try:
            empty = register.is_empty()
        except StoreError:
            # Tables missing or behind: the engine's own schema check says what to do.
            empty = True
        if not empty:
            return register, f"the register in the database ({prefix}dir_*)"
    path = given or obj.get("directory") or sample_directory()
    if not os.path.isfile(path):
        raise CommandLineError(f"--directory: no such file {path}", _NOT_FOUND)
    what = "the file" if given else "the shipped sample file (the register is empty)"
    return StaticDirectory.from_file(path), f"{what} {path}"


@contextmanager
def _database(ctx: click.Context) -> Iterator[SqlEngine]:
    from workflow.store.migrate import check_schema  # noqa: PLC0415

    with open_database(ctx.obj["db"]) as bind:
        with bind.connect() as conn:
            check_schema(conn, prefix=ctx.obj["prefix"])
        yield bind


@click.group("directory")
def directory() -> None:
    """Import, export and show the register of enterprises, units, districts and people.

    The engine's commands use it when it holds entries and no --directory
    FILE is given (--directory db: always). See docs/directory.md.
    """


@directory.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path())
@click.option(
    "--replace",
    is_flag=True,
    help="Make the register exactly these files [default: merge: entries named replace theirs].",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@click.pass_context
def import_command(ctx: click.Context, files: Sequence[str], replace: bool, as_json: bool) -> None:
    """Import FILES: <kind>.csv, an .xlsx workbook (a sheet per kind) or the YAML form.

    Every problem is printed as FILE [SHEET], row R, column C: what is wrong;
    if there is any, nothing is written and the command exits 1.
    """
    from workflow.directory.importer import import_directory  # noqa: PLC0415

    with _database(ctx) as bind:
        try:
            report = import_directory(bind, list(files), replace=replace, prefix=ctx.obj["prefix"])
        except DirectoryImportError as error:
            for problem in error.problems:
                click.echo(str(problem), err=True)
            count = len(error.problems)
            click.echo(f"{count} problem{'s' if count != 1 else ''}: nothing imported", err=True)
            sys.exit(_INVALID)
    if as_json:
        click.echo(dumps({"mode": "replace" if replace else "merge", "imported": report.counts}))
        return
    mode = "replaced the register with" if replace else "merged"
    parts = ", ".join(f"{n} {kind}" for kind, n in report.counts.items())
    click.echo(f"{mode} {parts}")


@directory.command("export")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "xlsx"]),
    default=None,
    help="csv: a file per kind in the folder PATH; xlsx: one workbook [default: by PATH's suffix].",
)
@click.option("-o", "--output", required=True, type=click.Path(), metavar="PATH")
@click.pass_context
def export_command(ctx: click.Context, fmt: str | None, output: str) -> None:
    """Write the register out, in the columns `directory import` reads."""
    from workflow.directory.export import export_directory  # noqa: PLC0415

    chosen = fmt or ("xlsx" if output.casefold().endswith(".xlsx") else "csv")
    with _database(ctx) as bind:
        written = export_directory(bind, output, format=chosen, prefix=ctx.obj["prefix"])
    for path in written:
        click.echo(str(path))


@directory.command("show")
@click.argument("enterprise", required=False)
@click.option("--kind", type=click.Choice(_KIND_CHOICES), help="List the entries of one kind.")
@click.option("--lang", type=click.Choice(["en", "zh"]), default="zh", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@click.pass_context
def show_command(
    ctx: click.Context, enterprise: str | None, kind: str | None, lang: str, as_json: bool
) -> None:
    """Say which directory the commands use; show an ENTERPRISE or list a --kind of entry."""
    from workflow.directory.register import RegisterDirectory  # noqa: PLC0415
    from workflow.directory.store import count_entries, tables_for  # noqa: PLC0415

    with _database(ctx) as bind:
        _, source = choose_directory(ctx.obj, bind)
        register = RegisterDirectory(bind, prefix=ctx.obj["prefix"])
        if enterprise is not None:
            _show_enterprise(register, enterprise, source, lang, as_json)
            return
        if kind is not None:
            entries = getattr(register.load(), kind)
            if as_json:
                click.echo(dumps({"source": source, kind: [asdict(e) for e in entries]}))
                return
            click.echo(f"in use: {source}")
            click.echo(_entries_table(kind, entries, register, lang))
            return
        with bind.connect() as conn:
            counts = count_entries(conn, tables_for(ctx.obj["prefix"]))
    if as_json:
        click.echo(dumps({"source": source, "register": counts}))
        return
    click.echo(key_values([("in use", source), *((f"register {k}", n) for k, n in counts.items())]))


def _show_enterprise(
    register: RegisterDirectory, enterprise_id: str, source: str, lang: str, as_json: bool
) -> None:
    found = register.enterprise(enterprise_id)
    if found is None:
        raise CommandLineError(f"no enterprise {enterprise_id!r} in the register", _NOT_FOUND)
    if as_json:
        click.echo(dumps({"source": source, "enterprise": asdict(found)}))
        return
    district = _name(register, "district", found.district, lang)
    sector = _name(register, "sector", found.sector, lang)
    people = [
        (label, ", ".join(f"{_name(register, 'person', p, lang)} ({p})" for p in ids))
        for label, ids in (("contacts", found.contacts), ("commissioners", found.commissioners))
    ]
    click.echo(
        key_values(
            [
                ("in use", source),
                ("id", found.id),
                ("name", found.name_zh),
                ("name (en)", found.name_en),
                ("credit code", found.credit_code or ""),
                ("sector", sector),
                ("district", district),
                *people,
            ]
        )
    )


def _entries_table(
    kind: str, entries: Sequence[Any], register: RegisterDirectory, lang: str
) -> str:
    if kind == "people":
        return table(
            ["id", "name", "locale", "groups", "channels"],
            [
                (p.id, p.name, p.locale or "", ", ".join(p.groups), ", ".join(sorted(p.addresses)))
                for p in entries
            ],
        )
    if kind == "enterprises":
        return table(
            ["id", "name", "sector", "district", "commissioners"],
            [
                (
                    e.id,
                    e.name_zh if lang == "zh" else e.name_en or e.name_zh,
                    _name(register, "sector", e.sector, lang),
                    _name(register, "district", e.district, lang),
                    ", ".join(e.commissioners),
                )
                for e in entries
            ],
        )
    return table(
        ["id", "name", "contacts"],
        [
            (
                e.id,
                e.name_zh if lang == "zh" else e.name_en or e.name_zh,
                ", ".join(e.links.get("members", ())),
            )
            for e in entries
        ],
    )


def _name(register: RegisterDirectory, kind: str, entry: str | None, lang: str) -> str:
    if not entry:
        return ""
    return register.display_name(kind, entry, lang) or entry
