"""Create and upgrade the workflow tables, and check that they are current.

Only :func:`upgrade` creates or changes tables; nothing else in the package
does so implicitly. Engines call :func:`check_schema` at start-up, which
raises :class:`~workflow.errors.SchemaOutOfDate` until someone runs
``workflow db upgrade`` (or calls :func:`upgrade` from the host's own
deployment step).

The migrations are Alembic scripts shipped inside the package
(``workflow/store/migrations``). They keep their own version table,
``<prefix>alembic_version``, so a host that manages its own tables with
Alembic keeps its ``alembic_version`` untouched; :func:`include_name_filter`
keeps the host's autogenerate away from our tables.

Tables may live in a PostgreSQL schema: pass ``schema=`` or hand in a
connection whose ``schema_translate_map`` maps ``None`` to that schema.
"""

from __future__ import annotations

import contextlib
import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import alembic.context
import alembic.op
from alembic import command
from alembic.config import Config
from alembic.runtime.environment import IncludeNameFn, NameFilterParentNames, NameFilterType
from alembic.script import ScriptDirectory
from alembic.script.revision import ResolutionError
from alembic.util import CommandError
from sqlalchemy import Column, Connection, Engine, MetaData, String, Table, inspect, select, text
from sqlalchemy.exc import DBAPIError

from workflow.errors import SchemaOutOfDate, StoreError
from workflow.store.schema import DEFAULT_PREFIX, build_tables

__all__ = [
    "HEAD_REVISION",
    "MIGRATIONS_DIR",
    "alembic_config",
    "check_schema",
    "current_revision",
    "include_name_filter",
    "upgrade",
]

HEAD_REVISION: str = "0006"
"""The newest migration revision; :func:`check_schema` requires the database to be at it."""

MIGRATIONS_DIR: Path = Path(__file__).resolve().parent / "migrations"
"""The Alembic script directory shipped inside the package."""

# How long MySQL/MariaDB waits for another upgrader's lock, in seconds.
_MYSQL_LOCK_TIMEOUT = 60

# Alembic publishes the running migration through module-level proxies
# (``alembic.context``, ``alembic.op``), which are process globals: two threads
# running migrations at once (say, for two prefixes) would send each other's
# operations to the wrong connection. Runs are rare and short, so serialize
# them within the process. Always taken *after* the database lock of the
# tables being migrated, so whoever holds it already owns those tables and its
# DDL does not wait on another upgrader: the two locks cannot deadlock.
_ALEMBIC_RUN_LOCK = threading.Lock()

_MYSQL_NAMES = ("mysql", "mariadb")


def alembic_config(
    connection: Connection | None = None, *, prefix: str = DEFAULT_PREFIX, schema: str | None = None
) -> Config:
    """Build the Alembic configuration in code (there is no ``alembic.ini``).

    ``env.py`` reads the connection, prefix and schema from ``Config.attributes``.
    """
    config = Config()
    # Config values go through configparser interpolation: escape '%' in the path.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.attributes["connection"] = connection
    config.attributes["table_prefix"] = prefix
    config.attributes["schema"] = schema
    return config


