"""Alembic environment for the workflow tables.

Run through :func:`workflow.store.migrate.upgrade`, which passes in
``config.attributes``:

``connection``
    the SQLAlchemy Connection to migrate, already inside the transaction (and
    holding the lock) that ``upgrade`` manages. Alembic sees the open
    transaction and leaves committing to the caller.
``table_prefix``
    the prefix of every table name, including our own version table.
``schema``
    the schema (PostgreSQL) or database (MySQL) of the tables, or None. The
    migrations never name it: it is applied by the connection's
    ``schema_translate_map``; only the version table is given it explicitly.

Offline mode (``--sql``) works too, from ``sqlalchemy.url`` and ``-x prefix=...``.
"""

from __future__ import annotations

from alembic import context

DEFAULT_PREFIX = "wf_"

config = context.config
attributes = config.attributes
x_args = context.get_x_argument(as_dictionary=True)
prefix: str = attributes.setdefault("table_prefix", x_args.get("prefix", DEFAULT_PREFIX))
schema: str | None = attributes.setdefault("schema", x_args.get("schema"))
# Our own version table, never the host's ``alembic_version``: a host that uses
# Alembic for its own tables keeps its history, and we keep ours.
version_table = f"{prefix}alembic_version"


def run_migrations_offline() -> None:
    """Emit the migration SQL as text instead of running it."""
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        version_table=version_table,
        version_table_schema=schema,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations on the connection the caller handed in."""
    connection = attributes.get("connection")
    if connection is None:
        raise RuntimeError(
            "the workflow migrations run through workflow.store.migrate.upgrade() "
            "(or `workflow db upgrade`), which supplies the connection"
        )
    context.configure(
        connection=connection,
        version_table=version_table,
        version_table_schema=schema,
    )
    # The connection is already in the caller's transaction, so this is a
    # no-op "external transaction" for Alembic: the caller commits.
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
