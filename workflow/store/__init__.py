"""Persistence: the SQLAlchemy schema, migrations and the store the core writes through."""
