"""Shared fixtures for the whole suite."""

from __future__ import annotations

from pathlib import Path

import pytest

# The database backends (the `backend` fixture and its hooks) live in tests/backends.py;
# pytest only looks for fixtures and hooks in conftest modules, so they are imported here.
from tests.backends import backend, pytest_collection_modifyitems, pytest_terminal_summary

__all__ = [
    "DEFINITIONS",
    "REPO",
    "backend",
    "definitions_dir",
    "pytest_collection_modifyitems",
    "pytest_terminal_summary",
]

REPO = Path(__file__).resolve().parents[1]
DEFINITIONS = REPO / "definitions"


@pytest.fixture
def definitions_dir() -> Path:
    """The shipped definitions folder."""
    return DEFINITIONS
