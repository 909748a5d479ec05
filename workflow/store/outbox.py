"""The database side of notifications: the outbox's claims, expansions, attempts and retries.

Plain functions over a SQLAlchemy :class:`~sqlalchemy.Connection` and the
:class:`~workflow.store.schema.Tables`, like :mod:`workflow.store.timers`
(whose claim helpers they share). None of them begins, commits or rolls back.

The outbox holds three kinds of rows::

    intent   written by the core with the change that caused it (one per cause
             and role): intent -> expanded | unroutable
    message  one person on one channel, expanded from an intent:
             pending -> sent | dead        (delivered on its own)
             digest  -> batched -> sent | dead   (held for a digest, then in one)
    digest   one message carrying several held ones: pending -> sent | dead

A dispatcher claims rows of one status that are due (``claim``: ``FOR
UPDATE SKIP LOCKED`` on PostgreSQL and MariaDB, the ``BEGIN IMMEDIATE``
write lock on SQLite), commits the claim, does the work, and records the
outcome in a new transaction with a conditional UPDATE that succeeds only
while the row's lease token is still its own. When that fails, the caller
rolls back: a dispatcher that lost its lease (it stalled, and another took
the row) commits nothing.

Times are aware UTC datetimes in and out.

The per-row statements (an intent's expansion, a delivery's outcome) are
built once per set of tables with bind parameters (:class:`_Statements`):
building a Core statement costs more than running it (coercing every column
and value, then computing its cache key), while a statement built once is
compiled once per dialect and found in SQLAlchemy's compiled cache by its
memoized key afterwards (``bench/dispatch_bench.py`` measures the pass).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import weakref
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import (
    Connection,
    Insert,
    Row,
    Select,
    Table,
    Update,
    bindparam,
    func,
    insert,
    or_,
    select,
    text,
    update,
)

from workflow.errors import StoreError
from workflow.store.schema import OUTBOX_OPEN, Tables
from workflow.store.timers import for_claim, insert_ignore, lease_rows

__all__ = [
    "CLAIMABLE",
    "KEY_LIMIT",
    "STATUSES",
    "Attempt",
    "NewMessage",
    "OutboxRow",
    "RetryResult",
    "attempts_of",
    "claim",
    "compose_digest",
    "expand",
    "finish",
    "list_rows",
    "load_rows",
    "mark_unroutable",
    "message_key",
    "note",
    "retry",
]

Claimable = Literal["intent", "pending", "digest"]

CLAIMABLE: tuple[Claimable, ...] = ("intent", "pending", "digest")
"""The statuses a dispatcher claims (the rows still to be worked on)."""

STATUSES: tuple[str, ...] = (
    "intent",
    "expanded",
    "unroutable",
    "pending",
    "digest",
    "batched",
    "sent",
    "dead",
)
"""Every status an outbox row can have (see the module docstring)."""

KEY_LIMIT = 128
"""The longest idempotency key the column holds; longer ones are shortened with a hash."""

_OPEN = text(OUTBOX_OPEN)

_MYSQL_NAMES = ("mysql", "mariadb")


class _Statements:
    """The per-row statements of a pass, built once for one set of tables.

    Bind names start with ``w_``: names of columns are the SET and VALUES keys.
    """

    def __init__(self, o: Table, a: Table) -> None:
        token = bindparam("w_token", type_=o.c.lease_token.type)
        row_id = bindparam("w_id", type_=o.c.id.type)
        error = bindparam("w_error", type_=o.c.last_error.type)
        now = bindparam("w_now", type_=o.c.sent_at.type)
        released = {"lease_token": None, "lease_until": None}
        # An intent's end: expanded (error None) or unroutable (the reason).
        self.close_intent: Update = (
            update(o)
            .where(o.c.id == row_id, o.c.lease_token == token)
            .values(
                status=bindparam("w_status", type_=o.c.status.type),
                next_attempt_at=None,
                last_error=error,
                **released,
            )
        )
        self.note: Update = update(o).where(o.c.id == row_id).values(last_error=error)
        # A delivery's outcome, one statement per outcome (each sets what it did before).
        leased = update(o).where(
            o.c.id == row_id, o.c.lease_token == token, o.c.status == "pending"
        )
        counted = {"attempts": o.c.attempts + 1, **released}
        self.finish: dict[str, Update] = {
            "sent": leased.values(
                status="sent", sent_at=now, next_attempt_at=None, last_error=None, **counted
            ),
            "failed": leased.values(
                status="pending",
                next_attempt_at=bindparam("w_next", type_=o.c.next_attempt_at.type),
                last_error=error,
                **counted,
            ),
            "dead": leased.values(status="dead", next_attempt_at=None, last_error=error, **counted),
        }
        members = update(o).where(o.c.digest_id == row_id, o.c.status == "batched")
        self.members: dict[str, Update] = {
            "sent": members.values(status="sent", sent_at=now),
            "dead": members.values(status="dead"),
        }
        # The attempt's number follows the last on record (not the row's ``attempts``,
        # which a retry by hand resets while the attempts stay).
        self.last_attempt: Select[Any] = select(func.coalesce(func.max(a.c.attempt), 0)).where(
            a.c.outbox_id == row_id
        )
        self.insert_attempt: Insert = insert(a)
        outbox_id = bindparam("w_id", type_=a.c.outbox_id.type)
        numbered = select(
            outbox_id,
            func.coalesce(func.max(a.c.attempt), 0) + 1,
            bindparam("w_at", type_=a.c.at.type),
            bindparam("w_outcome", type_=a.c.outcome.type),
            bindparam("w_error", type_=a.c.error.type),
            bindparam("w_duration", type_=a.c.duration_ms.type),
        ).where(a.c.outbox_id == outbox_id)
        self.insert_numbered_attempt: Insert = insert(a).from_select(
            ["outbox_id", "attempt", "at", "outcome", "error", "duration_ms"], numbered
        )
        self._insert_ignore: dict[str, Insert] = {}
        self._outbox = o

    def insert_ignore(self, connection: Connection) -> Insert:
        """Return the outbox's insert-or-ignore for the connection's dialect."""
        name = connection.dialect.name
        statement = self._insert_ignore.get(name)
        if statement is None:
            statement = self._insert_ignore[name] = insert_ignore(connection, self._outbox)
        return statement


_built: weakref.WeakKeyDictionary[Table, _Statements] = weakref.WeakKeyDictionary()
_building = threading.Lock()


def _statements(t: Tables) -> _Statements:
    """Return the per-row statements for ``t`` (built at the first use)."""
    found = _built.get(t.outbox)
    if found is None:
        with _building:
            found = _built.get(t.outbox)
            if found is None:
                found = _built[t.outbox] = _Statements(t.outbox, t.outbox_attempts)
    return found


def message_key(*parts: str) -> str:
    """Join key parts with ``/``; a key too long for the column ends in a SHA-256 digest.

    The same parts always give the same key, so a message expanded twice
    (after a crash) is recognised by the unique constraint.
    """
    key = "/".join(parts)
    if len(key) <= KEY_LIMIT:
        return key
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
    return f"{key[: KEY_LIMIT - len(digest) - 1]}#{digest}"


@dataclass(frozen=True)
class OutboxRow:
    """One outbox row as stored (intents carry a payload; messages their rendered text)."""

    id: int
    kind: str
    status: str
    key: str
    item_id: int | None
    history_seq: int | None
    channel: str
    recipient: str
    template: str
    payload: Mapping[str, Any]
    person: str | None
    address: str | None
    locale: str | None
    subject: str | None
    body: str | None
    urgent: bool
    attempts: int
    next_attempt_at: dt.datetime | None
    last_error: str | None
    lease_token: str | None
    lease_until: dt.datetime | None
    created_at: dt.datetime
    sent_at: dt.datetime | None
    parent_id: int | None
    digest_id: int | None


def _row(row: Row[Any]) -> OutboxRow:
    return OutboxRow(
        id=int(row.id),
        kind=row.kind,
        status=row.status,
        key=row.idempotency_key,
        item_id=row.item_id,
        history_seq=row.history_seq,
        channel=row.channel,
        recipient=row.recipient,
        template=row.template,
        payload=row.payload or {},
        person=row.person,
        address=row.address,
        locale=row.locale,
        subject=row.subject,
        body=row.body,
        urgent=bool(row.urgent),
        attempts=int(row.attempts),
        next_attempt_at=row.next_attempt_at,
        last_error=row.last_error,
        lease_token=row.lease_token,
        lease_until=row.lease_until,
        created_at=row.created_at,
        sent_at=row.sent_at,
        parent_id=row.parent_id,
        digest_id=row.digest_id,
    )


@dataclass(frozen=True)
class NewMessage:
    """A message to insert: one person on one channel (or a digest), rendered."""

    key: str
    channel: str
    recipient: str
    """How the person was reached: ``role:<role>`` for a message, ``digest`` for a digest."""
    person: str
    address: str
    locale: str
    template: str
    subject: str
    body: str
    urgent: bool
    status: Literal["pending", "digest"]
    next_attempt_at: dt.datetime
    item_id: int | None = None
    history_seq: int | None = None
    metadata: Mapping[str, str] | None = None
    """Plain identifiers for the channel (workflow, item, kind), kept as the payload."""


@dataclass(frozen=True)
class Attempt:
    """One delivery attempt of an outbox row."""

    outbox_id: int
    attempt: int
    at: dt.datetime
    outcome: str
    error: str | None
    duration_ms: int


# --- claims ---------------------------------------------------------------------


def claim(
    connection: Connection,
    t: Tables,
    status: Claimable,
    *,
    now: dt.datetime,
    token: str,
    lease: dt.timedelta,
    limit: int,
    channels: Collection[str] | None = None,
) -> list[int]:
    """Lease up to ``limit`` due rows of ``status`` to ``token`` until ``now + lease``.

    Due means: an intent at once; a pending or held message once its
    ``next_attempt_at`` has come. Rows leased to someone else until after
    ``now`` are left alone (a lease that ran out, say of a dispatcher killed
    mid-send, is taken over). The earliest come first. ``channels`` limits
    the claim to messages of those channels (a dispatcher claims only what it
    can send). The caller commits at once, in a transaction of its own
    (``timers.claim_connection``).
    """
    query = _claim_query(connection, t, status, now, limit, channels)
    ids = [int(row_id) for row_id in connection.execute(query).scalars()]
    lease_rows(connection, t.outbox, ids, {"lease_token": token, "lease_until": now + lease})
    return ids


def _claim_query(
    connection: Connection,
    t: Tables,
    status: Claimable,
    now: dt.datetime,
    limit: int,
    channels: Collection[str] | None,
) -> Select[Any]:
    """Build a claim's question: which rows of ``status`` are due and not leased."""
    o = t.outbox
    query = select(o.c.id).where(
        # The partial index's own condition, verbatim, so that SQLite uses it.
        _OPEN,
        o.c.status == status,
        or_(o.c.lease_until.is_(None), o.c.lease_until < now),
    )
    if status != "intent":
        query = query.where(o.c.next_attempt_at <= now)
    if channels is not None:
        query = query.where(o.c.channel.in_(sorted(channels)))
    return for_claim(query.order_by(o.c.next_attempt_at, o.c.id).limit(limit), connection)


