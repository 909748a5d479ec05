"""Items indexed by when they closed, not by when they last moved.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27

``items_by_close`` on ``items (workflow_id, is_open, closed_at)`` replaces
``items_by_update`` (``updated_at``). Every transition writes ``updated_at``,
so its index cost every transition the removal of the old entry and the
insertion of the new one: on SQLite two more pages in the commit's
write-ahead log (of about seven), on PostgreSQL an update that could never be
HOT. ``is_open`` and ``closed_at`` change only when an item closes (no
event leaves a final state), and a transition now sets only the columns it
changes, so an ordinary move no longer touches this index.

The reports chose the items with a step in a window as those updated since
its start. They now take the items open now and those closed since the
window's start, two ranges of this index: an item closed earlier and
untouched since has no step in the window.

The new index is built before the old one is dropped. On PostgreSQL the
build blocks writes to ``items`` while it runs (seconds on a million items);
CREATE INDEX CONCURRENTLY cannot run inside the upgrade's transaction. Like
0003, this revision names the schema explicitly.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


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


def upgrade() -> None:
    """Create ``items_by_close``, then drop ``items_by_update``."""
    p, schema = _prefix(), _schema()
    op.create_index(
        f"{p}items_by_close", f"{p}items", ["workflow_id", "is_open", "closed_at"], schema=schema
    )
    op.drop_index(f"{p}items_by_update", table_name=f"{p}items", schema=schema)


def downgrade() -> None:
    """Back to revision 0005's index on ``updated_at``."""
    p, schema = _prefix(), _schema()
    op.create_index(f"{p}items_by_update", f"{p}items", ["updated_at"], schema=schema)
    op.drop_index(f"{p}items_by_close", table_name=f"{p}items", schema=schema)
