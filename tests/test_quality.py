"""The code stays formatted, linted and type-checked (mypy --strict)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.conftest import REPO


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=600, check=False)


def _ruff() -> str:
    found = shutil.which("ruff", path=str(REPO / ".venv" / "bin")) or shutil.which("ruff")
    if found is None:
        pytest.fail("ruff is not installed: install the project with its [test] extra")
    return found


def test_ruff_lint_is_clean() -> None:
    result = _run(_ruff(), "check", "workflow", "notifiers", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean() -> None:
    result = _run(_ruff(), "format", "--check", "workflow", "notifiers", "tests", "bench")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_mypy_strict_is_clean() -> None:
    result = _run(sys.executable, "-m", "mypy", "--strict", "workflow", "notifiers")
    assert result.returncode == 0, result.stdout + result.stderr
