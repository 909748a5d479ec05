"""The per-transition path at the DB-API level: value converters and engine-owned transactions.

Two things SQLAlchemy does on every execute and every transaction cost more,
per transition, than the statements themselves (``bench/transitions_bench.py``):

* **Converting values.** A Core statement runs each parameter through its
  type's bind processor (for ``UTCDateTime`` on SQLite: a ``TypeDecorator``
  wrapper, a time-zone conversion, then ``%``-formatting seven fields) and
  each result through its result processor (a regular expression for a
  SQLite timestamp). :func:`bind_converter` and :func:`result_converter`
  return a direct equivalent for the column types of the hot statements,
  and SQLAlchemy's own processor for everything else. Each equivalent is
  checked against SQLAlchemy's processor on sample values when it is built
  and not used if they disagree, so a dialect option (a JSON serializer, a
  storage format) can never silently change what is stored.
* **The transaction lifecycle.** A ``Connection``, its ``begin``/``commit``
  events and its reset-on-return cost about 30 µs of CPU per transaction on
  SQLite. When nothing listens to an engine's connection events (no echo,
  no execute or transaction listeners, no execution options that shape the
  connection), :class:`DriverTransaction` runs the transaction on the pooled
  DB-API connection instead: the pool's own checkout and checkin (and their
  events) still happen, the commit still goes through the dialect's
  ``do_commit``, and errors still become SQLAlchemy's exceptions, through a
  ``Connection`` wrapped around the same pooled connection on demand (also
  used for every statement that is not on the per-transition path).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

from sqlalchemy import JSON, Connection, Dialect, Engine
from sqlalchemy.pool import PoolProxiedConnection

from workflow.store.schema import UTCDateTime

__all__ = ["DriverTransaction", "bind_converter", "driver_owned", "result_converter"]

Converter = Callable[[Any], Any]

_OWN_LISTENER = "_workflow_own_listener"
"""Marks the store's own connection-event listeners (they do not count as observers)."""

_CONNECTION_EVENTS = (
    "engine_connect",
    "set_connection_execution_options",
    "before_execute",
    "after_execute",
    "before_cursor_execute",
    "after_cursor_execute",
    "begin",
    "commit",
    "rollback",
    "savepoint",
    "rollback_savepoint",
    "release_savepoint",
)
"""The ``Connection`` events a transaction run on the bare DB-API connection would skip.

(The dialect's ``handle_error`` still runs: errors go through a ``Connection``.)"""

_SAMPLE_TIMES = (
    dt.datetime(2026, 11, 26, 9, 30, 0, 0, tzinfo=dt.UTC),
    dt.datetime(1999, 1, 2, 23, 59, 59, 123456, tzinfo=dt.UTC),
    dt.datetime(2026, 3, 1, 8, 0, 0, 5, tzinfo=dt.timezone(dt.timedelta(hours=8))),
)
_SAMPLE_DOCUMENTS: tuple[Any, ...] = (
    None,
    {},
    {"title": "场地", "count": 3, "ok": True, "ratio": 0.5, "tags": ["a", "b"], "none": None},
)


def own_listener(listener: Any) -> Any:
    """Mark an event listener as the store's own (see :func:`driver_owned`)."""
    setattr(listener, _OWN_LISTENER, True)
    return listener


def driver_owned(engine: Engine, options: Mapping[str, Any]) -> bool:
    """Tell whether transactions on ``engine`` may run on the bare pooled DB-API connection.

    They may when nothing would miss what a ``Connection`` does: no echo, no
    connection-event listener but the store's own, and no execution option
    in ``options`` (isolation level, schema translation, logging token) that
    a ``Connection`` would apply. Checked at every transaction: a listener
    added later (a test, a tracing library) takes effect at once. ``engine``
    is the engine listeners are registered on, not one of the store's
    option engines (asking those costs more, and nobody else holds them).
    """
    if engine.echo or options.keys() - _OWN_OPTIONS:
        return False
    if not engine._has_events:  # no connection-event listener at all (PostgreSQL, MySQL)
        return True
    dispatch = engine.dispatch
    for name in _CONNECTION_EVENTS:
        listeners = getattr(dispatch, name)
        # Asking for truth is cheap; listing the listeners is not, so only then.
        if listeners and not all(getattr(f, _OWN_LISTENER, False) for f in listeners):
            return False
    return True