def load_rows(connection: Connection, t: Tables, ids: Collection[int]) -> list[OutboxRow]:
    """Return the rows ``ids`` (those that exist), by id."""
    if not ids:
        return []
    o = t.outbox
    query = select(o).where(o.c.id.in_(sorted(ids))).order_by(o.c.id)
    return [_row(row) for row in connection.execute(query)]


def _held(connection: Connection, t: Tables, row_id: int, token: str) -> bool:
    """Tell whether ``token`` still holds the row (a cheap check before inserting children)."""
    o = t.outbox
    query = select(o.c.id).where(o.c.id == row_id, o.c.lease_token == token)
    return connection.execute(query).first() is not None


# --- expansion ------------------------------------------------------------------


def _message_values(message: NewMessage, now: dt.datetime, **extra: Any) -> dict[str, Any]:
    for name, value, limit in (
        ("key", message.key, KEY_LIMIT),
        ("person", message.person, 128),
        ("address", message.address, 512),
        ("channel", message.channel, 64),
        ("recipient", message.recipient, 256),
    ):
        if len(value) > limit:
            # MySQL's INSERT IGNORE would silently truncate; refuse instead.
            raise StoreError(f"outbox message {name} is longer than {limit} characters: {value!r}")
    return {
        "kind": "message",
        "item_id": message.item_id,
        "history_seq": message.history_seq,
        "idempotency_key": message.key,
        "channel": message.channel,
        "recipient": message.recipient,
        "template": message.template,
        "payload": {"metadata": dict(message.metadata or {})},
        "status": message.status,
        "attempts": 0,
        "next_attempt_at": message.next_attempt_at,
        "created_at": now,
        "person": message.person,
        "address": message.address,
        "locale": message.locale,
        "subject": message.subject,
        "body": message.body,
        "urgent": message.urgent,
        **extra,
    }


