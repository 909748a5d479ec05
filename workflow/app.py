"""The embeddable engine: the core wired to the SQL store and a directory.

This is the class hosts use (``workflow.Engine``). The core
(:class:`workflow.core.engine.Core`) knows only the ports; this module picks
the adapters: :class:`~workflow.store.sql.SqlStore` over a SQLAlchemy engine
or a host's connection, and a directory (the host's, or a static one).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import Connection
from sqlalchemy import Engine as SqlEngine

from workflow.core.clock import SystemClock
from workflow.core.engine import Core
from workflow.core.ports import Calendar, Clock, Directory
from workflow.definition.loader import Catalog, load_catalog
from workflow.directory.static import StaticDirectory
from workflow.errors import DefinitionError
from workflow.schedule.calendar import BusinessCalendar
from workflow.store.migrate import check_schema
from workflow.store.schema import DEFAULT_PREFIX
from workflow.store.sql import SqlStore, create_database_engine

__all__ = ["DEFAULT_DATABASE_URL", "Engine", "load_definitions", "shipped_definitions"]

DEFAULT_DATABASE_URL = "sqlite:///workflow.db"


def shipped_definitions() -> str:
    """Return the folder of the definitions shipped with the engine."""
    return str(Path(__file__).resolve().parents[1] / "definitions")


def load_definitions(
    definitions: Catalog | str | os.PathLike[str] | Iterable[str] | None,
) -> Catalog:
    """Return a catalog from a catalog, a path, several paths, or None (the shipped ones)."""
    if isinstance(definitions, Catalog):
        return definitions
    if definitions is None:
        paths = [shipped_definitions()]
    elif isinstance(definitions, str | os.PathLike):
        paths = [os.fspath(definitions)]
    else:
        paths = [os.fspath(p) for p in definitions]
    catalog, problems = load_catalog(paths)
    if problems:
        raise DefinitionError(problems)
    return catalog


class Engine(Core):
    """The workflow engine over a SQL database.

    >>> engine = Engine.from_url("sqlite:///workflow.db")  # doctest: +SKIP
    >>> item = engine.start("enterprise_issue", actor, {...})  # doctest: +SKIP

    The database must have been upgraded (``workflow db upgrade`` or
    :func:`workflow.store.migrate.upgrade`); nothing is created implicitly.
    """

    store: SqlStore

    def __init__(
        self,
        store: SqlStore,
        definitions: Catalog,
        *,
        directory: Directory,
        clock: Clock | None = None,
        calendar: Calendar | None = None,
    ) -> None:
        super().__init__(
            store,
            definitions,
            directory=directory,
            clock=clock,
            calendar=calendar if calendar is not None else BusinessCalendar(),
            # Intents carry only the item fields their templates read.
            templates=definitions.templates,
        )

    @classmethod
    def from_engine(
        cls,
        bind: SqlEngine,
        *,
        definitions: Catalog | str | Iterable[str] | None = None,
        directory: Directory | None = None,
        prefix: str = DEFAULT_PREFIX,
        schema: str | None = None,
        clock: Clock | None = None,
        calendar: Calendar | None = None,
        check: bool = True,
    ) -> Engine:
        """Build an engine over a SQLAlchemy engine the host created.

        For SQLite, prefer :func:`workflow.store.sql.create_database_engine`,
        which sets WAL mode and ``BEGIN IMMEDIATE`` writes.
        """
        if check:
            with bind.connect() as connection:
                check_schema(connection, prefix=prefix, schema=schema)
        store = SqlStore(bind, prefix=prefix, schema=schema)
        return cls(
            store,
            load_definitions(definitions),
            directory=directory or StaticDirectory(),
            clock=clock or SystemClock(),
            calendar=calendar,
        )

    @classmethod
    def from_url(
        cls,
        url: str = DEFAULT_DATABASE_URL,
        *,
        definitions: Catalog | str | Iterable[str] | None = None,
        directory: Directory | None = None,
        prefix: str = DEFAULT_PREFIX,
        schema: str | None = None,
        clock: Clock | None = None,
        calendar: Calendar | None = None,
        check: bool = True,
    ) -> Engine:
        """Build an engine (and its own connection pool) from a database URL."""
        return cls.from_engine(
            create_database_engine(url),
            definitions=definitions,
            directory=directory,
            prefix=prefix,
            schema=schema,
            clock=clock,
            calendar=calendar,
            check=check,
        )

    def using(self, connection: Connection) -> Engine:
        """Return an engine whose reads and writes run on a host's connection.

        Everything joins the host's transaction: the host commits or rolls
        back our rows together with its own.
        """
        return Engine(
            self.store.bound(connection),
            self.catalog,
            directory=self.directory,
            clock=self.clock,
            calendar=self.calendar,
        )

    def dispose(self) -> None:
        """Close the engine's own database connections."""
        self.store.close()
        if self.store.engine is not None:
            self.store.engine.dispose()