_OWN_OPTIONS = frozenset({"workflow_write"})
"""Execution options of the store's own (see ``sql._WRITE``), which a Connection does not apply."""


class DriverTransaction:
    """One transaction on a pooled DB-API connection, without a SQLAlchemy ``Connection``.

    ``begin`` is what the store's ``begin`` listener would send (SQLite's
    ``BEGIN IMMEDIATE`` for writes), or nothing where the driver begins
    transactions itself. :meth:`connection` wraps the same DB-API connection
    in a ``Connection`` for statements off the per-transition path; it joins
    this transaction rather than starting one. ``held`` is a connection the
    caller keeps checked out between transactions (see
    ``SqlStore._held_writer``): :meth:`close` leaves it checked out.
    """

    __slots__ = ("_held", "_wrapper", "dbapi_connection", "engine", "pooled")

    def __init__(
        self, engine: Engine, begin: str | None, held: PoolProxiedConnection | None = None
    ) -> None:
        self.engine = engine
        self._wrapper: Connection | None = None
        self._held = held is not None
        self.pooled: PoolProxiedConnection = held if held is not None else engine.raw_connection()
        self.dbapi_connection: Any = self.pooled.dbapi_connection
        if begin is not None:
            try:
                self.pooled.driver_connection.execute(begin)  # type: ignore[union-attr]
            except BaseException as error:
                try:
                    self.fail(error, begin)
                finally:
                    self.close()

    def connection(self) -> Connection:
        """Return a ``Connection`` over this transaction's DB-API connection."""
        wrapper = self._wrapper
        if wrapper is None:
            # No event of the engine is joined (none is listened to, or this class
            # would not be used), so its "begin" does not begin a second time: the
            # dialects concerned leave beginning to the driver.
            wrapper = self._wrapper = Connection(self.engine, self.pooled, _has_events=False)
        return wrapper

    def fail(
        self, error: BaseException, statement: str, parameters: Any = (), cursor: Any = None
    ) -> NoReturn:
        """Raise ``error`` as SQLAlchemy would (its classes; a lost connection is invalidated)."""
        if not isinstance(error, Exception):
            # Interrupted mid-statement: the connection's state is unknown.
            self.pooled.invalidate(error)
            raise error
        self.connection()._handle_dbapi_exception(error, statement, parameters, cursor, None)
        raise error  # not reached: the handler raises

    def commit(self) -> None:
        """Commit through the dialect, as ``Connection.commit`` does."""
        try:
            self.engine.dialect.do_commit(self.dbapi_connection)
        except BaseException as error:
            self.fail(error, "COMMIT")

    def rollback(self) -> None:
        """Roll back if the connection is still usable; invalidate it if even that fails."""
        if not self.pooled.is_valid:
            return
        try:
            self.engine.dialect.do_rollback(self.dbapi_connection)
        except BaseException as error:
            self.pooled.invalidate(error)

    def close(self) -> None:
        """Hand the DB-API connection back to the pool (which resets it), unless it is held."""
        self._wrapper = None
        if not self._held:
            self.pooled.close()


# -- converters --------------------------------------------------------------------------------


def bind_converter(column_type: Any, dialect: Dialect) -> Converter | None:
    """Return what turns a Python value into the driver's for ``column_type`` (None: as is)."""
    standard = column_type.dialect_impl(dialect).bind_processor(dialect)
    fast: Converter | None = None
    samples: tuple[Any, ...] = ()
    if isinstance(column_type, UTCDateTime):
        fast = _sqlite_utc_text if dialect.name == "sqlite" else _naive_utc
        samples = (None, *_SAMPLE_TIMES)
    elif _plain_json(column_type, dialect) and standard is not None:
        fast = _to_json_text(standard, None if column_type.none_as_null else "null")
        samples = _SAMPLE_DOCUMENTS
    return _checked(fast, standard, samples)


