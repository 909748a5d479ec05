"""``workflow db``: create, upgrade and check the workflow tables.

``workflow db upgrade`` is the only command that creates or changes tables;
every other command checks that the tables are at the newest revision and
stops with exit code 8 (and the hint to upgrade) when they are not.

SQLAlchemy and Alembic are imported inside the functions, so that commands
which never touch a database (``validate``, ``graph``) start quickly.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from workflow.cli.output import dumps, key_values
from workflow.errors import StoreError

if TYPE_CHECKING:
    from sqlalchemy import Engine as SqlEngine

__all__ = ["database_errors", "db", "display_url", "open_database", "require_database_file"]


def display_url(url: str) -> str:
    """Return a database URL fit for printing (the password hidden)."""
    from sqlalchemy.engine import make_url  # noqa: PLC0415 - keep start-up light
    from sqlalchemy.exc import ArgumentError  # noqa: PLC0415

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def sqlite_file(url: str) -> str | None:
    """Return the file of a SQLite URL (None for other databases and in-memory ones)."""
    from sqlalchemy.engine import make_url  # noqa: PLC0415
    from sqlalchemy.exc import ArgumentError  # noqa: PLC0415

    try:
        parsed = make_url(url)
    except ArgumentError as error:
        raise StoreError(f"bad database URL {url!r}: {error}") from None
    if parsed.get_backend_name() != "sqlite" or parsed.query.get("uri"):
        return None
    database = parsed.database or ""
    return None if database in ("", ":memory:") else database


def require_database_file(url: str) -> None:
    """Refuse a SQLite URL whose file does not exist, rather than create an empty file.

    SQLite creates a missing file on connect; for anything but ``db upgrade``
    that would only leave an empty ``workflow.db`` behind a typo.
    """
    path = sqlite_file(url)
    if path is not None and not os.path.exists(path):
        raise StoreError(
            f"no database at {url} (file {path} does not exist): "
            "run `workflow db upgrade` to create it, or give --db"
        )


@contextmanager
def database_errors() -> Iterator[None]:
    """Turn a database driver's errors into a one-line :class:`StoreError` (exit code 8)."""
    from sqlalchemy.exc import SQLAlchemyError  # noqa: PLC0415

    try:
        yield
    except SQLAlchemyError as error:
        cause = getattr(error, "orig", None) or error
        lines = str(cause).strip().splitlines() or [type(cause).__name__]
        raise StoreError(f"database error: {lines[0]}") from error


@contextmanager
def open_database(url: str, *, create: bool = False) -> Iterator[SqlEngine]:
    """Yield a SQLAlchemy engine for ``url`` (disposed afterwards), database errors translated.

    Without ``create``, a missing SQLite file is an error rather than created.
    """
    from workflow.store.sql import create_database_engine  # noqa: PLC0415

    if not create:
        require_database_file(url)
    with database_errors():
        bind = create_database_engine(url)
        try:
            yield bind
        finally:
            bind.dispose()


@click.group("db")
def db() -> None:
    """Create, upgrade and check the workflow tables.

    The tables live in the database of --db, their names start with --prefix.
    """


@db.command("upgrade")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@click.pass_context
def upgrade_command(ctx: click.Context, as_json: bool) -> None:
    """Create the workflow tables, or bring them to the newest revision.

    Safe to run again (it does nothing when already at the newest) and from
    several processes at once (they queue on a database lock).
    """
    from alembic.util import CommandError  # noqa: PLC0415

    from workflow.store.migrate import HEAD_REVISION, current_revision, upgrade  # noqa: PLC0415

    url, prefix = ctx.obj["db"], ctx.obj["prefix"]
    with open_database(url, create=True) as bind:
        before = current_revision(bind, prefix=prefix)
        try:
            upgrade(bind, prefix=prefix)
        except CommandError as error:
            # Alembic's own words, e.g. a revision from a newer release of the engine.
            raise StoreError(f"cannot upgrade the workflow tables: {error}") from None
        after = current_revision(bind, prefix=prefix)
    if as_json:
        click.echo(
            dumps(
                {
                    "database": display_url(url),
                    "prefix": prefix,
                    "before": before,
                    "after": after,
                    "head": HEAD_REVISION,
                    "changed": before != after,
                }
            )
        )
    elif before == after:
        click.echo(f"{display_url(url)}: tables {prefix}* already at revision {after} (newest)")
    else:
        was = f"revision {before}" if before else "nothing"
        click.echo(f"{display_url(url)}: tables {prefix}* upgraded from {was} to revision {after}")


@db.command("check")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@click.pass_context
def check_command(ctx: click.Context, as_json: bool) -> None:
    """Exit 0 when the tables are at the newest revision, else 8 with what to do."""
    from workflow.store.migrate import HEAD_REVISION, check_schema  # noqa: PLC0415

    url, prefix = ctx.obj["db"], ctx.obj["prefix"]
    with open_database(url) as bind:
        check_schema(bind, prefix=prefix)
    if as_json:
        click.echo(dumps({"database": display_url(url), "prefix": prefix, "at": HEAD_REVISION}))
    else:
        click.echo(f"{display_url(url)}: tables {prefix}* at revision {HEAD_REVISION} (newest)")


@db.command("current")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@click.pass_context
def current_command(ctx: click.Context, as_json: bool) -> None:
    """Print the revision of the tables ("none" before the first upgrade)."""
    from workflow.store.migrate import HEAD_REVISION, current_revision  # noqa: PLC0415

    url, prefix = ctx.obj["db"], ctx.obj["prefix"]
    current: str | None = None
    if sqlite_file(url) is None or os.path.exists(sqlite_file(url) or ""):
        with open_database(url) as bind:
            current = current_revision(bind, prefix=prefix)
    if as_json:
        click.echo(
            dumps(
                {
                    "database": display_url(url),
                    "prefix": prefix,
                    "current": current,
                    "head": HEAD_REVISION,
                    "at_head": current == HEAD_REVISION,
                }
            )
        )
        return
    click.echo(
        key_values(
            [
                ("database", display_url(url)),
                ("prefix", prefix),
                ("current", current or "none (run `workflow db upgrade`)"),
                ("newest", HEAD_REVISION),
            ]
        )
    )
