"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}

Frozen in time: write the tables out here, never import workflow.store.schema
(it describes the newest revision, which moves on). Prefix every table,
index and constraint name with ``_prefix()``; never name a schema (the
connection's ``schema_translate_map`` places the tables).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
${imports if imports else ""}

revision: str = ${repr(up_revision)}
down_revision: str | Sequence[str] | None = ${repr(down_revision)}
branch_labels: str | Sequence[str] | None = ${repr(branch_labels)}
depends_on: str | Sequence[str] | None = ${repr(depends_on)}


def _prefix() -> str:
    """Return the table prefix the caller configured (see env.py)."""
    config = op.get_context().config
    if config is None:
        raise RuntimeError("the workflow migrations need an Alembic Config with table_prefix")
    prefix: str = config.attributes["table_prefix"]
    return prefix


def upgrade() -> None:
    """Upgrade schema."""
    p = _prefix()
    ${upgrades if upgrades else "pass"}


def downgrade() -> None:
    """Downgrade schema."""
    p = _prefix()
    ${downgrades if downgrades else "pass"}