def result_converter(column_type: Any, dialect: Dialect) -> Converter | None:
    """Return what turns a driver's value into the Python one for ``column_type`` (None: as is)."""
    standard = column_type.dialect_impl(dialect).result_processor(dialect, None)
    if standard is None:
        return None
    fast: Converter | None = None
    samples: tuple[Any, ...] = ()
    if isinstance(column_type, UTCDateTime):
        if dialect.name == "sqlite":
            fast = _from_sqlite_text(standard)
            samples = (None, "2026-11-26 09:30:00.000000", "1999-01-02 23:59:59.123456")
            samples += ("2026-11-26 09:30:00",)
        else:
            fast = _aware_utc(standard)
            samples = (None, dt.datetime(2026, 11, 26, 9, 30), dt.datetime(1999, 1, 2, 0, 0, 0, 7))
    elif _plain_json(column_type, dialect):
        fast = _from_json_text(standard)
        samples = (None, "null", "{}", json.dumps(_SAMPLE_DOCUMENTS[2]), "[1, 2.5]")
    return _checked(fast, standard, samples)


def _plain_json(column_type: Any, dialect: Dialect) -> bool:
    """Tell whether a JSON column is stored as text with the standard library's codec."""
    return (
        isinstance(column_type, JSON)
        and dialect.name == "sqlite"
        and getattr(dialect, "_json_serializer", None) is None
        and getattr(dialect, "_json_deserializer", None) is None
    )


def _checked(
    fast: Converter | None, standard: Converter | None, samples: tuple[Any, ...]
) -> Converter | None:
    """Return ``fast`` if it gives what ``standard`` gives on every sample, else ``standard``."""
    if fast is None or standard is None:
        return standard
    for sample in samples:
        expected, got = standard(sample), fast(sample)
        if got != expected or type(got) is not type(expected):
            return standard
        if isinstance(got, dt.datetime) and got.tzinfo != expected.tzinfo:
            return standard
    return fast


def _utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is dt.UTC:
        return value
    if value.tzinfo is None:
        raise ValueError("naive datetimes are ambiguous; pass a timezone-aware datetime")
    return value.astimezone(dt.UTC)


_last_text: tuple[object, str | None] = (object(), None)
"""The last time converted by :func:`_sqlite_utc_text`, and its text."""


def _sqlite_utc_text(value: dt.datetime | None) -> str | None:
    """UTC without a zone, in SQLAlchemy's SQLite storage format (six fraction digits).

    A transition stores its one moment twice (the item's ``updated_at``, the
    history row's ``at``): the same object, converted once. Datetimes are
    immutable, so the same object always gives the same text.
    """
    global _last_text  # noqa: PLW0603 - a one-entry cache; a tuple is swapped whole
    last = _last_text
    if value is last[0]:
        return last[1]
    if value is None:
        return None
    text = _utc(value).replace(tzinfo=None).isoformat(" ", "microseconds")
    _last_text = (value, text)
    return text


def _naive_utc(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else _utc(value).replace(tzinfo=None)


def _from_sqlite_text(standard: Converter) -> Converter:
    def convert(value: Any) -> Any:
        if type(value) is str:
            try:
                return dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)
            except ValueError:
                pass
        return standard(value)

    return convert


def _aware_utc(standard: Converter) -> Converter:
    def convert(value: Any) -> Any:
        if type(value) is dt.datetime and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return standard(value)

    return convert


_dumps = json.dumps
_loads = json.loads


def _to_json_text(standard: Converter, none: str | None) -> Converter:
    def convert(value: Any) -> Any:
        if value is None:
            return none
        if type(value) is dict or type(value) is list:
            return _dumps(value)
        return standard(value)  # JSON.NULL, null(), scalars: as SQLAlchemy does them

    return convert


def _from_json_text(standard: Converter) -> Converter:
    def convert(value: Any) -> Any:
        if type(value) is str:
            return _loads(value)
        return standard(value)

    return convert