def expand(
    connection: Connection,
    t: Tables,
    intent_id: int,
    token: str,
    messages: Sequence[NewMessage],
    now: dt.datetime,
    *,
    remark: str | None = None,
) -> bool:
    """Insert an intent's messages and mark it ``expanded``; False if the lease is lost.

    A message whose key is already there (the same intent expanded before a
    crash, by a dispatcher whose commit then failed) is skipped. ``remark``
    goes to the intent's ``last_error`` (as :func:`note` would put it: say,
    who it could not reach), else that is cleared. On False the caller
    rolls back.
    """
    s = _statements(t)
    marked = connection.execute(
        s.close_intent,
        {
            "w_id": intent_id,
            "w_token": token,
            "w_status": "expanded",
            "w_error": remark[:4000] if remark else None,
        },
    )
    if marked.rowcount != 1:
        return False
    if messages:
        connection.execute(
            s.insert_ignore(connection),
            [_message_values(m, now, parent_id=intent_id) for m in messages],
        )
    return True


def mark_unroutable(
    connection: Connection, t: Tables, intent_id: int, token: str, error: str
) -> bool:
    """Record that an intent reached nobody, and why; False if the lease is lost.

    The row stays visible (``workflow outbox list --status unroutable``) and
    can be expanded again after the directory is fixed (:func:`retry`).
    """
    result = connection.execute(
        _statements(t).close_intent,
        {"w_id": intent_id, "w_token": token, "w_status": "unroutable", "w_error": error[:4000]},
    )
    return bool(result.rowcount == 1)


