"""Timers: deadline clocks the scan can claim, escalations per item, review agendas, daemons.

Revision ID: 0002
Revises: 0001
Create Date: 2025-12-03

- ``deadlines``: the limit as defined (``amount``, ``unit``), ``next_at`` (when
  the scan must next look; NULL unless running) with the due-scan index on it
  (partial where the database allows), ``ended_at``; ``due_at`` is kept while
  paused, so it is NOT NULL; ``remaining_seconds`` is gone.
- ``escalations``: the item (``item_id``) and the history row written (``seq``).
- new ``review_entries`` (the agendas of periodic reviews) and ``daemons``.

Revision 0001 had no code writing deadlines or escalations, so the new NOT NULL
columns have nothing to be filled from; the upgrade refuses (rather than
invent values) if those tables hold rows anyway.

SQLite cannot alter columns or add NOT NULL ones in place: its tables are
rebuilt by ``batch_alter_table``; the other backends get plain ALTER TABLEs.

Unlike 0001, which only creates tables, this revision names the schema
explicitly: Alembic renders ALTER TABLE and DROP INDEX from names, not Table
objects, so the connection's ``schema_translate_map`` never reaches them.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import mysql

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The column types as of this revision (copies, not imports: see 0001).
Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTCDateTime = sa.DateTime(timezone=False).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
NEXT_AT_SET = "next_at IS NOT NULL"


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


def _bare(name: str, schema: str | None) -> sa.Table:
    """Return a table to query or empty by name (only its key column)."""
    return sa.Table(name, sa.MetaData(), sa.Column("id", Id, primary_key=True), schema=schema)


def _refuse_rows(p: str, schema: str | None) -> None:
    """Stop before altering if deadlines or escalations hold rows (see the module docstring)."""
    if context.is_offline_mode():
        return
    bind = op.get_bind()
    for name in ("deadlines", "escalations"):
        table = _bare(f"{p}{name}", schema)
        if bind.execute(sa.select(table.c.id).limit(1)).first() is not None:
            raise RuntimeError(
                f"{p}{name} holds rows written outside this package's revision 0001, "
                "whose new NOT NULL columns cannot be filled in; empty it first"
            )


def upgrade() -> None:
    """Reshape deadlines and escalations; create review_entries and daemons."""
    p, schema = _prefix(), _schema()
    _refuse_rows(p, schema)

    # Dropped outside the batch, so SQLite's table rebuild does not recreate it.
    op.drop_index(f"{p}deadlines_due", table_name=f"{p}deadlines", schema=schema)
    with op.batch_alter_table(f"{p}deadlines", schema=schema) as batch:
        batch.drop_column("remaining_seconds")
        batch.add_column(sa.Column("amount", sa.Integer(), nullable=False))
        batch.add_column(sa.Column("unit", sa.String(16), nullable=False))
        batch.add_column(sa.Column("next_at", UTCDateTime, nullable=True))
        batch.add_column(sa.Column("ended_at", UTCDateTime, nullable=True))
        batch.alter_column("due_at", existing_type=UTCDateTime, nullable=False)
    # Partial on PostgreSQL and SQLite; MariaDB has no partial indexes and keeps
    # the NULLs of stopped clocks in it, which the range scan never reaches.
    op.create_index(
        f"{p}deadlines_next",
        f"{p}deadlines",
        ["next_at"],
        schema=schema,
        postgresql_where=sa.text(NEXT_AT_SET),
        sqlite_where=sa.text(NEXT_AT_SET),
    )

    with op.batch_alter_table(f"{p}escalations", schema=schema) as batch:
        batch.add_column(sa.Column("item_id", Id, nullable=False))
        batch.add_column(sa.Column("seq", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            f"{p}escalations_item_fk", f"{p}items", ["item_id"], ["id"], referent_schema=schema
        )

    op.create_table(
        f"{p}review_entries",
        sa.Column("id", Id, nullable=False, autoincrement=True),
        sa.Column("review", sa.String(64), nullable=False),
        sa.Column("period", sa.String(16), nullable=False),
        sa.Column("item_id", Id, nullable=False),
        sa.Column("workflow_id", sa.String(64), nullable=False),
        sa.Column("level", sa.String(64), nullable=True),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("added_at", UTCDateTime, nullable=False),
        sa.Column("resolved_at", UTCDateTime, nullable=True),
        sa.Column("resolution", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(
            ["item_id"], [_qualified(f"{p}items.id", schema)], name=f"{p}review_entries_item_fk"
        ),
        sa.UniqueConstraint("review", "period", "item_id", name=f"{p}review_entries_once"),
        schema=schema,
        mysql_charset="utf8mb4",
    )
    op.create_index(f"{p}review_entries_by_item", f"{p}review_entries", ["item_id"], schema=schema)

    op.create_table(
        f"{p}daemons",
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("host", sa.String(128), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("heartbeat_at", UTCDateTime, nullable=False),
        sa.Column("stopped_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("token"),
        schema=schema,
        mysql_charset="utf8mb4",
    )


def downgrade() -> None:
    """Back to revision 0001 (the timer columns and tables, and what they held, are lost)."""
    p, schema = _prefix(), _schema()
    op.drop_table(f"{p}daemons", schema=schema)
    op.drop_table(f"{p}review_entries", schema=schema)
    # The new NOT NULL columns mean nothing to 0001; its rows would not fit back.
    op.execute(_bare(f"{p}escalations", schema).delete())
    op.execute(_bare(f"{p}deadlines", schema).delete())

    with op.batch_alter_table(f"{p}escalations", schema=schema) as batch:
        batch.drop_constraint(f"{p}escalations_item_fk", type_="foreignkey")
        batch.drop_column("seq")
        batch.drop_column("item_id")

    op.drop_index(f"{p}deadlines_next", table_name=f"{p}deadlines", schema=schema)
    with op.batch_alter_table(f"{p}deadlines", schema=schema) as batch:
        batch.alter_column("due_at", existing_type=UTCDateTime, nullable=True)
        batch.drop_column("ended_at")
        batch.drop_column("next_at")
        batch.drop_column("unit")
        batch.drop_column("amount")
        batch.add_column(sa.Column("remaining_seconds", sa.BigInteger(), nullable=True))
    op.create_index(f"{p}deadlines_due", f"{p}deadlines", ["due_at"], schema=schema)
