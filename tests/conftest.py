"""Shared fixtures for the whole suite."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEFINITIONS = REPO / "definitions"


@pytest.fixture
def definitions_dir() -> Path:
    """The shipped definitions folder."""
    return DEFINITIONS
