"""The database schema, as SQLAlchemy Core tables.

This module declares the schema at its newest revision; the Alembic
migrations under ``workflow/store/migrations`` build the same thing step by
step, and a test checks that replaying them gives exactly these tables.

Every table name carries a configurable prefix (default ``wf_``) so that the
engine can live inside a host's database next to the host's own tables; a
PostgreSQL schema is applied with ``schema_translate_map`` at connect time.

All times are stored as naive UTC in a microsecond-precision column (see
:class:`UTCDateTime`) so that the same comparisons work on SQLite, PostgreSQL
and MySQL/MariaDB, and the database clock can judge what is due.

MySQL/MariaDB tables are created ``utf8mb4`` whatever the database's default
character set: items, opinions and agendas are written in Chinese, and the
server's legacy ``utf8`` (three bytes) or ``latin1`` would reject or mangle them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Connection,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.schema import SchemaItem
from sqlalchemy.sql.ddl import BaseDDLElement
from sqlalchemy.types import TypeDecorator

__all__ = ["DEFAULT_PREFIX", "OUTBOX_OPEN", "Tables", "UTCDateTime", "build_tables"]

DEFAULT_PREFIX = "wf_"

# SQLite only autoincrements an INTEGER PRIMARY KEY; BIGINT elsewhere for the
# millions of rows a city accumulates over the years.
Id = BigInteger().with_variant(Integer(), "sqlite")
Json = JSON().with_variant(mysql.JSON(), "mysql", "mariadb")
LongText = Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")

# Table options for MySQL/MariaDB (ignored elsewhere); see the module docstring.
MYSQL_OPTIONS: dict[str, Any] = {"mysql_charset": "utf8mb4"}

# The due-scan only ever asks for deadlines whose next_at is set (running
# clocks); where the database has partial indexes, the index holds only those.
NEXT_AT_SET = "next_at IS NOT NULL"

_MYSQL_NAMES = ("mysql", "mariadb")


def _dialect_in(
    ddl: BaseDDLElement,
    target: SchemaItem | str,
    bind: Connection | None,
    tables: list[Table] | None = None,
    state: Any = None,
    *,
    dialect: Dialect,
    **kw: Any,
) -> bool:
    """Tell whether ``dialect`` is one of the names in ``state`` (a ``ddl_if`` rule)."""
    names: tuple[str, ...] = state
    return dialect.name in names


def _only_on(index: Index, *dialects: str) -> Index:
    """Declare ``index`` for these databases only (``CREATE INDEX`` is skipped elsewhere).

    Some indexes pay off on one database and cost on another; the migrations
    create each where it is declared, and the migration test compares them
    per database.
    """
    return index.ddl_if(callable_=_dialect_in, state=dialects)


OUTBOX_OPEN = "status IN ('intent', 'pending', 'digest')"
"""The outbox rows the dispatcher still works on; the claim index holds only these
(a claim query repeats this text, so that SQLite sees it may use the index)."""


class UTCDateTime(TypeDecorator[dt.datetime]):
    """An aware UTC datetime in Python, a naive UTC timestamp in the database.

    MySQL's DATETIME has no time zone and SQLite has no time type at all;
    storing naive UTC everywhere keeps comparisons and indexes identical on
    the three backends. Aware values in other zones are converted; naive
    values are refused, because guessing their zone is how deadlines go wrong.
    """

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        """Use microsecond precision on MySQL/MariaDB (their default is seconds)."""
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime(timezone=False))

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        """Convert an aware datetime to naive UTC for storage."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are ambiguous; pass a timezone-aware datetime")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        """Return stored naive UTC as an aware UTC datetime."""
        if value is None:
            return None
        moment: dt.datetime = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
        return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


@dataclass(frozen=True)
class Tables:
    """The engine's tables, named with one prefix."""

    metadata: MetaData
    definitions: Table
    items: Table
    history: Table
    branches: Table
    deadlines: Table
    escalations: Table
    outbox: Table
    outbox_attempts: Table
    review_entries: Table
    daemons: Table
    dir_districts: Table
    dir_units: Table
    dir_enterprises: Table
    dir_people: Table
    dir_links: Table
    prefix: str


