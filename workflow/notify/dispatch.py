"""The dispatcher: turns outbox intents into messages and delivers them, losing nothing.

One pass (:meth:`Dispatcher.run_pass`; ``workflow outbox dispatch``, the
daemon's ``dispatch`` job, or a host's own scheduler) has three stages, each
working in claimed batches (:func:`workflow.store.outbox.claim`: a short
transaction that leases due rows to this pass, ``FOR UPDATE SKIP LOCKED``
on PostgreSQL and MariaDB, ``BEGIN IMMEDIATE`` on SQLite):

1. **expand** each intent, in one transaction of its own: resolve its role
   to people (:mod:`workflow.notify.recipients`), find each person's
   channels, render the template in the person's language, and insert one
   message per (person, channel) with the key ``<intent key>/<person>/<channel>``:
   ``pending`` now, or at the end of the channel's quiet hours, or held as
   ``digest`` until the digest time. An intent that reaches nobody (or whose
   template fails) becomes ``unroutable`` with the reason: never dropped.
2. **compose digests**: held messages that are due are grouped per (person,
   channel) and become ONE digest message each (template ``digest``).
3. **deliver** each due pending message: the claim is committed, the
   channel sends OUTSIDE any transaction, then a new transaction records the
   attempt and the outcome, only if the lease is still this pass's: ``sent``;
   or back to ``pending`` after an exponential backoff with jitter; or
   ``dead`` after the last attempt or an error the channel says is final.

The guarantee: **at least once, with an idempotency key; never lost.** A
dispatcher killed between a send and its record loses its lease when the
lease runs out; the next pass sends the message again, with the same key
(channels pass it on: an ``Idempotency-Key`` header, the e-mail
Message-ID), and records it sent once. Several dispatchers on one database
never send a message twice while they are alive: each row is leased to one
of them, and a lease outlives the longest send by the configuration's rule.

Every error stored or logged goes through the configuration's redactor
first: no secret (a password, a robot URL's token) reaches the database or
the log. Logs name outbox ids, channels and item ids, never message text.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from zoneinfo import ZoneInfo

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from notifiers.base import Channel, DeliveryError, Message
from notifiers.config import ChannelConfig, NotifierConfig, load_notifier_config
from workflow.definition.templates.templateset import TemplateSet, context_for, digest_context
from workflow.errors import ItemNotFound, StoreError, WorkflowError
from workflow.notify.recipients import Contact, ContactDirectory, Recipient, recipients_for
from workflow.store import outbox, timers
from workflow.store.outbox import NewMessage, OutboxRow

if TYPE_CHECKING:
    from workflow.app import Engine
    from workflow.core.ports import Clock
    from workflow.core.values import ItemSnapshot
    from workflow.definition.compiled import Definition

__all__ = [
    "DEFAULT_BATCH",
    "DEFAULT_DIGEST_AT",
    "DEFAULT_MAX_PER_PASS",
    "DispatchReport",
    "Dispatcher",
    "Renderer",
    "dispatch_once",
]

log = logging.getLogger("workflow.notify")

DEFAULT_BATCH = 100
"""How many rows one claim takes."""

DEFAULT_MAX_PER_PASS = 10_000
"""How many rows one stage of a pass handles at most (the rest wait for the next pass)."""

DEFAULT_DIGEST_AT = dt.time(9, 0)
"""The digest time for a person who asked for digests on a channel that sets none."""

DEFAULT_TIMEZONE = "Asia/Shanghai"
_SUBJECT_LIMIT = 998  # the longest header line e-mail allows
_MAX_DIGEST_DAYS = 400


class Rendered(Protocol):
    """A rendered template (:class:`workflow.definition.templates.templateset.Rendered`)."""

    @property
    def subject(self) -> str:
        """The subject block."""
        ...

    @property
    def body(self) -> str:
        """The body block."""
        ...

    @property
    def locale(self) -> str:
        """The locale actually rendered (after falling back)."""
        ...


@runtime_checkable
class Renderer(Protocol):
    """What the dispatcher needs of the templates (a ``TemplateSet``)."""

    def render(self, name: str, locale: str, context: Mapping[str, Any]) -> Rendered:
        """Render template ``name`` in ``locale`` (falling back) with ``context``."""
        ...

    def locale_for(self, name: str, wanted: str) -> str:
        """Return the locale a message asked in ``wanted`` will be written in."""
        ...


@dataclass(frozen=True)
class DispatchReport:
    """The outcome of one pass (counts, and the ids that need a look)."""

    now: dt.datetime
    """The time the pass judged "due" by (at its first claim)."""
    token: str
    duration: float
    """Seconds the pass took."""
    expanded: int = 0
    """Intents turned into messages."""
    created: int = 0
    """Messages created by those intents (held ones included)."""
    held: int = 0
    """Of those, held for a digest."""
    unroutable: tuple[int, ...] = ()
    """Intents that reached nobody (or whose template failed); see ``last_error``."""
    digests: int = 0
    """Digest messages composed."""
    sent: int = 0
    retried: int = 0
    """Attempts that failed and will be tried again later."""
    dead: tuple[int, ...] = ()
    """Messages given up (dead letters), this pass."""
    lost_leases: tuple[int, ...] = ()
    """Rows whose lease was gone when the outcome was to be recorded (rolled back)."""
    failures: tuple[int, ...] = ()
    """Rows whose handling raised an unexpected error (rolled back, logged)."""

    def summary(self) -> str:
        """Describe the pass in one line (for logs and the CLI)."""
        return (
            f"{self.expanded} intent(s) expanded into {self.created} message(s) "
            f"({self.held} held for digests), {len(self.unroutable)} unroutable, "
            f"{self.digests} digest(s), {self.sent} sent, {self.retried} to retry, "
            f"{len(self.dead)} dead, {len(self.lost_leases)} lost lease(s), "
            f"{len(self.failures)} failure(s) in {self.duration:.3f} s"
        )


@dataclass
class _Pass:
    token: str
    now: dt.datetime | None = None
    expanded: int = 0
    created: int = 0
    held: int = 0
    unroutable: list[int] = field(default_factory=list)
    digests: int = 0
    sent: int = 0
    retried: int = 0
    dead: list[int] = field(default_factory=list)
    lost: list[int] = field(default_factory=list)
    failures: list[int] = field(default_factory=list)


class _LeaseLost(Exception):
    """Raised inside a transaction to roll it back: the row's lease is not ours any more."""


