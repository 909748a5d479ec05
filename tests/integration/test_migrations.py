"""The shipped migrations, on SQLite, PostgreSQL and MariaDB.

Replaying them gives exactly the tables of ``workflow.store.schema``; the
upgrade/check API keeps to its transaction contract, its own version table and
its lock against concurrent start-ups; ``UTCDateTime`` survives the round trip.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import (
    Column,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    create_mock_engine,
    event,
    func,
    insert,
    inspect,
    make_url,
    select,
    text,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.exc import StatementError
from sqlalchemy.schema import CreateIndex

from tests.backends import Backend, make_engine
from workflow.errors import SchemaOutOfDate
from workflow.store.migrate import (
    HEAD_REVISION,
    MIGRATIONS_DIR,
    alembic_config,
    check_schema,
    current_revision,
    include_name_filter,
    upgrade,
)
from workflow.store.schema import UTCDateTime, build_tables


def _ours(engine: Engine, prefix: str, schema: str | None = None) -> set[str]:
    return {t for t in inspect(engine).get_table_names(schema=schema) if t.startswith(prefix)}


def _expected_tables(prefix: str) -> set[str]:
    return {*build_tables(prefix).metadata.tables, f"{prefix}alembic_version"}


def _version_rows(engine: Engine, prefix: str) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.exec_driver_sql(f"SELECT version_num FROM {prefix}alembic_version").scalars()
        )


# --- no database ---------------------------------------------------------------


def test_head_revision_is_the_script_directory_head() -> None:
    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == HEAD_REVISION


def test_migrations_ship_as_package_files() -> None:
    for name in ("env.py", "script.py.mako", "__init__.py", "versions/__init__.py"):
        assert (MIGRATIONS_DIR / name).is_file(), name
    assert list((MIGRATIONS_DIR / "versions").glob("0001_*.py"))


def test_include_name_filter_hides_only_our_tables() -> None:
    include = include_name_filter("wf_")
    assert not include("wf_items", "table", {})
    assert not include("wf_alembic_version", "table", {})
    assert include("alembic_version", "table", {})
    assert include("orders", "table", {})
    assert include("wf_items", "column", {"table_name": "orders"})
    assert include("public", "schema", {})
    bare = include_name_filter("")
    assert not bare("items", "table", {})
    assert not bare("alembic_version", "table", {})
    assert bare("orders", "table", {})


# --- the schema -----------------------------------------------------------------


def _only_prefixed(prefix: str) -> Any:
    """Compare only this test's tables: the shared servers hold other tests' tables too."""

    def include(name: str | None, type_: str, parent_names: Any) -> bool:
        if type_ == "table":
            return name is not None and name.startswith(prefix)
        return True

    return include


def _created_indexes(engine: Engine, metadata: MetaData) -> set[str]:
    """The names of the declared indexes that ``create_all`` makes on this engine's database.

    Some indexes are declared for some databases only (``ddl_if``); a mock
    engine records the DDL without running it.
    """
    created: set[str] = set()

    def record(statement: Any, *args: Any, **kwargs: Any) -> None:
        if isinstance(statement, CreateIndex):
            created.add(str(statement.element.name))

    metadata.create_all(create_mock_engine(engine.url, record), checkfirst=False)
    return created


def _only_created(created: set[str]) -> Any:
    """Leave out the declared indexes this database does not get (see ``_created_indexes``)."""

    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        return reflected or type_ != "index" or name in created

    return include


def _mysql_false_is_zero(
    context: Any,
    inspected_column: Any,
    metadata_column: Any,
    inspected_default: str | None,
    metadata_default: Any,
    rendered_metadata_default: str | None,
) -> bool | None:
    # MySQL stores BOOLEAN as TINYINT(1) and reports DEFAULT false as '0'.
    if context.dialect.name in ("mysql", "mariadb") and {
        (inspected_default or "").strip("'"),
        (rendered_metadata_default or "").strip("'"),
    } == {"0", "false"}:
        return False
    return None  # Alembic's own comparison


def _schema_snapshot(engine: Engine, tables: list[str]) -> dict[str, Any]:
    """What defines the tables, in a form that compares across reflection and declaration."""
    insp = inspect(engine)
    mysql_like = engine.dialect.name in ("mysql", "mariadb")
    snap: dict[str, Any] = {}
    for name in tables:
        fks = insp.get_foreign_keys(name)
        uniques = insp.get_unique_constraints(name)
        # Unique constraints show up as indexes too (flagged on PostgreSQL, not on
        # MySQL), and MySQL adds an index named after each foreign key.
        implied = {u["name"] for u in uniques} | (
            {fk["name"] for fk in fks} if mysql_like else set()
        )
        snap[name] = {
            "columns": {c["name"]: c["nullable"] for c in insp.get_columns(name)},
            "pk": insp.get_pk_constraint(name)["constrained_columns"],
            "indexes": {
                (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                for i in insp.get_indexes(name)
                if "duplicates_constraint" not in i and i["name"] not in implied
            },
            "uniques": {(u["name"], tuple(u["column_names"])) for u in uniques},
            "fks": {
                (fk["name"], tuple(fk["constrained_columns"]), fk["referred_table"]) for fk in fks
            },
        }
    return snap


def _declared_snapshot(prefix: str, created: set[str]) -> dict[str, Any]:
    snap: dict[str, Any] = {}
    for name, table in build_tables(prefix).metadata.tables.items():
        snap[name] = {
            "columns": {c.name: c.nullable for c in table.columns},
            "pk": [c.name for c in table.primary_key.columns],
            "indexes": {
                (i.name, tuple(c.name for c in i.columns), i.unique)
                for i in table.indexes
                if i.name in created
            },
            "uniques": {
                (u.name, tuple(c.name for c in u.columns))
                for u in table.constraints
                if u.__class__.__name__ == "UniqueConstraint"
            },
            "fks": {
                (fk.name, tuple(c.name for c in fk.columns), fk.referred_table.name)
                for fk in table.foreign_key_constraints
            },
        }
    return snap


def test_upgrade_from_empty_gives_exactly_the_declared_schema(backend: Backend) -> None:
    engine, prefix = backend.engine, backend.prefix
    assert current_revision(engine, prefix=prefix) is None
    with pytest.raises(SchemaOutOfDate, match="workflow db upgrade") as caught:
        check_schema(engine, prefix=prefix)
    assert caught.value.current is None
    assert caught.value.needed == HEAD_REVISION

    upgrade(engine, prefix=prefix)

    assert current_revision(engine, prefix=prefix) == HEAD_REVISION
    check_schema(engine, prefix=prefix)
    assert _ours(engine, prefix) == _expected_tables(prefix)

    declared = build_tables(prefix)
    created = _created_indexes(engine, declared.metadata)
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "include_name": _only_prefixed(prefix),
                "include_object": _only_created(created),
                "compare_type": True,
                "compare_server_default": _mysql_false_is_zero,
            },
        )
        differences = compare_metadata(context, declared.metadata)
    # Our version table is not in the metadata: the only difference allowed.
    assert len(differences) == 1, differences
    assert differences[0][0] == "remove_table"
    assert differences[0][1].name == f"{prefix}alembic_version"

    # Alembic does not compare everything (index uniqueness, constraint names,
    # DATETIME precision on MySQL): check those from the reflection directly.
    assert _schema_snapshot(engine, sorted(declared.metadata.tables)) == _declared_snapshot(
        prefix, created
    )
    if backend.is_mysql:
        insp = inspect(engine)
        for table in declared.metadata.tables.values():
            reflected = {c["name"]: c["type"] for c in insp.get_columns(table.name)}
            for column in table.columns:
                if isinstance(column.type, UTCDateTime):
                    kind = reflected[column.name]
                    assert isinstance(kind, mysql.DATETIME), (table.name, column.name, kind)
                    assert kind.fsp == 6, (table.name, column.name, kind)


def _reflected_indexes(engine: Engine, prefix: str) -> dict[str, set[tuple[Any, ...]]]:
    """Every index of the tables named ``prefix`` + a declared name, as the database reports it.

    Per table: (name without ``prefix``, columns, unique, predicate or None).
    Predicates are in the database's own spelling (PostgreSQL rewrites them).
    """
    insp = inspect(engine)
    where = f"{engine.dialect.name}_where"
    found: dict[str, set[tuple[Any, ...]]] = {}
    for table in build_tables("").metadata.tables:
        if not insp.has_table(f"{prefix}{table}"):
            continue  # a table of a later revision than the one being looked at
        found[table] = set()
        for index in insp.get_indexes(f"{prefix}{table}"):
            predicate = index.get("dialect_options", {}).get(where)
            found[table].add(
                (
                    str(index["name"]).removeprefix(prefix),
                    tuple(index["column_names"]),
                    bool(index["unique"]),
                    None if predicate is None else str(predicate).strip("()").lower(),
                )
            )
    return found


# The scan and list indexes on each database (revision 0003): (table, name, columns, predicate).
SCAN_AND_LIST_INDEXES = {
    "sqlite": {
        ("deadlines", "deadlines_next_lease", ("next_at", "lease_until"), "next_at is not null"),
        ("items", "items_by_state", ("workflow_id", "state"), None),
    },
    "postgresql": {
        ("deadlines", "deadlines_next", ("next_at",), "next_at is not null"),
        ("items", "items_by_state_id", ("workflow_id", "state", "id"), None),
    },
    "mariadb": {
        ("deadlines", "deadlines_next", ("next_at",), None),
        ("items", "items_by_state", ("workflow_id", "state"), None),
    },
}
SCAN_AND_LIST_NAMES = {
    "deadlines_next",
    "deadlines_next_lease",
    "items_by_state",
    "items_by_state_id",
}


def _scan_and_list_indexes(engine: Engine, prefix: str) -> set[tuple[Any, ...]]:
    reflected = _reflected_indexes(engine, prefix)
    return {
        (table, name, columns, predicate)
        for table in ("deadlines", "items")
        for name, columns, _, predicate in reflected[table]
        if name in SCAN_AND_LIST_NAMES
    }


def test_migrated_indexes_are_the_declared_ones_with_their_predicates(backend: Backend) -> None:
    # The snapshot above does not see a partial index's predicate (each database
    # spells it its own way): here the declared tables are created next to the
    # migrated ones, and both are reflected alike.
    engine, prefix = backend.engine, backend.prefix
    upgrade(engine, prefix=prefix)
    fresh = f"{prefix}d_"  # starts with the prefix: dropped with the test's tables
    build_tables(fresh).metadata.create_all(engine)

    assert _reflected_indexes(engine, prefix) == _reflected_indexes(engine, fresh)
    assert _scan_and_list_indexes(engine, prefix) == SCAN_AND_LIST_INDEXES[backend.name]


def test_downgrade_to_0002_puts_the_old_indexes_back(backend: Backend) -> None:
    engine, prefix = backend.engine, backend.prefix
    upgrade(engine, prefix=prefix, revision="0002")
    before = _reflected_indexes(engine, prefix)
    assert _scan_and_list_indexes(engine, prefix) == {
        (
            "deadlines",
            "deadlines_next",
            ("next_at",),
            None if backend.is_mysql else "next_at is not null",
        ),
        ("items", "items_by_state", ("workflow_id", "state"), None),
    }
    upgrade(engine, prefix=prefix, revision="0003")
    # MariaDB keeps 0002's indexes (see the revision's docstring).
    assert (_reflected_indexes(engine, prefix) == before) == backend.is_mysql
    with engine.connect() as conn, conn.begin():
        command.downgrade(alembic_config(conn, prefix=prefix), "0002")
    assert current_revision(engine, prefix=prefix) == "0002"
    assert _reflected_indexes(engine, prefix) == before


def test_0006_indexes_items_by_close_instead_of_by_update(backend: Backend) -> None:
    engine, prefix = backend.engine, backend.prefix
    upgrade(engine, prefix=prefix, revision="0005")
    before = _reflected_indexes(engine, prefix)
    names = {name for name, *_ in before["items"]}
    assert "items_by_update" in names
    assert "items_by_close" not in names

    upgrade(engine, prefix=prefix)
    after = {index for index in _reflected_indexes(engine, prefix)["items"]}
    assert ("items_by_close", ("workflow_id", "is_open", "closed_at"), False, None) in after
    assert "items_by_update" not in {name for name, *_ in after}

    with engine.connect() as conn, conn.begin():
        command.downgrade(alembic_config(conn, prefix=prefix), "0005")
    assert _reflected_indexes(engine, prefix) == before


def test_schema_ahead_of_this_release_says_so(backend: Backend) -> None:
    upgrade(backend.engine, prefix=backend.prefix)
    with backend.engine.begin() as conn:
        conn.exec_driver_sql(f"UPDATE {backend.prefix}alembic_version SET version_num = '9999'")
    with pytest.raises(SchemaOutOfDate, match="pip install --upgrade") as caught:
        check_schema(backend.engine, prefix=backend.prefix)
    assert caught.value.current == "9999"


def test_upgrade_twice_is_a_no_op(backend: Backend) -> None:
    engine, prefix = backend.engine, backend.prefix
    upgrade(engine, prefix=prefix)
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement.strip().split()[0].upper())

    event.listen(engine, "before_cursor_execute", record)
    try:
        upgrade(engine, prefix=prefix)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert not {"CREATE", "ALTER", "DROP", "INSERT", "UPDATE", "DELETE"} & set(statements)
    assert _version_rows(engine, prefix) == [HEAD_REVISION]
    assert _ours(engine, prefix) == _expected_tables(prefix)


# --- the host's transaction -----------------------------------------------------


def test_upgrade_on_a_host_connection_leaves_the_commit_to_the_host(backend: Backend) -> None:
    engine, prefix = backend.engine, backend.prefix
    with engine.connect() as conn:
        conn.begin()
        upgrade(conn, prefix=prefix)
        assert conn.in_transaction()
        assert current_revision(conn, prefix=prefix) == HEAD_REVISION
        seen_elsewhere = current_revision(engine, prefix=prefix)
        conn.commit()
    if backend.is_mysql:
        # The server committed our DDL (and the host's transaction) at the first
        # CREATE TABLE; upgrade() commits the version row with it (see migrate.py).
        assert seen_elsewhere == HEAD_REVISION
    else:
        assert seen_elsewhere is None
    assert current_revision(engine, prefix=prefix) == HEAD_REVISION
    check_schema(engine, prefix=prefix)


def test_host_rollback_of_the_upgrade(backend: Backend) -> None:
    engine, prefix = backend.engine, backend.prefix
    with engine.connect() as conn, conn.begin() as host_transaction:
        upgrade(conn, prefix=prefix)
        host_transaction.rollback()
    if backend.is_mysql:
        # MySQL/MariaDB DDL commits implicitly: a rollback cannot take the tables
        # back. upgrade() commits the version row along with them, so the database
        # is consistent (and upgradable) instead of holding tables with no revision.
        assert _ours(engine, prefix) == _expected_tables(prefix)
        assert current_revision(engine, prefix=prefix) == HEAD_REVISION
        check_schema(engine, prefix=prefix)
    else:
        # Transactional DDL (PostgreSQL; SQLite with BEGIN IMMEDIATE): nothing left.
        assert _ours(engine, prefix) == set()
        assert current_revision(engine, prefix=prefix) is None


def test_current_revision_keeps_the_host_transaction_usable(backend: Backend) -> None:
    # On PostgreSQL the probe of a missing version table would abort the host's
    # transaction were it not in a savepoint.
    engine, prefix = backend.engine, backend.prefix
    with engine.connect() as conn, conn.begin():
        assert current_revision(conn, prefix=prefix) is None
        with pytest.raises(SchemaOutOfDate):
            check_schema(conn, prefix=prefix)
        assert conn.execute(text("SELECT 1")).scalar() == 1


@contextmanager
def _host_area(backend: Backend) -> Iterator[Engine]:
    """An engine on a namespace of this test's own, where `alembic_version` is the host's.

    The servers are shared (other tests, other runs), so the host's table cannot
    live in their default namespace: a PostgreSQL schema on the search_path, a
    MariaDB database; SQLite's file is the test's already.
    """
    if backend.name == "sqlite":
        yield backend.engine
        return
    area = f"{backend.prefix}host"
    with backend.engine.begin() as conn:
        kind = "SCHEMA" if backend.name == "postgresql" else "DATABASE"
        conn.exec_driver_sql(f"CREATE {kind} {area}")
    if backend.name == "postgresql":
        engine = make_engine(backend.url, connect_args={"options": f"-c search_path={area}"})
    else:
        engine = make_engine(make_url(backend.url).set(database=area))
    try:
        yield engine
    finally:
        engine.dispose()
        with backend.engine.begin() as conn:
            if backend.name == "postgresql":
                conn.exec_driver_sql(f"DROP SCHEMA {area} CASCADE")
            else:
                conn.exec_driver_sql(f"DROP DATABASE {area}")


def test_the_hosts_alembic_version_is_untouched(backend: Backend) -> None:
    with _host_area(backend) as engine:
        host = MetaData()
        Table("alembic_version", host, Column("version_num", String(32), primary_key=True))
        Table("orders", host, Column("id", Integer, primary_key=True))
        host.create_all(engine)
        with engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO alembic_version (version_num) VALUES ('host_rev_7')")

        upgrade(engine, prefix=backend.prefix)
        upgrade(engine, prefix=backend.prefix)

        with engine.connect() as conn:
            rows = list(conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars())
        assert rows == ["host_rev_7"]
        assert current_revision(engine, prefix=backend.prefix) == HEAD_REVISION

        # The host's autogenerate, with our filter, sees nothing to do: it does
        # not propose dropping our tables.
        ours = include_name_filter(backend.prefix)
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={"include_name": ours, "version_table": "alembic_version"},
            )
            assert compare_metadata(context, host) == []
            # Without it, it would.
            naive = MigrationContext.configure(conn)
            proposed = {d[1].name for d in compare_metadata(naive, host) if d[0] == "remove_table"}
        assert proposed == _expected_tables(backend.prefix)


# --- PostgreSQL schemas ---------------------------------------------------------


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_postgresql_schema_through_schema_translate_map(backend: Backend) -> None:
    engine, prefix = backend.engine, backend.prefix
    schema = f"{prefix}schema"
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        # A host connection whose translate map places unnamed tables in the schema.
        with engine.connect() as conn:
            host_map = {None: schema}
            conn.execution_options(schema_translate_map=host_map)
            with conn.begin():
                upgrade(conn, prefix=prefix)
            # The host's own map, still in place (SQLAlchemy itself adds a "_none" key).
            assert conn.get_execution_options()["schema_translate_map"] is host_map
            assert host_map[None] == schema
            check_schema(conn, prefix=prefix)
        assert _ours(engine, prefix, schema=schema) == _expected_tables(prefix)
        assert _ours(engine, prefix) == set()  # nothing in public
        assert current_revision(engine, prefix=prefix, schema=schema) == HEAD_REVISION
        assert current_revision(engine, prefix=prefix) is None

        # The same with schema= on an engine, for a second prefix in that schema;
        # and schema= on a host connection puts its own translate map back.
        other = f"{prefix}b_"
        upgrade(engine, prefix=other, schema=schema)
        assert _ours(engine, other, schema=schema) == _expected_tables(other)
        with engine.connect() as conn:
            upgrade(conn, prefix=other, schema=schema)
            assert conn.get_execution_options().get("schema_translate_map") is None
        check_schema(engine, prefix=other, schema=schema)

        # The foreign keys point inside the schema.
        fks = inspect(engine).get_foreign_keys(f"{prefix}items", schema=schema)
        assert {fk["referred_schema"] for fk in fks} <= {schema, None}
    finally:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")


# --- concurrent start-ups -------------------------------------------------------


def test_concurrent_upgrades_in_threads(backend: Backend) -> None:
    engine, prefix = backend.engine, backend.prefix
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def start_up() -> None:
        try:
            barrier.wait(timeout=10)
            upgrade(engine, prefix=prefix)
            check_schema(engine, prefix=prefix)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start_up) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert _ours(engine, prefix) == _expected_tables(prefix)
    assert _version_rows(engine, prefix) == [HEAD_REVISION]


def _upgrade_in_a_process(url: str, prefix: str, barrier: Any, results: Any) -> None:
    """Run in a spawned process: start up at the same moment as the others."""
    try:
        engine = make_engine(url, connect_args={"timeout": 30} if url.startswith("sqlite") else {})
        try:
            with engine.connect() as conn:  # connect before the race, not during it
                conn.execute(text("SELECT 1"))
            barrier.wait(timeout=30)
            upgrade(engine, prefix=prefix)
            check_schema(engine, prefix=prefix)
        finally:
            engine.dispose()
        results.put("ok")
    except BaseException as exc:
        results.put(f"{type(exc).__name__}: {exc}")


def test_concurrent_upgrades_in_processes(backend: Backend) -> None:
    spawn = multiprocessing.get_context("spawn")
    barrier = spawn.Barrier(3)
    results = spawn.Queue()
    processes = [
        spawn.Process(
            target=_upgrade_in_a_process, args=(backend.url, backend.prefix, barrier, results)
        )
        for _ in range(3)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(timeout=30)
    assert outcomes == ["ok"] * 3
    assert _ours(backend.engine, backend.prefix) == _expected_tables(backend.prefix)
    assert _version_rows(backend.engine, backend.prefix) == [HEAD_REVISION]


# --- UTCDateTime ----------------------------------------------------------------


def test_utc_datetime_round_trip(backend: Backend) -> None:
    engine, prefix = backend.engine, backend.prefix
    upgrade(engine, prefix=prefix)
    definitions = build_tables(prefix).definitions  # a UTCDateTime column made by the migration
    taipei = dt.timezone(dt.timedelta(hours=8))
    loaded = dt.datetime(2025, 3, 9, 1, 30, 15, 123456, tzinfo=taipei)
    row = {"hash": "h1", "workflow_id": "w", "version": 1, "source": "x" * 70_000}
    with engine.begin() as conn:
        conn.execute(insert(definitions), [{**row, "loaded_at": loaded}])
    with engine.connect() as conn:
        back = conn.execute(select(definitions.c.loaded_at)).scalar_one()
        stored = conn.execute(select(func.count()).where(definitions.c.source == row["source"]))
        assert stored.scalar_one() == 1  # LONGTEXT on MySQL: 70 kB fits
    assert back == loaded
    assert back.tzinfo == dt.UTC
    assert back.microsecond == 123456
    assert back.replace(tzinfo=None) == dt.datetime(2025, 3, 8, 17, 30, 15, 123456)

    with (
        pytest.raises(StatementError, match="naive datetimes are ambiguous"),
        engine.begin() as conn,
    ):
        conn.execute(
            insert(definitions),
            [{**row, "hash": "h2", "loaded_at": dt.datetime(2025, 3, 9, 1, 30)}],
        )
