"""Initial schema: definitions, items, history, branches, deadlines, escalations, outbox.

Revision ID: 0001
Revises:
Create Date: 2025-11-26

Frozen in time: the tables are written out here rather than imported from
``workflow.store.schema``, which always describes the newest revision. Later
revisions change that module and add a migration; this file never changes.
No schema is named: the connection's ``schema_translate_map`` places the tables.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The column types as of this revision (copies, not imports, for the reason above).
# SQLite only autoincrements an INTEGER PRIMARY KEY; BIGINT elsewhere.
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(mysql.JSON(), "mysql", "mariadb")
LongText = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
# Naive UTC with microseconds: MySQL/MariaDB's DATETIME defaults to whole seconds.
UTCDateTime = sa.DateTime(timezone=False).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
# Every MySQL/MariaDB table is utf8mb4 (Chinese text, 4-byte characters), whatever
# the database's default character set; other backends ignore the option.


def _prefix() -> str:
    """Return the table prefix the caller configured (see env.py)."""
    config = op.get_context().config
    if config is None:
        raise RuntimeError("the workflow migrations need an Alembic Config with table_prefix")
    prefix: str = config.attributes["table_prefix"]
    return prefix


def upgrade() -> None:
    """Create the seven tables with their indexes and constraints."""
    p = _prefix()

    op.create_table(
        f"{p}definitions",
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("workflow_id", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("source", LongText, nullable=False),
        sa.Column("loaded_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("hash"),
        mysql_charset="utf8mb4",
    )
    op.create_index(f"{p}definitions_by_id", f"{p}definitions", ["workflow_id", "version"])

    op.create_table(
        f"{p}items",
        sa.Column("id", Id, nullable=False, autoincrement=True),
        sa.Column("workflow_id", sa.String(64), nullable=False),
        sa.Column("definition_hash", sa.String(64), nullable=False),
        sa.Column("state", sa.String(64), nullable=False),
        sa.Column("data", Json, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("is_open", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("closed_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(
            ["definition_hash"], [f"{p}definitions.hash"], name=f"{p}items_definition_fk"
        ),
        mysql_charset="utf8mb4",
    )
    op.create_index(f"{p}items_by_state", f"{p}items", ["workflow_id", "state"])
    op.create_index(f"{p}items_by_update", f"{p}items", ["updated_at"])

    op.create_table(
        f"{p}history",
        sa.Column("item_id", Id, nullable=False, autoincrement=False),
        sa.Column("seq", sa.Integer(), nullable=False, autoincrement=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("from_state", sa.String(64), nullable=True),
        sa.Column("to_state", sa.String(64), nullable=False),
        sa.Column("actor_id", sa.String(128), nullable=False),
        sa.Column("actor_role", sa.String(64), nullable=True),
        sa.Column("input", Json, nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("changes", Json, nullable=True),
        sa.Column("definition_hash", sa.String(64), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("item_id", "seq"),
        sa.ForeignKeyConstraint(["item_id"], [f"{p}items.id"], name=f"{p}history_item_fk"),
        mysql_charset="utf8mb4",
    )

    op.create_table(
        f"{p}branches",
        sa.Column("id", Id, nullable=False, autoincrement=True),
        sa.Column("item_id", Id, nullable=False),
        sa.Column("state", sa.String(64), nullable=False),
        sa.Column("opened_seq", sa.Integer(), nullable=False),
        sa.Column("unit", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=True),
        sa.Column("answer", Json, nullable=True),
        sa.Column("answered_by", sa.String(128), nullable=True),
        sa.Column("opened_at", UTCDateTime, nullable=False),
        sa.Column("answered_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(["item_id"], [f"{p}items.id"], name=f"{p}branches_item_fk"),
        sa.UniqueConstraint("item_id", "opened_seq", "unit", name=f"{p}branches_one_per_unit"),
        mysql_charset="utf8mb4",
    )
    op.create_index(f"{p}branches_by_item", f"{p}branches", ["item_id", "status"])

    op.create_table(
        f"{p}deadlines",
        sa.Column("id", Id, nullable=False, autoincrement=True),
        sa.Column("item_id", Id, nullable=False),
        sa.Column("branch_id", Id, nullable=True),
        sa.Column("scope", sa.String(64), nullable=False),
        sa.Column("started_seq", sa.Integer(), nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("due_at", UTCDateTime, nullable=True),
        sa.Column("paused_at", UTCDateTime, nullable=True),
        sa.Column("remaining_seconds", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("provisional", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("lease_token", sa.String(64), nullable=True),
        sa.Column("lease_until", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(["item_id"], [f"{p}items.id"], name=f"{p}deadlines_item_fk"),
        sa.ForeignKeyConstraint(["branch_id"], [f"{p}branches.id"], name=f"{p}deadlines_branch_fk"),
        mysql_charset="utf8mb4",
    )
    op.create_index(f"{p}deadlines_due", f"{p}deadlines", ["due_at"])
    op.create_index(f"{p}deadlines_by_item", f"{p}deadlines", ["item_id", "status"])

    op.create_table(
        f"{p}escalations",
        sa.Column("id", Id, nullable=False, autoincrement=True),
        sa.Column("deadline_id", Id, nullable=False),
        sa.Column("level", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(
            ["deadline_id"], [f"{p}deadlines.id"], name=f"{p}escalations_deadline_fk"
        ),
        sa.UniqueConstraint("deadline_id", "level", name=f"{p}escalations_once_per_level"),
        mysql_charset="utf8mb4",
    )

    op.create_table(
        f"{p}outbox",
        sa.Column("id", Id, nullable=False, autoincrement=True),
        sa.Column("item_id", Id, nullable=True),
        sa.Column("history_seq", sa.Integer(), nullable=True),
        sa.Column("idempotency_key", sa.String(128), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("recipient", sa.String(256), nullable=False),
        sa.Column("template", sa.String(128), nullable=False),
        sa.Column("payload", Json, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.Column("next_attempt_at", UTCDateTime, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("lease_token", sa.String(64), nullable=True),
        sa.Column("lease_until", UTCDateTime, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("sent_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(["item_id"], [f"{p}items.id"], name=f"{p}outbox_item_fk"),
        sa.UniqueConstraint("idempotency_key", name=f"{p}outbox_idempotency"),
        mysql_charset="utf8mb4",
    )
    op.create_index(f"{p}outbox_due", f"{p}outbox", ["status", "next_attempt_at"])


def downgrade() -> None:
    """Drop the tables, dependents first."""
    p = _prefix()
    for name in ("outbox", "escalations", "deadlines", "branches", "history", "items"):
        op.drop_table(f"{p}{name}")
    op.drop_table(f"{p}definitions")