def upgrade(
    bind: Engine | Connection,
    *,
    prefix: str = DEFAULT_PREFIX,
    schema: str | None = None,
    revision: str = "head",
) -> None:
    """Run the migrations up to ``revision`` (default: the newest).

    With an :class:`~sqlalchemy.Engine`, the upgrade runs in its own
    transaction and commits. With a :class:`~sqlalchemy.Connection` (the
    host's, possibly inside the host's transaction) it runs on that connection
    and does **not** commit: the host commits or rolls back. On PostgreSQL and
    SQLite the DDL is transactional and a rollback leaves nothing behind. On
    MySQL/MariaDB every DDL statement commits implicitly (the server does
    that, including whatever the host had done before in its transaction), so
    there a run that changed anything ends with a COMMIT of its version row as
    well: a host rollback cannot undo the tables, and must not strand them
    without their revision.

    Concurrent upgraders (several processes starting at once) are serialized
    by a database lock, and each re-reads the revision after getting it, so
    all but the first find the work done and return without touching anything.
    """
    if isinstance(bind, Engine):
        with bind.connect() as conn:
            if conn.dialect.name != "sqlite":
                # The host's engine may default to REPEATABLE READ (MySQL does);
                # the re-read after the lock must see the other upgrader's commit,
                # which only a fresh snapshot per statement guarantees.
                conn.execution_options(isolation_level="READ COMMITTED")
            with _translated(conn, schema) as effective_schema:
                conn.begin()
                with _migration_lock(conn, prefix, effective_schema):
                    _run(conn, prefix, effective_schema, revision)
                    # Commit inside the lock: a MySQL upgrader that got the lock
                    # before our commit would not see our version row.
                    conn.commit()
    else:
        with (
            _translated(bind, schema) as effective_schema,
            _migration_lock(bind, prefix, effective_schema),
        ):
            ran = _run(bind, prefix, effective_schema, revision)
            if ran and bind.dialect.name in _MYSQL_NAMES:
                # MySQL/MariaDB committed the host's transaction at our first
                # CREATE TABLE, and each DDL after it, so the tables are there
                # for good; only Alembic's version row would still wait for the
                # host. Were the host to roll back, the tables would remain with
                # no revision, and every later upgrade would fail on "table
                # already exists". Commit the row too, so tables and revision
                # always agree (and a concurrent upgrader that gets the lock
                # next sees it). A plain COMMIT, as the server's own implicit
                # ones: SQLAlchemy's later commit or rollback is then a no-op.
                bind.exec_driver_sql("COMMIT")


def current_revision(
    bind: Engine | Connection, *, prefix: str = DEFAULT_PREFIX, schema: str | None = None
) -> str | None:
    """Return the revision of the workflow tables, or None if they were never created.

    One query when the version table exists. On a host's PostgreSQL connection
    that query runs in a savepoint, because a failed statement (the table is
    missing) would otherwise abort the host's whole transaction.
    """
    if isinstance(bind, Engine):
        with bind.connect() as conn:
            return _read_revision(conn, prefix, _schema_of(conn, schema), contain_errors=False)
    return _read_revision(bind, prefix, _schema_of(bind, schema), contain_errors=True)


def check_schema(
    bind: Engine | Connection, *, prefix: str = DEFAULT_PREFIX, schema: str | None = None
) -> None:
    """Raise :class:`~workflow.errors.SchemaOutOfDate` unless the tables are at the head.

    Cheap enough to call at every start-up: one query in the usual case.
    """
    current = current_revision(bind, prefix=prefix, schema=schema)
    if current == HEAD_REVISION:
        return
    if current is not None and not _is_known_revision(current):
        # The database was upgraded by a newer release: upgrading cannot help.
        raise SchemaOutOfDate(current, HEAD_REVISION, hint="pip install --upgrade service-workflow")
    hint = "workflow db upgrade" + (f" --prefix {prefix}" if prefix != "wf_" else "")
    raise SchemaOutOfDate(current, HEAD_REVISION, hint=hint)


def include_name_filter(prefix: str = DEFAULT_PREFIX) -> IncludeNameFn:
    """Return an Alembic ``include_name`` callable that hides our tables from the host.

    A host that manages its own tables with Alembic passes it to
    ``context.configure(include_name=...)`` in its ``env.py``, so that its
    ``alembic revision --autogenerate`` never proposes dropping the workflow
    tables (or our ``<prefix>alembic_version``)::

        from workflow.store.migrate import include_name_filter

        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            include_name=include_name_filter("wf_"),
        )

    To combine it with a filter of the host's own, call both and require both.
    """
    if prefix:

        def is_ours(name: str) -> bool:
            return name.startswith(prefix)
    else:
        # Without a prefix, "starts with" would match everything: hide exactly
        # the tables of the newest schema and the version table.
        ours = {*build_tables(prefix).metadata.tables, _version_table_name(prefix)}

        def is_ours(name: str) -> bool:
            return name in ours

    def include_name(
        name: str | None, type_: NameFilterType, parent_names: NameFilterParentNames
    ) -> bool:
        # Only tables need excluding: Alembic does not look at the columns,
        # indexes or constraints of a table it skipped.
        return not (type_ == "table" and name is not None and is_ours(name))

    return include_name


