"""Tests against real databases (see tests/backends.py)."""
