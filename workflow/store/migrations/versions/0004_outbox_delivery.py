"""Outbox delivery: messages expanded from intents, digests, attempts.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26

- ``outbox``: ``kind`` (``intent``, ``message`` or ``digest``; the rows
  already there are the core's intents, hence the default), ``parent_id`` (a
  message's intent) and ``digest_id`` (the digest a held message went out
  in), the recipient's ``person``, ``address`` and ``locale``, the rendered
  ``subject`` and ``body``, and ``urgent``. The claim index ``outbox_due``
  becomes partial (PostgreSQL, SQLite): it holds only rows still to be worked
  on, so years of sent messages never slow a claim. Indexes by item (the
  CLI's ``outbox list --item``) and by digest.
- new ``outbox_attempts``: one row per delivery attempt (outcome, redacted
  error, duration).

SQLite cannot add foreign keys in place: its outbox is rebuilt by
``batch_alter_table``; the other backends get plain ALTER TABLEs. Like 0002,
this revision names the schema explicitly (ALTER TABLE and DROP INDEX are
rendered from names, which ``schema_translate_map`` never reaches).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The column types as of this revision (copies, not imports: see 0001).
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
LongText = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
UTCDateTime = sa.DateTime(timezone=False).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
OUTBOX_OPEN = "status IN ('intent', 'pending', 'digest')"


def _prefix() -> str:
    """Return the table prefix the caller configured (see env.py)."""
    config = op.get_context().config
    if config is None:
        raise RuntimeError("the workflow migrations need an Alembic Config with table_prefix")
    prefix: str = config.attributes["table_prefix"]
    return prefix


def _schema() -> str | None:
    """Return the schema of the tables (PostgreSQL; None for the default), as env.py got it."""
    config = op.get_context().config
    schema: str | None = None if config is None else config.attributes.get("schema")
    return schema


def _qualified(name: str, schema: str | None) -> str:
    """Return ``name`` as a foreign key target inside ``schema``."""
    return f"{schema}.{name}" if schema else name


def upgrade() -> None:
    """Add the message columns and indexes to the outbox; create outbox_attempts."""
    p, schema = _prefix(), _schema()
    outbox = f"{p}outbox"

    # Dropped outside the batch, so SQLite's table rebuild does not recreate it.
    op.drop_index(f"{p}outbox_due", table_name=outbox, schema=schema)
    with op.batch_alter_table(outbox, schema=schema) as batch:
        batch.add_column(
            sa.Column("kind", sa.String(16), nullable=False, server_default=sa.text("'intent'"))
        )
        batch.add_column(sa.Column("parent_id", Id, nullable=True))
        batch.add_column(sa.Column("digest_id", Id, nullable=True))
        batch.add_column(sa.Column("person", sa.String(128), nullable=True))
        batch.add_column(sa.Column("address", sa.String(512), nullable=True))
        batch.add_column(sa.Column("locale", sa.String(16), nullable=True))
        batch.add_column(sa.Column("subject", sa.Text(), nullable=True))
        batch.add_column(sa.Column("body", LongText, nullable=True))
        batch.add_column(
            sa.Column("urgent", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.create_foreign_key(
            f"{p}outbox_parent_fk", outbox, ["parent_id"], ["id"], referent_schema=schema
        )
        batch.create_foreign_key(
            f"{p}outbox_digest_fk", outbox, ["digest_id"], ["id"], referent_schema=schema
        )
    # Partial on PostgreSQL and SQLite; MariaDB has no partial indexes and keeps
    # the finished rows in it, which the claims' range scans never reach.
    op.create_index(
        f"{p}outbox_due",
        outbox,
        ["status", "next_attempt_at"],
        schema=schema,
        postgresql_where=sa.text(OUTBOX_OPEN),
        sqlite_where=sa.text(OUTBOX_OPEN),
    )
    op.create_index(f"{p}outbox_by_item", outbox, ["item_id"], schema=schema)
    op.create_index(f"{p}outbox_by_digest", outbox, ["digest_id"], schema=schema)

    op.create_table(
        f"{p}outbox_attempts",
        sa.Column("id", Id, nullable=False, autoincrement=True),
        sa.Column("outbox_id", Id, nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(
            ["outbox_id"],
            [_qualified(f"{outbox}.id", schema)],
            name=f"{p}outbox_attempts_outbox_fk",
        ),
        sa.UniqueConstraint("outbox_id", "attempt", name=f"{p}outbox_attempts_once"),
        schema=schema,
        mysql_charset="utf8mb4",
    )


def downgrade() -> None:
    """Back to revision 0003: the attempts and every expanded message are lost.

    The core's intents stay, all with status ``intent`` again: upgrading once
    more expands and sends them again, under the same idempotency keys.
    """
    p, schema = _prefix(), _schema()
    outbox = f"{p}outbox"
    op.drop_table(f"{p}outbox_attempts", schema=schema)
    table = sa.Table(
        outbox,
        sa.MetaData(),
        sa.Column("id", Id, primary_key=True),
        sa.Column("kind", sa.String(16)),
        sa.Column("status", sa.String(16)),
        sa.Column("parent_id", Id),
        sa.Column("digest_id", Id),
        schema=schema,
    )
    # Children point at their parents: unlink before deleting (MySQL checks each row).
    op.execute(table.update().values(parent_id=None, digest_id=None))
    op.execute(table.delete().where(table.c.kind != "intent"))
    op.execute(table.update().values(status="intent"))

    # The foreign keys first: MySQL refuses to drop an index a foreign key uses.
    with op.batch_alter_table(outbox, schema=schema) as batch:
        batch.drop_constraint(f"{p}outbox_digest_fk", type_="foreignkey")
        batch.drop_constraint(f"{p}outbox_parent_fk", type_="foreignkey")
    op.drop_index(f"{p}outbox_by_digest", table_name=outbox, schema=schema)
    if op.get_context().dialect.name in ("mysql", "mariadb"):
        # InnoDB let outbox_by_item serve the item foreign key (and dropped the
        # key's own index): take the key off around the drop, as 0003 had it.
        op.drop_constraint(f"{p}outbox_item_fk", outbox, type_="foreignkey", schema=schema)
        op.drop_index(f"{p}outbox_by_item", table_name=outbox, schema=schema)
        op.create_foreign_key(
            f"{p}outbox_item_fk",
            outbox,
            f"{p}items",
            ["item_id"],
            ["id"],
            source_schema=schema,
            referent_schema=schema,
        )
    else:
        op.drop_index(f"{p}outbox_by_item", table_name=outbox, schema=schema)
    op.drop_index(f"{p}outbox_due", table_name=outbox, schema=schema)
    with op.batch_alter_table(outbox, schema=schema) as batch:
        for name in (
            "urgent",
            "body",
            "subject",
            "locale",
            "address",
            "person",
            "digest_id",
            "parent_id",
            "kind",
        ):
            batch.drop_column(name)
    op.create_index(f"{p}outbox_due", outbox, ["status", "next_attempt_at"], schema=schema)
