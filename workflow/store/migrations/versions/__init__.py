"""Revision scripts, one file per revision; Alembic loads them by path, not by import."""