# --- internals ---------------------------------------------------------------


def _version_table_name(prefix: str) -> str:
    return f"{prefix}alembic_version"


def _version_table(prefix: str, schema: str | None) -> Table:
    # Only what the query needs; Alembic creates the real one (same name and column).
    return Table(
        _version_table_name(prefix),
        MetaData(),
        Column("version_num", String(32), nullable=False),
        schema=schema,
    )


def _schema_of(conn: Connection, schema: str | None) -> str | None:
    """Return the explicit schema, else where the connection's translate map puts unnamed tables."""
    if schema is not None:
        return schema
    translate = conn.get_execution_options().get("schema_translate_map") or {}
    found: str | None = translate.get(None)
    return found


@contextmanager
def _translated(conn: Connection, schema: str | None) -> Iterator[str | None]:
    """Apply ``schema`` to the unnamed tables of the migrations, for the duration.

    The migrations never name a schema; ``schema_translate_map`` places them.
    ``execution_options`` changes a Connection in place, so the host's previous
    map is put back afterwards.
    """
    if schema is None:
        yield _schema_of(conn, None)
        return
    previous = conn.get_execution_options().get("schema_translate_map")
    conn.execution_options(schema_translate_map={**(previous or {}), None: schema})
    try:
        yield schema
    finally:
        conn.execution_options(schema_translate_map=previous)


def _lock_key(prefix: str, schema: str | None) -> bytes:
    return hashlib.sha256(f"workflow.migrate:{schema or ''}:{prefix}".encode()).digest()


@contextmanager
def _migration_lock(conn: Connection, prefix: str, schema: str | None) -> Iterator[None]:
    """Hold the database's lock against concurrent upgrades of these tables.

    - PostgreSQL: a transaction-level advisory lock, released by the commit or
      rollback, whoever makes it (us or the host).
    - MySQL/MariaDB: a named ``GET_LOCK``. It is session-level (not released by
      commit), so it is released here when the block ends. Named locks are
      server-wide, so the database name is part of the name.
    - SQLite: the database's write lock, taken up front with ``BEGIN IMMEDIATE``.
    """
    name = conn.dialect.name
    if name == "postgresql":
        key = int.from_bytes(_lock_key(prefix, schema)[:8], "big", signed=True)
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        yield
    elif name in _MYSQL_NAMES:
        database = conn.engine.url.database or ""
        # MySQL limits lock names to 64 characters.
        lock = "workflow_migrate_" + _lock_key(prefix, f"{database}.{schema or ''}").hex()[:40]
        got = conn.execute(
            text("SELECT GET_LOCK(:name, :timeout)"),
            {"name": lock, "timeout": _MYSQL_LOCK_TIMEOUT},
        ).scalar()
        if got != 1:
            raise StoreError(
                f"could not get the migration lock {lock!r} within {_MYSQL_LOCK_TIMEOUT} s: "
                "another upgrade is running (or stuck)"
            )
        release = text("SELECT RELEASE_LOCK(:name)").bindparams(name=lock)
        try:
            yield
        except BaseException:
            # Do not let a failing release (say, the connection died, which frees
            # the lock anyway) hide the error that got us here.
            with contextlib.suppress(DBAPIError):
                conn.execute(release)
            raise
        conn.execute(release)
    elif name == "sqlite":
        _sqlite_begin_immediate(conn)
        yield
    else:
        # No known lock: concurrent upgrades may collide, and one of them fails
        # on "table exists" rather than corrupting anything.
        yield