class _Unroutable(Exception):
    """An intent cannot become any message; the text says why."""


class Dispatcher:
    """Runs dispatch passes over an engine's outbox (SQL store only).

    ``config`` is the notifier configuration (default: the console channel
    alone); ``channels`` the channels by name (default: built from the
    configuration; the dispatcher claims only messages of channels it has);
    ``templates`` the template set (default: the engine catalog's, else the
    shipped templates); ``clock`` what "now" is (default: the database's
    clock, as the escalation scan judges due times); ``directory`` who is who
    (default: the engine's, which must be a
    :class:`~workflow.notify.recipients.ContactDirectory`). ``rand`` gives
    the backoff jitter (pass a fixed one in tests).
    """

    def __init__(
        self,
        engine: Engine,
        config: NotifierConfig | None = None,
        channels: Mapping[str, Channel] | None = None,
        templates: Renderer | None = None,
        clock: Clock | None = None,
        *,
        directory: ContactDirectory | None = None,
        token: str | None = None,
        rand: Callable[[], float] = random.random,
        max_per_pass: int = DEFAULT_MAX_PER_PASS,
    ) -> None:
        if engine.store.engine is None:
            raise StoreError(
                "the dispatcher opens its own transactions: build the engine over a database "
                "engine (Engine.from_engine / from_url), not a host's connection"
            )
        found = directory if directory is not None else engine.directory
        if not isinstance(found, ContactDirectory):
            raise WorkflowError(
                f"the directory {type(found).__name__} cannot list people: notifications need "
                "one that also implements group_members, acting_for and contact "
                "(workflow.notify.recipients.ContactDirectory)"
            )
        self.engine = engine
        self.config = config if config is not None else load_notifier_config(None, environ={})
        self.channels: dict[str, Channel] = dict(
            channels if channels is not None else self.config.build_channels()
        )
        self.templates = (
            templates
            if templates is not None
            else _default_templates(engine, self.config.default_locale)
        )
        self.clock = clock
        self.directory: ContactDirectory = found
        self.token = token
        self.rand = rand
        self.max_per_pass = max_per_pass
        self.redact = self.config.redactor()
        self.lease = dt.timedelta(seconds=self.config.delivery.lease)
        calendar = engine.calendar
        self.zone = ZoneInfo(calendar.timezone if calendar is not None else DEFAULT_TIMEZONE)
        self._working_days: Callable[[dt.date], bool] = (
            calendar.is_working_day
            if calendar is not None and isinstance(calendar, _HasWorkingDays)
            else _weekday
        )
        self._stopping = threading.Event()
        self._definitions: dict[str, Definition] = {}

    # -- the pass ---------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask a running pass (in another thread) to end after its current row."""
        self._stopping.set()

    def close(self) -> None:
        """Close every channel (connections, sessions)."""
        for channel in self.channels.values():
            try:
                channel.close()
            except Exception:
                log.exception("closing channel %s failed", channel.name)

    def run_pass(
        self, now: dt.datetime | None = None, *, limit: int = DEFAULT_BATCH
    ) -> DispatchReport:
        """Run one pass: expand intents, compose due digests, deliver due messages.

        ``now`` (aware) is the time "due" is judged by and leases are counted
        from; by default the dispatcher's clock, else the database's, read at
        each claim. ``limit`` is the size of each claimed batch.
        """
        if now is not None and now.tzinfo is None:
            raise ValueError("run_pass needs a timezone-aware time")
        if limit < 1:
            raise ValueError("the batch size must be at least 1")
        started = time.perf_counter()
        state = _Pass(token=self.token or uuid.uuid4().hex)
        self._stage(state, "intent", now, limit, self._expand)
        self._compose(state, now, limit)
        self._stage(state, "pending", now, limit, self._deliver)
        report = DispatchReport(
            now=state.now or now or dt.datetime.now(dt.UTC),
            token=state.token,
            duration=time.perf_counter() - started,
            expanded=state.expanded,
            created=state.created,
            held=state.held,
            unroutable=tuple(state.unroutable),
            digests=state.digests,
            sent=state.sent,
            retried=state.retried,
            dead=tuple(state.dead),
            lost_leases=tuple(state.lost),
            failures=tuple(state.failures),
        )
        if state.expanded or state.unroutable or state.sent or state.retried or state.dead:
            log.info("dispatch %s: %s", state.token[:8], report.summary())
        return report

    def _stage(
        self,
        state: _Pass,
        status: outbox.Claimable,
        now: dt.datetime | None,
        limit: int,
        handle: Callable[[_Pass, OutboxRow, dt.datetime, bool], None],
    ) -> None:
        """Claim batches of ``status`` rows and handle each, until none is due."""
        seen: set[int] = set()
        while not self._stopping.is_set() and len(seen) < self.max_per_pass:
            room = min(limit, self.max_per_pass - len(seen))
            moment, rows = self._claim(state, status, now, room)
            fresh = [row for row in rows if row.id not in seen]
            for row in rows:
                seen.add(row.id)
                if self._stopping.is_set():
                    break
                handle(state, row, moment, now is not None)
            # Fewer than asked: nothing else is due. Nothing new: a row came back
            # due at once; the next pass takes it instead of this one spinning.
            if len(rows) < room or not fresh:
                break

    @contextmanager
    def _claiming(self) -> Iterator[Connection]:
        store = self.engine.store
        assert store.engine is not None  # checked in __init__
        with (
            timers.claim_connection(store.engine, schema=store.schema) as connection,
            connection.begin(),
        ):
            yield connection

    def _now(self, connection: Connection, explicit: dt.datetime | None) -> dt.datetime:
        if explicit is not None:
            return explicit
        if self.clock is not None:
            return self.clock.now().astimezone(dt.UTC)
        return timers.db_now(connection)

    def _claim(
        self, state: _Pass, status: outbox.Claimable, now: dt.datetime | None, limit: int
    ) -> tuple[dt.datetime, list[OutboxRow]]:
        """Claim up to ``limit`` due rows in a short transaction of its own; return them."""
        t = self.engine.store.tables
        with self._claiming() as connection:
            moment = self._now(connection, now)
            ids = outbox.claim(
                connection,
                t,
                status,
                now=moment,
                token=state.token,
                lease=self.lease,
                limit=limit,
                channels=None if status == "intent" else sorted(self.channels),
            )
            rows = outbox.load_rows(connection, t, ids)
        if state.now is None:
            state.now = moment
        return moment, rows

    @contextmanager
    def _writing(self, explicit: dt.datetime | None, fallback: dt.datetime) -> Iterator[Any]:
        """Open a write transaction; yield ``(connection, now)`` with "now" judged afresh."""
        with self.engine.store.write() as tx:
            connection = tx.connection
            moment = explicit if explicit is not None else self._fresh_now(connection, fallback)
            yield connection, moment

    def _fresh_now(self, connection: Connection, fallback: dt.datetime) -> dt.datetime:
        if self.clock is not None:
            return self.clock.now().astimezone(dt.UTC)
        try:
            return timers.db_now(connection)
        except StoreError:
            return fallback

    # -- stage 1: expand ----------------------------------------------------------------------

    def _expand(self, state: _Pass, row: OutboxRow, now: dt.datetime, explicit: bool) -> None:
        """Turn one claimed intent into messages (or record it unroutable), in one transaction."""
        try:
            try:
                messages, note = self._messages_for(row, now)
            except _Unroutable as why:
                reason = self.redact(str(why))
                with self._writing(now if explicit else None, now) as (connection, _moment):
                    t = self.engine.store.tables
                    if not outbox.mark_unroutable(connection, t, row.id, state.token, reason):
                        raise _LeaseLost from None
                state.unroutable.append(row.id)
                log.warning("intent %s (item %s) is unroutable: %s", row.id, row.item_id, reason)
                return
            remark = self.redact(note) if note else None
            with self._writing(now if explicit else None, now) as (connection, moment):
                t = self.engine.store.tables
                if not outbox.expand(
                    connection, t, row.id, state.token, messages, moment, remark=remark
                ):
                    raise _LeaseLost
        except _LeaseLost:
            state.lost.append(row.id)
            log.warning("intent %s: lease lost, rolled back (another dispatcher has it)", row.id)
            return
        except DBAPIError as error:
            state.failures.append(row.id)
            log.warning(
                "intent %s: database error, left for the next pass: %s",
                row.id,
                self.redact(_first_line(error)),
            )
            return
        except Exception as error:
            state.failures.append(row.id)
            log.error(
                "intent %s: expanding failed, left for the next pass: %s",
                row.id,
                self.redact(f"{type(error).__name__}: {error}"),
            )
            return
        state.expanded += 1
        state.created += len(messages)
        state.held += sum(1 for m in messages if m.status == "digest")
        if note:
            log.warning("intent %s (item %s): %s", row.id, row.item_id, self.redact(note))

    def _messages_for(self, row: OutboxRow, now: dt.datetime) -> tuple[list[NewMessage], str]:
        """Build the messages of one intent; raise :class:`_Unroutable` if there are none."""
        if not row.recipient.startswith("role:"):
            raise _Unroutable(f"recipient {row.recipient!r} is not a role (expected role:<name>)")
        role = row.recipient.removeprefix("role:")
        if row.item_id is None:
            raise _Unroutable("the intent names no item, so its role cannot be resolved")
        try:
            item = self.engine.get(row.item_id)
            definition = self._definition(item)
        except ItemNotFound:
            raise _Unroutable(f"item {row.item_id} does not exist") from None
        except WorkflowError as error:
            raise _Unroutable(f"item {row.item_id}: {error}") from None
        if role not in definition.spec.roles:
            raise _Unroutable(
                f"role {role!r} is not defined by {definition.id} v{definition.version}"
            )
        recipients = recipients_for(definition, [role], item.data, self.directory)
        if not recipients:
            raise _Unroutable(_nobody(definition.spec.roles[role], role, row.item_id))
        payload = dict(row.payload)
        urgent = bool(payload.get("urgent", False))
        local = now.astimezone(self.zone)
        messages: list[NewMessage] = []
        unreached: list[str] = []
        for recipient in recipients:
            routes = self._routes(recipient)
            if not routes:
                unreached.append(recipient.person)
                continue
            contact = recipient.contact
            locale = (contact.locale if contact else None) or self.config.default_locale
            rendered = self._render(row, payload, recipient, locale, local)
            for channel, address in routes:
                settings = self.config.channels[channel]
                status, due = self._schedule(settings, contact, urgent, now)
                messages.append(
                    NewMessage(
                        key=outbox.message_key(row.key, recipient.person, channel),
                        channel=channel,
                        recipient=row.recipient,
                        person=recipient.person,
                        address=address,
                        locale=rendered.locale,
                        template=row.template,
                        subject=_subject(rendered.subject),
                        body=rendered.body,
                        urgent=urgent,
                        status=status,
                        next_attempt_at=due,
                        item_id=row.item_id,
                        history_seq=row.history_seq,
                        metadata=_metadata(payload, row),
                    )
                )
        if not messages:
            names = ", ".join(unreached)
            channels = ", ".join(sorted(self.channels)) or "none"
            raise _Unroutable(
                f"no channel reaches {names} (role {role!r}); configured channels: {channels}; "
                "add their addresses to the directory, or a channel with recipients: all"
            )
        note = ""
        if unreached:
            note = f"no channel reaches {', '.join(unreached)} (role {role!r})"
        return messages, note

    def _definition(self, item: ItemSnapshot) -> Definition:
        """Return the definition version the item is pinned to, asking the engine once per hash.

        A hash names one exact definition forever, so what the engine said for it
        holds for the dispatcher's life; asking again would open a transaction
        per intent for nothing.
        """
        found = self._definitions.get(item.definition_hash)
        if found is None:
            found = self._definitions[item.definition_hash] = self.engine.definition(item)
        return found

    def _routes(self, recipient: Recipient) -> list[tuple[str, str]]:
        """Return (channel, address) for every configured channel that reaches the person."""
        routes: list[tuple[str, str]] = []
        addresses: Mapping[str, str] = (
            recipient.contact.addresses if recipient.contact is not None else {}
        )
        for name, settings in self.config.channels.items():
            if name not in self.channels:
                continue
            address = addresses.get(name)
            if address is None and settings.recipients == "all":
                address = recipient.person
            if address:
                routes.append((name, address))
        return routes

    def _render(
        self,
        row: OutboxRow,
        payload: Mapping[str, Any],
        recipient: Recipient,
        locale: str,
        local_now: dt.datetime,
    ) -> Rendered:
        contact = recipient.contact
        who = {
            "id": recipient.person,
            "name": (contact.name if contact else "") or recipient.person,
            "role": recipient.role,
        }
        # Labels in the context must be in the language the template is written in:
        # an English reader of a template that exists only in Chinese gets Chinese labels.
        locale = self._written_in(row.template, locale)
        context = context_for(
            payload,
            locale=locale,
            recipient=who,
            link_base=self.config.link_base,
            timezone=self.zone,
            now=local_now,
            fallback_locale=self.config.default_locale,
        )
        try:
            return self.templates.render(row.template, locale, context)
        except WorkflowError as error:
            raise _Unroutable(f"template {row.template!r} cannot be rendered: {error}") from None

    def _written_in(self, template: str, wanted: str) -> str:
        """Return the locale ``template`` is rendered in for ``wanted`` (as it exists)."""
        try:
            return self.templates.locale_for(template, wanted)
        except WorkflowError:
            # An unknown template fails at rendering, where it is reported as unroutable.
            return wanted

    def _schedule(
        self,
        settings: ChannelConfig,
        contact: Contact | None,
        urgent: bool,
        now: dt.datetime,
    ) -> tuple[Any, dt.datetime]:
        """Say whether a message goes out now, after quiet hours, or in a digest, and when."""
        if urgent:
            # Urgent matters (public-opinion incidents) bypass digests and quiet hours.
            return "pending", now
        wants = contact.digest if contact is not None else None
        digest_at = settings.digest_at
        if wants is True and digest_at is None:
            digest_at = DEFAULT_DIGEST_AT
        if digest_at is not None and wants is not False:
            return "digest", self._next_digest(settings, digest_at, now)
        quiet = settings.quiet
        if quiet is not None:
            until = quiet.quiet_until(now.astimezone(self.zone), self._working_days)
            if until is not None:
                return "pending", until.astimezone(dt.UTC)
        return "pending", now

    def _next_digest(self, settings: ChannelConfig, at: dt.time, now: dt.datetime) -> dt.datetime:
        """Return the next digest time after ``now`` that is not in the channel's quiet time."""
        local = now.astimezone(self.zone)
        day = local.date()
        quiet = settings.quiet
        for _ in range(_MAX_DIGEST_DAYS):
            candidate = dt.datetime.combine(day, at, self.zone)
            if candidate > local and (
                quiet is None or not quiet.is_quiet(candidate, self._working_days)
            ):
                return candidate.astimezone(dt.UTC)
            day += dt.timedelta(days=1)
        raise WorkflowError(
            f"no digest time {at:%H:%M} outside the quiet hours within {_MAX_DIGEST_DAYS} days"
        )

    # -- stage 2: digests --------------------------------------------------------------------

    def _compose(self, state: _Pass, now: dt.datetime | None, limit: int) -> None:
        """Claim every due held message, then compose one digest per (person, channel)."""
        claimed: list[OutboxRow] = []
        seen: set[int] = set()
        moment = now
        while not self._stopping.is_set() and len(seen) < self.max_per_pass:
            room = min(limit, self.max_per_pass - len(seen))
            moment, rows = self._claim(state, "digest", now, room)
            fresh = [row for row in rows if row.id not in seen]
            claimed.extend(fresh)
            seen.update(row.id for row in rows)
            if len(rows) < room or not fresh:
                break
        if not claimed or moment is None:
            return
        groups: dict[tuple[str, str], list[OutboxRow]] = {}
        for row in claimed:
            groups.setdefault((row.person or "", row.channel), []).append(row)
        for (person, channel), members in groups.items():
            self._compose_one(state, person, channel, members, moment, now is not None)

    def _compose_one(
        self,
        state: _Pass,
        person: str,
        channel: str,
        members: Sequence[OutboxRow],
        now: dt.datetime,
        explicit: bool,
    ) -> None:
        contact = self.directory.contact(person)
        locale = (contact.locale if contact else None) or members[0].locale
        locale = locale or self.config.default_locale
        locale = self._written_in("digest", locale)
        name = (contact.name if contact else "") or person
        context = digest_context(
            [
                {
                    "subject": m.subject or "",
                    "body": m.body or "",
                    "link": self.config.link_for(m.item_id) if m.item_id is not None else None,
                    "urgent": m.urgent,
                    "item_id": m.item_id,
                }
                for m in members
            ],
            locale=locale,
            recipient={"id": person, "name": name, "role": members[0].recipient},
            channel=channel,
            timezone=self.zone,
            now=now,
        )
        try:
            rendered = self.templates.render("digest", locale, context)
            subject, body, used = rendered.subject, rendered.body, rendered.locale
        except WorkflowError as error:
            # A broken digest template must not hold messages back: send them plainly.
            log.error(
                "digest for %s on %s: template failed, sent without it: %s",
                person,
                channel,
                self.redact(str(error)),
            )
            subject, body, used = _plain_digest(members), _plain_body(members), locale
        keys = "\n".join(sorted(m.key for m in members))
        digest = NewMessage(
            key=outbox.message_key(
                "digest", channel, person, hashlib.sha256(keys.encode()).hexdigest()[:24]
            ),
            channel=channel,
            recipient="digest",
            person=person,
            address=members[0].address or person,
            locale=used,
            template="digest",
            subject=_subject(subject),
            body=body,
            urgent=False,
            status="pending",
            next_attempt_at=now,
            metadata={"kind": "digest", "count": str(len(members))},
        )
        ids = [m.id for m in members]
        try:
            with self._writing(now if explicit else None, now) as (connection, moment):
                t = self.engine.store.tables
                created = outbox.compose_digest(connection, t, ids, state.token, digest, moment)
                if created is None:
                    raise _LeaseLost
        except _LeaseLost:
            state.lost.extend(ids)
            log.warning("digest for %s on %s: lease lost, rolled back", person, channel)
            return
        except Exception as error:
            state.failures.extend(ids)
            log.error(
                "digest for %s on %s: composing failed, left for the next pass: %s",
                person,
                channel,
                self.redact(f"{type(error).__name__}: {error}"),
            )
            return
        state.digests += 1
        log.info("digest %s: %d message(s) for %s on %s", created, len(ids), person, channel)

    # -- stage 3: deliver ----------------------------------------------------------------------

    def _deliver(self, state: _Pass, row: OutboxRow, now: dt.datetime, explicit: bool) -> None:
        """Send one claimed message outside any transaction, then record the outcome."""
        channel = self.channels[row.channel]
        contact = self.directory.contact(row.person) if row.person else None
        message = Message(
            key=row.key,
            address=row.address or "",
            subject=row.subject or "",
            body=row.body or "",
            recipient_name=(contact.name if contact else "") or "",
            urgent=row.urgent,
            locale=row.locale or self.config.default_locale,
            link=self.config.link_for(row.item_id) if row.item_id is not None else None,
            metadata={str(k): str(v) for k, v in dict(row.payload.get("metadata", {})).items()},
        )
        started = time.perf_counter()
        error: str | None = None
        retryable = True
        retry_after: float | None = None
        try:
            channel.send(message)
        except DeliveryError as failure:
            error = self.redact(str(failure))
            retryable = failure.retryable
            retry_after = getattr(failure, "retry_after", None)
        except Exception as failure:
            # A channel must raise DeliveryError only; anything else is its bug,
            # and may pass: try again later, like a timeout.
            error = self.redact(f"{type(failure).__name__}: {failure}")
        duration_ms = int((time.perf_counter() - started) * 1000)
        attempt = row.attempts + 1
        policy = self.config.delivery
        if error is None:
            outcome: outbox.Outcome = "sent"
        elif not retryable or attempt >= policy.max_attempts:
            outcome = "dead"
        else:
            outcome = "failed"
        try:
            with self._writing(now if explicit else None, now) as (connection, moment):
                next_at = None
                if outcome == "failed":
                    wait = policy.backoff(attempt, self.rand)
                    if retry_after is not None:
                        wait = max(wait, float(retry_after))
                    next_at = moment + dt.timedelta(seconds=wait)
                recorded = outbox.finish(
                    connection,
                    self.engine.store.tables,
                    row.id,
                    state.token,
                    outcome=outcome,
                    now=moment,
                    duration_ms=duration_ms,
                    error=error,
                    next_attempt_at=next_at,
                    digest=row.kind == "digest",
                )
                if not recorded:
                    raise _LeaseLost
        except _LeaseLost:
            state.lost.append(row.id)
            log.warning(
                "message %s: %s, but another dispatcher took it over meanwhile (its lease "
                "ran out): it may be sent again, with the same key",
                row.id,
                "sent" if outcome == "sent" else "attempt failed",
            )
            return
        except Exception as failure:
            state.failures.append(row.id)
            log.error(
                "message %s: recording the attempt failed; its lease runs out and it is sent "
                "again (same key): %s",
                row.id,
                self.redact(f"{type(failure).__name__}: {failure}"),
            )
            return
        if outcome == "sent":
            state.sent += 1
            log.info("message %s sent via %s (item %s)", row.id, row.channel, row.item_id)
        elif outcome == "failed":
            state.retried += 1
            log.warning(
                "message %s via %s: attempt %d failed, will retry: %s",
                row.id,
                row.channel,
                attempt,
                error,
            )
        else:
            state.dead.append(row.id)
            log.error(
                "message %s via %s: given up after attempt %d (%s): %s",
                row.id,
                row.channel,
                attempt,
                "final error" if not retryable else "no attempts left",
                error,
            )