def build_tables(prefix: str = DEFAULT_PREFIX, metadata: MetaData | None = None) -> Tables:
    """Declare the engine's tables with ``prefix`` on a (new) MetaData."""
    md = metadata if metadata is not None else MetaData()
    p = prefix

    definitions = Table(
        f"{p}definitions",
        md,
        Column("hash", String(64), primary_key=True),
        Column("workflow_id", String(64), nullable=False),
        Column("version", Integer, nullable=False),
        Column("source", LongText, nullable=False),
        Column("loaded_at", UTCDateTime, nullable=False),
        Index(f"{p}definitions_by_id", "workflow_id", "version"),
        **MYSQL_OPTIONS,
    )

    items = Table(
        f"{p}items",
        md,
        Column("id", Id, primary_key=True, autoincrement=True),
        Column("workflow_id", String(64), nullable=False),
        Column(
            "definition_hash",
            String(64),
            ForeignKey(f"{p}definitions.hash", name=f"{p}items_definition_fk"),
            nullable=False,
        ),
        Column("state", String(64), nullable=False),
        Column("data", Json, nullable=False),
        Column("version", Integer, nullable=False),
        Column("is_open", Boolean, nullable=False),
        Column("created_by", String(128), nullable=False),
        Column("created_at", UTCDateTime, nullable=False),
        Column("updated_at", UTCDateTime, nullable=False),
        Column("closed_at", UTCDateTime, nullable=True),
        # ``list --state``: equality on both columns, then ``ORDER BY id`` and
        # ``id > after_id``. SQLite and InnoDB append the primary key to every
        # index entry and range-scan it for the order; PostgreSQL needs ``id``
        # spelled out, or it walks the primary key and filters (tens of ms per
        # page for a rare state among a million items; bench/README.md).
        _only_on(Index(f"{p}items_by_state", "workflow_id", "state"), "sqlite", *_MYSQL_NAMES),
        _only_on(Index(f"{p}items_by_state_id", "workflow_id", "state", "id"), "postgresql"),
        # The reports: items open, or closed since a time. (An index on ``updated_at``
        # would be rewritten by every transition; these two change when an item closes.)
        Index(f"{p}items_by_close", "workflow_id", "is_open", "closed_at"),
        **MYSQL_OPTIONS,
    )

    history = Table(
        f"{p}history",
        md,
        Column(
            "item_id",
            Id,
            ForeignKey(f"{p}items.id", name=f"{p}history_item_fk"),
            primary_key=True,
            autoincrement=False,
        ),
        Column("seq", Integer, primary_key=True, autoincrement=False),
        Column("kind", String(16), nullable=False),
        Column("event", String(64), nullable=False),
        Column("from_state", String(64), nullable=True),
        Column("to_state", String(64), nullable=False),
        Column("actor_id", String(128), nullable=False),
        Column("actor_role", String(64), nullable=True),
        Column("input", Json, nullable=True),
        Column("reason", Text, nullable=True),
        Column("changes", Json, nullable=True),
        Column("definition_hash", String(64), nullable=False),
        Column("at", UTCDateTime, nullable=False),
        **MYSQL_OPTIONS,
    )

    branches = Table(
        f"{p}branches",
        md,
        Column("id", Id, primary_key=True, autoincrement=True),
        Column(
            "item_id", Id, ForeignKey(f"{p}items.id", name=f"{p}branches_item_fk"), nullable=False
        ),
        Column("state", String(64), nullable=False),
        Column("opened_seq", Integer, nullable=False),
        Column("unit", String(128), nullable=False),
        Column("status", String(16), nullable=False),
        Column("verdict", String(16), nullable=True),
        Column("answer", Json, nullable=True),
        Column("answered_by", String(128), nullable=True),
        Column("opened_at", UTCDateTime, nullable=False),
        Column("answered_at", UTCDateTime, nullable=True),
        UniqueConstraint("item_id", "opened_seq", "unit", name=f"{p}branches_one_per_unit"),
        Index(f"{p}branches_by_item", "item_id", "status"),
        **MYSQL_OPTIONS,
    )

    deadlines = Table(
        f"{p}deadlines",
        md,
        Column("id", Id, primary_key=True, autoincrement=True),
        Column(
            "item_id", Id, ForeignKey(f"{p}items.id", name=f"{p}deadlines_item_fk"), nullable=False
        ),
        Column(
            "branch_id",
            Id,
            ForeignKey(f"{p}branches.id", name=f"{p}deadlines_branch_fk"),
            nullable=True,
        ),
        Column("scope", String(64), nullable=False),
        Column("started_seq", Integer, nullable=False),
        Column("started_at", UTCDateTime, nullable=False),
        # The limit as defined (e.g. 5 working_days): pauses and extensions recount in its unit.
        Column("amount", Integer, nullable=False),
        Column("unit", String(16), nullable=False),
        # Kept while paused too: resuming moves it by the time spent paused.
        Column("due_at", UTCDateTime, nullable=False),
        Column("paused_at", UTCDateTime, nullable=True),
        Column("status", String(16), nullable=False),
        Column("provisional", Boolean, nullable=False, server_default=false()),
        # When the scan must next look (next ladder level, branch timeout); NULL
        # unless running, so the due-scan index holds live clocks only.
        Column("next_at", UTCDateTime, nullable=True),
        Column("ended_at", UTCDateTime, nullable=True),
        Column("lease_token", String(64), nullable=True),
        Column("lease_until", UTCDateTime, nullable=True),
        # The due-scan's index (partial where the database has partial indexes).
        # SQLite also keeps lease_until in it, so that the claim's lease test is
        # answered from the index alone (5.4x the bare range scan without it,
        # 1.07x with it). Not elsewhere: PostgreSQL and InnoDB visit each row to
        # lock it anyway (FOR UPDATE SKIP LOCKED), and on PostgreSQL an indexed
        # lease_until would turn every claim (a HOT update now) into a non-HOT one.
        _only_on(
            Index(f"{p}deadlines_next", "next_at", postgresql_where=text(NEXT_AT_SET)),
            "postgresql",
            *_MYSQL_NAMES,
        ),
        _only_on(
            Index(
                f"{p}deadlines_next_lease",
                "next_at",
                "lease_until",
                sqlite_where=text(NEXT_AT_SET),
            ),
            "sqlite",
        ),
        Index(f"{p}deadlines_by_item", "item_id", "status"),
        **MYSQL_OPTIONS,
    )

    escalations = Table(
        f"{p}escalations",
        md,
        Column("id", Id, primary_key=True, autoincrement=True),
        Column(
            "deadline_id",
            Id,
            ForeignKey(f"{p}deadlines.id", name=f"{p}escalations_deadline_fk"),
            nullable=False,
        ),
        Column(
            "item_id",
            Id,
            ForeignKey(f"{p}items.id", name=f"{p}escalations_item_fk"),
            nullable=False,
        ),
        Column("level", String(64), nullable=False),
        # ``fired`` or ``skipped`` (catch_up: highest after downtime).
        Column("outcome", String(16), nullable=False),
        # The history row the level wrote, if it wrote one.
        Column("seq", Integer, nullable=True),
        Column("at", UTCDateTime, nullable=False),
        # Each level once per deadline, even when a daemon whose lease expired
        # finishes late: the second insert fails and its transaction rolls back.
        UniqueConstraint("deadline_id", "level", name=f"{p}escalations_once_per_level"),
        **MYSQL_OPTIONS,
    )

    outbox = Table(
        f"{p}outbox",
        md,
        Column("id", Id, primary_key=True, autoincrement=True),
        Column("item_id", Id, ForeignKey(f"{p}items.id", name=f"{p}outbox_item_fk"), nullable=True),
        Column("history_seq", Integer, nullable=True),
        Column("idempotency_key", String(128), nullable=False),
        Column("channel", String(64), nullable=False),
        Column("recipient", String(256), nullable=False),
        Column("template", String(128), nullable=False),
        Column("payload", Json, nullable=False),
        Column("status", String(16), nullable=False),
        Column("attempts", Integer, nullable=False, server_default=text("0")),
        Column("next_attempt_at", UTCDateTime, nullable=True),
        Column("last_error", Text, nullable=True),
        Column("lease_token", String(64), nullable=True),
        Column("lease_until", UTCDateTime, nullable=True),
        Column("created_at", UTCDateTime, nullable=False),
        Column("sent_at", UTCDateTime, nullable=True),
        # ``intent`` (written by the core, per cause and role), ``message`` (one
        # person on one channel, expanded from an intent) or ``digest`` (one
        # message carrying several held ones). The core writes intents only.
        Column("kind", String(16), nullable=False, server_default=text("'intent'")),
        # A message's intent; a held message's digest, once it went into one.
        Column(
            "parent_id", Id, ForeignKey(f"{p}outbox.id", name=f"{p}outbox_parent_fk"), nullable=True
        ),
        Column(
            "digest_id", Id, ForeignKey(f"{p}outbox.id", name=f"{p}outbox_digest_fk"), nullable=True
        ),
        # Messages only: who, where, in which language, and the rendered text
        # (rendered once at expansion, so every retry sends the same words).
        Column("person", String(128), nullable=True),
        Column("address", String(512), nullable=True),
        Column("locale", String(16), nullable=True),
        Column("subject", Text, nullable=True),
        Column("body", LongText, nullable=True),
        Column("urgent", Boolean, nullable=False, server_default=false()),
        UniqueConstraint("idempotency_key", name=f"{p}outbox_idempotency"),
        # The dispatcher's claims ask for one status at a time, due first; the
        # index holds only the rows still to be worked on (where the database
        # has partial indexes), so sent and dead rows never slow the claims.
        Index(
            f"{p}outbox_due",
            "status",
            "next_attempt_at",
            postgresql_where=text(OUTBOX_OPEN),
            sqlite_where=text(OUTBOX_OPEN),
        ),
        Index(f"{p}outbox_by_item", "item_id"),
        Index(f"{p}outbox_by_digest", "digest_id"),
        **MYSQL_OPTIONS,
    )

    outbox_attempts = Table(
        f"{p}outbox_attempts",
        md,
        Column("id", Id, primary_key=True, autoincrement=True),
        Column(
            "outbox_id",
            Id,
            ForeignKey(f"{p}outbox.id", name=f"{p}outbox_attempts_outbox_fk"),
            nullable=False,
        ),
        Column("attempt", Integer, nullable=False),
        Column("at", UTCDateTime, nullable=False),
        # ``sent``, ``failed`` (to be retried) or ``dead`` (given up).
        Column("outcome", String(16), nullable=False),
        # The channel's error, redacted: never a secret.
        Column("error", Text, nullable=True),
        Column("duration_ms", Integer, nullable=False),
        UniqueConstraint("outbox_id", "attempt", name=f"{p}outbox_attempts_once"),
        **MYSQL_OPTIONS,
    )

    review_entries = Table(
        f"{p}review_entries",
        md,
        Column("id", Id, primary_key=True, autoincrement=True),
        Column("review", String(64), nullable=False),
        # The occurrence, named by its period: 2026-11, 2026-Q4, 2026-H2, 2026.
        Column("period", String(16), nullable=False),
        Column(
            "item_id",
            Id,
            ForeignKey(f"{p}items.id", name=f"{p}review_entries_item_fk"),
            nullable=False,
        ),
        Column("workflow_id", String(64), nullable=False),
        # The ladder level that put the item there (kept when carried over).
        Column("level", String(64), nullable=True),
        # ``escalated`` or ``carried`` (still unresolved after the previous occurrence).
        Column("reason", String(16), nullable=False),
        Column("added_at", UTCDateTime, nullable=False),
        Column("resolved_at", UTCDateTime, nullable=True),
        Column("resolution", String(64), nullable=True),
        # Also the agenda's index: (review, period) is its leading part.
        UniqueConstraint("review", "period", "item_id", name=f"{p}review_entries_once"),
        # A decision on an item resolves its open entries: looked up by item.
        Index(f"{p}review_entries_by_item", "item_id"),
        **MYSQL_OPTIONS,
    )

    daemons = Table(
        f"{p}daemons",
        md,
        Column("token", String(64), primary_key=True),
        Column("host", String(128), nullable=False),
        Column("pid", Integer, nullable=False),
        Column("started_at", UTCDateTime, nullable=False),
        Column("heartbeat_at", UTCDateTime, nullable=False),
        Column("stopped_at", UTCDateTime, nullable=True),
        **MYSQL_OPTIONS,
    )

    # --- the directory register (revision 0005; workflow.directory.register) ---
    # Entry ids are the ones definitions and items use (``d_jianghan``, ``u_culture``).
    dir_districts = Table(
        f"{p}dir_districts",
        md,
        Column("id", String(64), primary_key=True),
        Column("name_zh", String(200), nullable=True),
        Column("name_en", String(200), nullable=True),
        **MYSQL_OPTIONS,
    )

    dir_units = Table(
        f"{p}dir_units",
        md,
        Column("id", String(64), primary_key=True),
        Column("name_zh", String(200), nullable=True),
        Column("name_en", String(200), nullable=True),
        **MYSQL_OPTIONS,
    )

    dir_enterprises = Table(
        f"{p}dir_enterprises",
        md,
        Column("id", String(64), primary_key=True),
        Column("name_zh", String(200), nullable=True),
        Column("name_en", String(200), nullable=True),
        # The unified social credit code (GB 32100-2015); absent for entries
        # imported from the YAML form, which has no such field.
        Column("credit_code", String(18), nullable=True),
        # One of workflow.directory.records.SECTORS.
        Column("sector", String(32), nullable=True),
        Column(
            "district_id",
            String(64),
            ForeignKey(f"{p}dir_districts.id", name=f"{p}dir_enterprises_district_fk"),
            nullable=True,
        ),
        UniqueConstraint("credit_code", name=f"{p}dir_enterprises_credit_code"),
        # Reports group enterprises by district.
        Index(f"{p}dir_enterprises_by_district", "district_id"),
        **MYSQL_OPTIONS,
    )

    dir_people = Table(
        f"{p}dir_people",
        md,
        Column("id", String(128), primary_key=True),
        Column("name", String(200), nullable=True),
        Column("locale", String(16), nullable=True),
        # Channel name to address, e.g. {"email": "chen@example.gov.cn"}.
        Column("addresses", Json, nullable=True),
        # True: one digest a day; False: never; NULL: as the channel is configured.
        Column("digest", Boolean, nullable=True),
        **MYSQL_OPTIONS,
    )

    # Who belongs to which group, acts for which entry, or is related to it: one
    # row per (kind, entry, relation, person). Group membership is kind
    # ``group`` with relation ``members``; acting for an entry is ``members``;
    # an enterprise's commissioners are ``commissioners``. ``position`` keeps
    # the order given (the order people are notified in).
    dir_links = Table(
        f"{p}dir_links",
        md,
        Column("kind", String(16), primary_key=True),
        Column("entry", String(128), primary_key=True),
        Column("relation", String(64), primary_key=True),
        Column(
            "person_id",
            String(128),
            ForeignKey(f"{p}dir_people.id", name=f"{p}dir_links_person_fk"),
            primary_key=True,
        ),
        Column("position", Integer, nullable=False),
        # "Which units does this person act for?" and the foreign key.
        Index(f"{p}dir_links_by_person", "person_id", "kind"),
        **MYSQL_OPTIONS,
    )

    return Tables(
        metadata=md,
        definitions=definitions,
        items=items,
        history=history,
        branches=branches,
        deadlines=deadlines,
        escalations=escalations,
        outbox=outbox,
        outbox_attempts=outbox_attempts,
        review_entries=review_entries,
        daemons=daemons,
        dir_districts=dir_districts,
        dir_units=dir_units,
        dir_enterprises=dir_enterprises,
        dir_people=dir_people,
        dir_links=dir_links,
        prefix=prefix,
    )
