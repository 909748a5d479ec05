"""Alembic migrations for the workflow tables (run them with :mod:`workflow.store.migrate`).

There is no ``alembic.ini``: :mod:`workflow.store.migrate` builds the Alembic
configuration in code and hands ``env.py`` the connection, the table prefix
and the schema through ``Config.attributes``.
"""