# --- helpers ----------------------------------------------------------------------------------


@runtime_checkable
class _HasWorkingDays(Protocol):
    def is_working_day(self, day: dt.date) -> bool: ...


def _weekday(day: dt.date) -> bool:
    return day.weekday() < 5


def _default_templates(engine: Engine, default_locale: str) -> Renderer:
    found = getattr(engine.catalog, "templates", None)
    if isinstance(found, TemplateSet):
        return found.with_default_locale(default_locale)
    if isinstance(found, Renderer):
        return found
    return TemplateSet.shipped().with_default_locale(default_locale)


def _nobody(spec: Any, role: str, item_id: int) -> str:
    if spec.group is not None:
        return f"role {role!r} of item {item_id}: the group {spec.group!r} has no members"
    if spec.relation is not None:
        return (
            f"role {role!r} of item {item_id}: no one is among the {spec.relation} of the "
            f"item's {spec.field} in the directory (or the field is empty)"
        )
    return (
        f"role {role!r} of item {item_id}: no one acts for the item's {spec.field} in the "
        "directory (or the field is empty)"
    )


def _subject(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _SUBJECT_LIMIT else line[: _SUBJECT_LIMIT - 1] + "…"


def _metadata(payload: Mapping[str, Any], row: OutboxRow) -> dict[str, str]:
    workflow = payload.get("workflow")
    found = {"kind": str(payload.get("kind", "")), "template": row.template}
    if isinstance(workflow, Mapping) and "id" in workflow:
        found["workflow"] = str(workflow["id"])
    if row.item_id is not None:
        found["item"] = str(row.item_id)
    return found


def _plain_digest(members: Sequence[OutboxRow]) -> str:
    return f"{len(members)} notification(s)"


def _plain_body(members: Sequence[OutboxRow]) -> str:
    return "\n\n".join(f"{m.subject or ''}\n{m.body or ''}".strip() for m in members)


def _first_line(error: BaseException) -> str:
    cause = getattr(error, "orig", None) or error
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(cause).__name__


def dispatch_once(
    engine: Engine,
    config: NotifierConfig | None = None,
    *,
    now: dt.datetime | None = None,
    channels: Mapping[str, Channel] | None = None,
    clock: Clock | None = None,
) -> DispatchReport:
    """Run one dispatch pass over ``engine``'s outbox and close the channels (for hosts).

    ``config`` defaults to ``$WORKFLOW_NOTIFIERS`` if set, else the console
    channel alone; see :class:`Dispatcher` for the rest.
    """
    dispatcher = Dispatcher(
        engine,
        config if config is not None else load_notifier_config(None),
        channels,
        clock=clock,
    )
    try:
        return dispatcher.run_pass(now)
    finally:
        dispatcher.close()
