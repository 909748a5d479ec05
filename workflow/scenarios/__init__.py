"""Scenario tests: YAML stories run against the definitions on a simulated clock.

See ``docs/scenarios.md`` for the format; :func:`run_scenarios` runs files
and folders, :func:`coverage` says what no scenario exercised.
"""

from workflow.scenarios.loader import ScenarioFileError, load_scenario_file
from workflow.scenarios.results import Failure, RunResults, ScenarioResult
from workflow.scenarios.runner import run_scenarios

__all__ = [
    "Failure",
    "RunResults",
    "ScenarioFileError",
    "ScenarioResult",
    "load_scenario_file",
    "run_scenarios",
]