def _sqlite_begin_immediate(conn: Connection) -> None:
    """Take SQLite's write lock now, so that concurrent upgraders queue up here.

    pysqlite (in its default, "legacy" transaction mode) never emits BEGIN
    before DDL and emits a deferred BEGIN only before INSERT/UPDATE/DELETE;
    SQLAlchemy's ``begin()`` emits nothing. A deferred transaction that reads
    the version table and then writes can fail with "database is locked"
    without waiting, when another connection wrote first; ``BEGIN IMMEDIATE``
    takes the write lock before the read and waits (up to the driver's busy
    timeout) for the other upgrader's commit.

    The usual recipe (``isolation_level=None`` plus a ``begin`` event emitting
    BEGIN) configures the whole engine, and this engine is the host's. Instead,
    start SQLAlchemy's transaction (which fires a host's own ``begin`` event if
    it has one) and ask the DBAPI connection whether a transaction is already
    open: if not, emit ``BEGIN IMMEDIATE`` ourselves. pysqlite passes it
    through untouched, and its ``commit()``/``rollback()`` (called by
    SQLAlchemy's, the host's or ours) ends it, since they act whenever SQLite
    reports an open transaction. If one is open already (the host did work in
    it, or configured its own BEGIN), it cannot be upgraded: carry on in it,
    and the first write waits for the lock as SQLite allows.
    """
    if not conn.in_transaction():
        conn.begin()
    dbapi_connection = conn.connection.dbapi_connection
    if getattr(dbapi_connection, "in_transaction", True) is False:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _run(conn: Connection, prefix: str, schema: str | None, revision: str) -> bool:
    """Upgrade on ``conn`` (locked, in a transaction) unless already at the target.

    Return whether Alembic ran (False when the tables were already at the head).
    """
    config = alembic_config(conn, prefix=prefix, schema=schema)
    before = _read_revision(conn, prefix, schema, contain_errors=True)
    if revision in ("head", "heads"):
        # The re-read after the lock: a concurrent upgrader may have just done it all.
        if before == ScriptDirectory.from_config(config).get_current_head():
            return False
    elif revision == before:
        return False
    with _ALEMBIC_RUN_LOCK, _alembic_globals_kept():
        command.upgrade(config, revision)
    return True


@contextlib.contextmanager
def _alembic_globals_kept() -> Iterator[None]:
    """Keep an enclosing Alembic run working when ours runs inside it.

    Alembic's ``context`` and ``op`` are module-level proxies that a run
    installs and removes; a host calling :func:`upgrade` from its own
    ``env.py`` would otherwise find its proxies gone when ours finish.
    """
    saved = [(module, dict(vars(module))) for module in (alembic.context, alembic.op)]
    try:
        yield
    finally:
        for module, names in saved:
            for name, value in names.items():
                setattr(module, name, value)


def _read_revision(
    conn: Connection, prefix: str, schema: str | None, *, contain_errors: bool
) -> str | None:
    """Select the version row: one query, or None if the version table is missing.

    A failing statement aborts the whole transaction on PostgreSQL, so on a
    connection we do not own (or must keep using) the query runs in a savepoint.
    """
    stmt = select(_version_table(prefix, schema).c.version_num)
    savepoint = contain_errors and conn.dialect.name == "postgresql"
    try:
        if savepoint:
            with conn.begin_nested():
                rows = list(conn.execute(stmt).scalars())
        else:
            rows = list(conn.execute(stmt).scalars())
    except DBAPIError:
        # Missing table (the usual case for a fresh database) or a real problem:
        # looking is cheaper than decoding each driver's error codes.
        if not savepoint and conn.dialect.name == "postgresql":
            conn.rollback()
        if inspect(conn).has_table(_version_table_name(prefix), schema=schema):
            raise
        return None
    if len(rows) > 1:
        raise StoreError(
            f"{_version_table_name(prefix)} holds several revisions {sorted(rows)}; "
            "the workflow migrations are linear, so this table was edited by hand"
        )
    return rows[0] if rows else None


def _is_known_revision(revision: str) -> bool:
    script = ScriptDirectory.from_config(alembic_config())
    try:
        return script.get_revision(revision) is not None
    except (CommandError, ResolutionError):
        return False
