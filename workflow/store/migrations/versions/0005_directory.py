"""The directory register: districts, units, enterprises, people and their links.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26

New tables only (nothing existing changes), read by
:class:`workflow.directory.register.RegisterDirectory` and written by
``workflow directory import``:

- ``dir_districts`` and ``dir_units``: id and names (zh, en);
- ``dir_enterprises``: id, names, unified social credit code (unique when
  given), sector, district (a foreign key to ``dir_districts``);
- ``dir_people``: id, display name, locale, addresses per channel (JSON),
  digest preference;
- ``dir_links``: who belongs to a group, acts for an entry, or is related to
  it (an enterprise's commissioners), in the order given.

Like 0004, the tables name the schema explicitly (the foreign keys must
point inside it).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The column types as of this revision (copies, not imports: see 0001).
Json = sa.JSON().with_variant(mysql.JSON(), "mysql", "mariadb")


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


def _named_table(name: str, schema: str | None) -> None:
    """Create a table of an id and its names in both languages."""
    op.create_table(
        name,
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name_zh", sa.String(200), nullable=True),
        sa.Column("name_en", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        schema=schema,
        mysql_charset="utf8mb4",
    )


def upgrade() -> None:
    """Create the five directory tables."""
    p, schema = _prefix(), _schema()
    _named_table(f"{p}dir_districts", schema)
    _named_table(f"{p}dir_units", schema)

    op.create_table(
        f"{p}dir_enterprises",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("name_zh", sa.String(200), nullable=True),
        sa.Column("name_en", sa.String(200), nullable=True),
        sa.Column("credit_code", sa.String(18), nullable=True),
        sa.Column("sector", sa.String(32), nullable=True),
        sa.Column("district_id", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.ForeignKeyConstraint(
            ["district_id"],
            [_qualified(f"{p}dir_districts.id", schema)],
            name=f"{p}dir_enterprises_district_fk",
        ),
        sa.UniqueConstraint("credit_code", name=f"{p}dir_enterprises_credit_code"),
        schema=schema,
        mysql_charset="utf8mb4",
    )
    op.create_index(
        f"{p}dir_enterprises_by_district", f"{p}dir_enterprises", ["district_id"], schema=schema
    )

    op.create_table(
        f"{p}dir_people",
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("locale", sa.String(16), nullable=True),
        sa.Column("addresses", Json, nullable=True),
        sa.Column("digest", sa.Boolean(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        schema=schema,
        mysql_charset="utf8mb4",
    )

    op.create_table(
        f"{p}dir_links",
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("entry", sa.String(128), nullable=False),
        sa.Column("relation", sa.String(64), nullable=False),
        sa.Column("person_id", sa.String(128), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "entry", "relation", "person_id"),
        sa.ForeignKeyConstraint(
            ["person_id"],
            [_qualified(f"{p}dir_people.id", schema)],
            name=f"{p}dir_links_person_fk",
        ),
        schema=schema,
        mysql_charset="utf8mb4",
    )
    op.create_index(
        f"{p}dir_links_by_person", f"{p}dir_links", ["person_id", "kind"], schema=schema
    )


def downgrade() -> None:
    """Back to revision 0004: the register is dropped with everything in it."""
    p, schema = _prefix(), _schema()
    for name in ("dir_links", "dir_people", "dir_enterprises", "dir_units", "dir_districts"):
        op.drop_table(f"{p}{name}", schema=schema)
