"""The public API is exactly what docs/embedding.md documents."""

from __future__ import annotations

import re

import workflow
from tests.conftest import REPO


def test_every_exported_name_exists() -> None:
    for name in workflow.__all__:
        assert hasattr(workflow, name), name


def test_exported_names_are_the_documented_ones() -> None:
    text = (REPO / "docs" / "embedding.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"`workflow\.([A-Za-z_]+)`", text))
    missing = sorted(set(workflow.__all__) - documented)
    assert not missing, f"exported but not documented in docs/embedding.md: {missing}"


def test_every_public_name_has_a_docstring() -> None:
    undocumented = [
        name for name in workflow.__all__ if not (getattr(workflow, name).__doc__ or "").strip()
    ]
    assert not undocumented, f"public names without a docstring: {undocumented}"


def test_the_directory_register_is_public() -> None:
    # The register is the default directory a host may replace: its class, the
    # import/export functions and their error are part of the API.
    for name in (
        "RegisterDirectory",
        "import_directory",
        "import_register",
        "export_directory",
        "generate_register",
        "DirectoryImportError",
        "ImportProblem",
    ):
        assert name in workflow.__all__, name
    assert issubclass(workflow.DirectoryImportError, workflow.WorkflowError)


def test_scenario_tests_are_public() -> None:
    # Hosts with their own definitions run their scenario files from their own test suites.
    assert {"run_scenarios", "RunResults"} <= set(workflow.__all__)
    assert workflow.run_scenarios.__module__ == "workflow.scenarios.runner"