def note(connection: Connection, t: Tables, row_id: int, text: str) -> None:
    """Set a row's ``last_error`` to a remark (an expanded intent that missed some people)."""
    connection.execute(_statements(t).note, {"w_id": row_id, "w_error": text[:4000]})


# --- digests ----------------------------------------------------------------------


def compose_digest(
    connection: Connection,
    t: Tables,
    member_ids: Sequence[int],
    token: str,
    digest: NewMessage,
    now: dt.datetime,
) -> int | None:
    """Insert one digest message for held messages and batch them into it.

    Returns the digest's id, or None when ``token`` no longer holds every
    member (the caller rolls back). A digest with the same key already there
    (composed before a crash that lost the members' update) is reused.
    """
    o = t.outbox
    if not member_ids:
        raise ValueError("a digest needs at least one message")
    values = _message_values(digest, now, kind="digest")
    connection.execute(_statements(t).insert_ignore(connection), values)
    digest_id = connection.execute(
        select(o.c.id).where(o.c.idempotency_key == digest.key)
    ).scalar_one()
    result = connection.execute(
        update(o)
        .where(o.c.id.in_(list(member_ids)), o.c.lease_token == token, o.c.status == "digest")
        .values(
            status="batched",
            digest_id=digest_id,
            lease_token=None,
            lease_until=None,
            next_attempt_at=None,
        )
    )
    if result.rowcount != len(member_ids):
        return None
    return int(digest_id)


# --- delivery outcomes --------------------------------------------------------------


Outcome = Literal["sent", "failed", "dead"]


def finish(
    connection: Connection,
    t: Tables,
    row_id: int,
    token: str,
    *,
    outcome: Outcome,
    now: dt.datetime,
    duration_ms: int,
    error: str | None = None,
    next_attempt_at: dt.datetime | None = None,
    digest: bool = True,
) -> bool:
    """Record one delivery attempt and its outcome; False if the lease is no longer ``token``'s.

    ``sent``: the row is sent (and so are the messages of a digest);
    ``failed``: back to pending until ``next_attempt_at``; ``dead``: given up
    (a digest's messages with it). ``digest=False`` says the row is a plain
    message (no message is ever batched into one), sparing that update.
    ``error`` must already be redacted. Only the lease token is checked, not
    its end: a send that outlasted its lease is still recorded unless another
    dispatcher has taken the row since. On False the caller rolls back.
    """
    if outcome == "failed" and next_attempt_at is None:
        raise ValueError("a failed attempt needs the time of the next one")
    s = _statements(t)
    result = connection.execute(
        s.finish[outcome],
        {
            "w_id": row_id,
            "w_token": token,
            "w_now": now,
            "w_next": next_attempt_at,
            "w_error": None if outcome == "sent" else error,
        },
    )
    if result.rowcount != 1:
        return False
    attempt = {
        "w_at": now,
        "w_outcome": outcome,
        "w_error": error,
        "w_duration": max(0, duration_ms),
    }
    if connection.dialect.name in _MYSQL_NAMES:
        # Two statements: under REPEATABLE READ, InnoDB's INSERT ... SELECT locks
        # the index range it reads, gap included; two dispatchers recording first
        # attempts of neighbouring rows could then deadlock inserting into that gap.
        number = connection.execute(s.last_attempt, {"w_id": row_id}).scalar_one()
        connection.execute(
            s.insert_attempt,
            {
                "outbox_id": row_id,
                "attempt": int(number) + 1,
                "at": now,
                "outcome": outcome,
                "error": error,
                "duration_ms": max(0, duration_ms),
            },
        )
    else:
        # The number and the row in one round trip; the outbox row's update above
        # holds it against any other recorder until this transaction ends.
        connection.execute(s.insert_numbered_attempt, {"w_id": row_id, **attempt})
    if digest and outcome in ("sent", "dead"):
        connection.execute(s.members[outcome], {"w_id": row_id, "w_now": now})
    return True


