"""``list --state`` on PostgreSQL when an archive's rows are not spread evenly.

Run::

    .venv/bin/python -m bench.list_bench [--items 1000000] [--other 100000] [--postgresql-url URL]

``transitions_bench`` spreads states evenly over the ids. A real archive does
not: another workflow's items, or years of closed ones, sit before the rows a
page asks for. This bench stores ``--other`` items of another workflow first,
then the rest of ``--items`` with states as in a city's archive (8% in
``handling``, 1% in ``disputed``, the others closed), runs ``VACUUM
(ANALYZE)`` as autovacuum would after such a load, and times the first page
(100 rows) of both states two ways, each the median of 20 runs in three
rounds:

* **whole rows**: ``SELECT * ... WHERE workflow_id = ? AND state = ? ORDER BY
  id LIMIT 100``, the store's statement before the ids-first change;
* **ids first**: the page's ids in a derived table, then their rows, as
  ``SqlStore.list_items`` sends it now;

and ``Engine.list`` end to end (the statement, built per call, and the rows
turned into items). Then the database's plan of both statements. The tables
get a unique prefix and are dropped at the end. It prints figures and
asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Select, inspect, select, text

from workflow.store.migrate import upgrade
from workflow.store.schema import Tables
from workflow.store.sql import SqlStore, create_database_engine

DEFAULT_POSTGRESQL_URL = os.environ.get(
    "WORKFLOW_BENCH_POSTGRESQL_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
WORKFLOW = "enterprise_issue"


def whole_rows(t: Tables, state: str) -> Select[tuple[object, ...]]:
    """The list statement before the change: rows selected, ordered and limited at once."""
    items = t.items
    return (
        select(items)
        .where(items.c.workflow_id == WORKFLOW, items.c.state == state)
        .order_by(items.c.id)
        .limit(100)
    )


def ids_first(t: Tables, state: str) -> Select[tuple[object, ...]]:
    """The list statement now: the page's ids, then their rows (as ``list_items``)."""
    items = t.items
    page = (
        select(items.c.id)
        .where(items.c.workflow_id == WORKFLOW, items.c.state == state)
        .order_by(items.c.id)
        .limit(100)
        .subquery("page")
    )
    return select(items).join(page, items.c.id == page.c.id).order_by(items.c.id)


def median_ms(run: Callable[[], object], times: int = 20) -> float:
    """Median wall time of ``run`` in milliseconds."""
    taken = []
    for _ in range(times):
        begin = time.perf_counter()
        run()
        taken.append(time.perf_counter() - begin)
    return statistics.median(taken) * 1000


def fetcher(connection: Connection, statement: Select[tuple[object, ...]]) -> Callable[[], object]:
    """Run ``statement`` and fetch all its rows."""
    return lambda: connection.execute(statement).fetchall()


def lister(tx: Any, state: str) -> Callable[[], object]:
    """Call the store's ``list_items`` for the first page of ``state``."""
    return lambda: tx.list_items(
        workflow_id=WORKFLOW, state=state, is_open=None, data=None, after_id=None, limit=100
    )


def load(connection: Connection, prefix: str, total: int, other: int) -> None:
    """Store ``other`` items of another workflow, then the rest spread as in an archive."""
    connection.execute(
        text(
            f"INSERT INTO {prefix}definitions VALUES"
            f" ('h_other', 'other', 1, '{{}}', now()), ('h_issue', '{WORKFLOW}', 1, '{{}}', now())"
        )
    )
    columns = "workflow_id, definition_hash, state, data, version, is_open, created_by"
    columns += ", created_at, updated_at"
    connection.execute(
        text(
            f"INSERT INTO {prefix}items ({columns}) SELECT 'other', 'h_other', 'ping', '{{}}',"
            f" 1, true, 'bench', now(), now() FROM generate_series(1, {other})"
        )
    )
    state = (
        "CASE WHEN g % 100 < 8 THEN 'handling' WHEN g % 100 = 8 THEN 'disputed' ELSE 'closed' END"
    )
    connection.execute(
        text(
            f"INSERT INTO {prefix}items ({columns}) SELECT '{WORKFLOW}', 'h_issue', {state},"
            f" '{{}}', 1, true, 'bench', now(), now() FROM generate_series(1, {total - other}) g"
        )
    )


def main(argv: list[str] | None = None) -> int:
    """Load, measure, print, drop."""
    parser = argparse.ArgumentParser(prog="python -m bench.list_bench", description=__doc__)
    parser.add_argument("--items", type=int, default=1_000_000, help="items in all (1,000,000)")
    parser.add_argument("--other", type=int, default=100_000, help="another workflow's, first")
    parser.add_argument("--postgresql-url", default=DEFAULT_POSTGRESQL_URL)
    args = parser.parse_args(argv)
    prefix = f"bench_{uuid.uuid4().hex[:8]}_"
    engine = create_database_engine(args.postgresql_url)
    try:
        upgrade(engine, prefix=prefix)
        store = SqlStore(engine, prefix=prefix)
        t = store.tables
        begin = time.perf_counter()
        with engine.begin() as connection:
            load(connection, prefix, args.items, args.other)
        with engine.connect() as connection:
            autocommit = connection.execution_options(isolation_level="AUTOCOMMIT")
            autocommit.exec_driver_sql(f"VACUUM (ANALYZE) {prefix}items")
        print(f"stored {args.items:,} items ({args.other:,} of another workflow first)", end="")
        print(f" and vacuumed in {time.perf_counter() - begin:.1f} s")
        print("first page (100 rows), median of 20, per round:")
        for round_ in range(1, 4):
            for state in ("handling", "disputed"):
                with engine.connect() as connection:
                    before = median_ms(fetcher(connection, whole_rows(t, state)))
                    after = median_ms(fetcher(connection, ids_first(t, state)))
                with store.read() as tx:
                    listed = median_ms(lister(tx, state))
                print(
                    f"  round {round_} {state:<9} whole rows {before:7.2f} ms"
                    f"   ids first {after:7.2f} ms   list_items {listed:7.2f} ms"
                )
        with engine.connect() as connection:
            for title, statement in (
                ("whole rows", whole_rows(t, "handling")),
                ("ids first", ids_first(t, "handling")),
            ):
                compiled = statement.compile(
                    dialect=connection.dialect, compile_kwargs={"literal_binds": True}
                )
                print(f"plan, {title} (handling):")
                for row in connection.exec_driver_sql(f"EXPLAIN {compiled}"):
                    print(f"  {row[0]}")
    finally:
        with engine.begin() as connection:
            names = [n for n in inspect(connection).get_table_names() if n.startswith(prefix)]
            for name in names:
                connection.exec_driver_sql(f'DROP TABLE IF EXISTS "{name}" CASCADE')
        engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
