"""The database backends the suite runs against: SQLite, PostgreSQL and MariaDB.

Any test that takes the ``backend`` fixture runs once per backend (ids
``sqlite``, ``postgresql``, ``mariadb``) and is marked ``backend``. Each run
gets its own table prefix, so tests never collide (even with other runs of
the suite on the same servers) and need no shared cleanup; the test's tables
are dropped afterwards.

A server that cannot be reached is probed once per session; its tests are
skipped with a loud reason and a banner at the end of the run lists it, so a
green run with the databases down is never mistaken for a full one.

``WORKFLOW_TEST_POSTGRESQL_URL`` and ``WORKFLOW_TEST_MARIADB_URL`` override
the server URLs.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, inspect, make_url, text
from sqlalchemy.engine import URL

BACKENDS = ("sqlite", "postgresql", "mariadb")

SERVER_URLS = {
    "postgresql": os.environ.get(
        "WORKFLOW_TEST_POSTGRESQL_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    ),
    "mariadb": os.environ.get(
        "WORKFLOW_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test"
    ),
}

PROBE_TIMEOUT_SECONDS = 3

# name -> None when reachable, else the skip reason; filled once per session.
_probed: dict[str, str | None] = {}


@dataclass(frozen=True)
class Backend:
    """One backend for one test: its name, URL, a fresh table prefix and an engine."""

    name: str
    url: str
    prefix: str
    engine: Engine

    @property
    def is_mysql(self) -> bool:
        """Whether this is MySQL/MariaDB (whose DDL commits implicitly)."""
        return self.engine.dialect.name in ("mysql", "mariadb")


def connect_args(url: str | URL) -> dict[str, Any]:
    """Driver arguments that make a dead server fail fast instead of hanging."""
    backend = make_url(url).get_backend_name()
    if backend in ("postgresql", "mysql", "mariadb"):
        return {"connect_timeout": PROBE_TIMEOUT_SECONDS}
    return {}


def make_engine(url: str | URL, **kwargs: Any) -> Engine:
    """Create an engine for a test URL (with the fail-fast connect timeout)."""
    args = {**connect_args(url), **kwargs.pop("connect_args", {})}
    return create_engine(url, connect_args=args, **kwargs)


def unavailable_reason(name: str) -> str | None:
    """Probe the server of ``name`` once per session; None if it answers, else why not."""
    if name == "sqlite":
        return None
    if name not in _probed:
        url = make_url(SERVER_URLS[name])
        engine = make_engine(url)
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            _probed[name] = None
        except Exception as exc:  # any failure means "cannot be had"
            detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
            _probed[name] = (
                f"BACKEND UNAVAILABLE: {name} at {url.host}:{url.port}: "
                f"{detail[0] if detail else type(exc).__name__}"
            )
        finally:
            engine.dispose()
    return _probed[name]


def new_prefix() -> str:
    """Return a table prefix no other test (or concurrent run) uses."""
    return f"t_{uuid.uuid4().hex[:8]}_"


def drop_prefixed_tables(engine: Engine, prefix: str, schema: str | None = None) -> None:
    """Drop every table whose name starts with ``prefix``, whatever their foreign keys."""
    dialect = engine.dialect.name
    with engine.connect() as conn:
        names = [t for t in inspect(conn).get_table_names(schema=schema) if t.startswith(prefix)]
        if not names:
            return
        quote = engine.dialect.identifier_preparer.quote
        qualified = [
            (f"{quote(schema)}." if schema else "") + quote(n)  # schema is ours, not user input
            for n in names
        ]
        if dialect == "postgresql":
            # A test that left a transaction open must not hang the teardown forever.
            conn.execute(text("SET lock_timeout = '10s'"))
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {', '.join(qualified)} CASCADE")
        elif dialect in ("mysql", "mariadb"):
            conn.execute(text("SET SESSION lock_wait_timeout = 10"))
            conn.execute(text("SET SESSION foreign_key_checks = 0"))
            try:
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {', '.join(qualified)}")
            finally:
                conn.execute(text("SET SESSION foreign_key_checks = 1"))
        else:
            conn.exec_driver_sql("PRAGMA foreign_keys = OFF")
            for name in qualified:
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")
        conn.commit()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """One test run per backend, with a fresh prefix and an engine disposed afterwards."""
    name: str = request.param
    reason = unavailable_reason(name)
    if reason is not None:
        pytest.skip(reason)
    if name == "sqlite":
        # A file, not :memory:, so several connections, threads and processes share it.
        url = f"sqlite:///{tmp_path / 'workflow.db'}"
        engine = make_engine(url, connect_args={"timeout": 30})
    else:
        url = SERVER_URLS[name]
        engine = make_engine(url)
    prefix = new_prefix()
    try:
        yield Backend(name=name, url=url, prefix=prefix, engine=engine)
    finally:
        # Close pooled connections first: one still in a transaction would block the DROP.
        engine.dispose()
        try:
            if name != "sqlite":  # the SQLite file goes with tmp_path
                drop_prefixed_tables(engine, prefix)
        finally:
            engine.dispose()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that uses the ``backend`` fixture (directly or not) as ``backend``."""
    for item in items:
        if "backend" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.backend)


def _unavailable_reasons(terminalreporter: Any) -> list[str]:
    """The reasons of the backends that could not be reached, probed here or in a worker.

    With pytest-xdist the probes run in the worker processes, so the
    controlling process, which prints the summary, learns of them from the
    skip reports its workers sent.
    """
    reasons = {reason for reason in _probed.values() if reason is not None}
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = getattr(report, "longrepr", None)
        if isinstance(longrepr, tuple) and len(longrepr) == 3:
            message = str(longrepr[2]).removeprefix("Skipped: ")
            if message.startswith("BACKEND UNAVAILABLE: "):
                reasons.add(message)
    return sorted(reasons)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """Print a banner listing the backends that could not be reached."""
    missing = _unavailable_reasons(terminalreporter)
    if not missing:
        return
    terminalreporter.write_sep("!", "DATABASE BACKENDS UNAVAILABLE", red=True, bold=True)
    for reason in missing:
        terminalreporter.write_line(reason, red=True, bold=True)
    terminalreporter.write_line(
        "their tests were SKIPPED: this run does not cover them "
        "(set WORKFLOW_TEST_POSTGRESQL_URL / WORKFLOW_TEST_MARIADB_URL or start the servers)",
        red=True,
    )
    terminalreporter.write_sep("!", red=True, bold=True)