# --- reading ---------------------------------------------------------------------


def list_rows(
    connection: Connection,
    t: Tables,
    *,
    status: str | None = None,
    item_id: int | None = None,
    kind: str | None = None,
    after_id: int | None = None,
    limit: int = 100,
) -> list[OutboxRow]:
    """Return outbox rows matching the filters, by id, at most ``limit`` after ``after_id``."""
    o = t.outbox
    query = select(o)
    if status is not None:
        query = query.where(o.c.status == status)
    if item_id is not None:
        query = query.where(o.c.item_id == item_id)
    if kind is not None:
        query = query.where(o.c.kind == kind)
    if after_id is not None:
        query = query.where(o.c.id > after_id)
    query = query.order_by(o.c.id).limit(limit)
    return [_row(row) for row in connection.execute(query)]


def attempts_of(connection: Connection, t: Tables, row_id: int) -> list[Attempt]:
    """Return the delivery attempts of one row, first first."""
    a = t.outbox_attempts
    query = select(a).where(a.c.outbox_id == row_id).order_by(a.c.attempt)
    return [
        Attempt(
            outbox_id=int(row.outbox_id),
            attempt=int(row.attempt),
            at=row.at,
            outcome=row.outcome,
            error=row.error,
            duration_ms=int(row.duration_ms),
        )
        for row in connection.execute(query)
    ]


# --- retries by hand ---------------------------------------------------------------


@dataclass(frozen=True)
class RetryResult:
    """What :func:`retry` did: rows queued again, and the ids it left alone (and why)."""

    requeued: tuple[int, ...]
    skipped: Mapping[int, str]


def retry(
    connection: Connection,
    t: Tables,
    ids: Collection[int] | None,
    now: dt.datetime,
) -> RetryResult:
    """Queue dead messages and unroutable intents again (all of them when ``ids`` is None).

    A dead message or digest goes back to ``pending``, due at once (from its
    creation time, so retried messages go first), with its
    attempt count reset (so it gets the whole backoff schedule again; the
    attempts table keeps every earlier attempt, and ``last_error`` says it was
    requeued). A dead digest takes its messages back with it; a dead message
    of a digest retried on its own goes out as a message of its own. An
    unroutable intent goes back to ``intent``, to be expanded again (say
    after the directory was fixed). Other rows are skipped, with the reason.
    """
    o = t.outbox
    query = select(o.c.id, o.c.kind, o.c.status, o.c.digest_id, o.c.last_error)
    if ids is None:
        query = query.where(o.c.status.in_(("dead", "unroutable")))
    else:
        query = query.where(o.c.id.in_(sorted(ids)))
    found = {int(row.id): row for row in connection.execute(query.order_by(o.c.id))}
    skipped: dict[int, str] = {}
    if ids is not None:
        for row_id in ids:
            if row_id not in found:
                skipped[row_id] = "no such outbox row"
    requeued: list[int] = []
    digests = {i for i, row in found.items() if row.kind == "digest" and row.status == "dead"}
    stamp = now.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    for row_id, row in found.items():
        note = f"requeued by hand at {stamp}" + (
            f"; before: {row.last_error}" if row.last_error else ""
        )
        if row.status == "unroutable":
            connection.execute(
                update(o)
                .where(o.c.id == row_id, o.c.status == "unroutable")
                .values(status="intent", last_error=note[:4000], lease_token=None, lease_until=None)
            )
            requeued.append(row_id)
        elif row.status == "dead":
            if row.digest_id is not None and row.digest_id in digests:
                continue  # goes out again inside its digest
            values: dict[str, Any] = {
                "status": "pending",
                "attempts": 0,
                # Due whatever clock the next pass judges by (``--now`` in the past too).
                "next_attempt_at": o.c.created_at,
                "last_error": note[:4000],
                "lease_token": None,
                "lease_until": None,
            }
            if row.digest_id is not None:
                values["digest_id"] = None
            connection.execute(
                update(o).where(o.c.id == row_id, o.c.status == "dead").values(values)
            )
            if row.kind == "digest":
                connection.execute(
                    update(o)
                    .where(o.c.digest_id == row_id, o.c.status == "dead")
                    .values(status="batched")
                )
            requeued.append(row_id)
        else:
            skipped[row_id] = f"status {row.status!r}: only dead and unroutable rows are retried"
    return RetryResult(requeued=tuple(requeued), skipped=dict(sorted(skipped.items())))
