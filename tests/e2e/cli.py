"""Running the `workflow` command in the end-to-end tests: in this process, or as a process.

:func:`run` calls the command line's ``main()`` (what the console script and
``python -m workflow`` call) in this process, in a given folder, with no
``WORKFLOW_*`` variable of the test run leaking in, and returns what a process
would: the exit code, stdout and stderr. An exception that escapes ``main()``
ends up on stderr as the interpreter would print it (a ``Traceback`` the tests
look for) with exit code 1. That is all a process adds, except the
interpreter's start-up: about a second of imports per command, which used to
be most of the end-to-end tests' time.

What only a real process can show is run as one, with :func:`run_process` /
:func:`run_processes` (``python -m workflow``): that the exit codes reach the
shell and nothing else reaches stderr (tests/e2e/test_cli_items.py), the
settings taken from environment variables, the console script and
``python -m workflow`` (tests/e2e/test_cli_definitions.py), the demo
(tests/e2e/test_cli_demo.py), and the daemon and its signals
(tests/unit/test_daemon.py).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path

from click.testing import CliRunner

from tests.conftest import REPO
from workflow.cli.main import main

__all__ = ["WORKFLOW", "clean_env", "run", "run_all", "run_process", "run_processes"]

WORKFLOW = [sys.executable, "-m", "workflow"]

Result = subprocess.CompletedProcess[str]


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any ``WORKFLOW_*`` setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKFLOW_")}
    env.update(extra)
    return env


def run(*args: str, cwd: Path = REPO, env: Mapping[str, str] | None = None) -> Result:
    """Run one `workflow` command in this process, in ``cwd``; return what a process would.

    ``env`` sets variables for the command (the ``WORKFLOW_*`` ones of the
    test run are unset, as for the processes).
    """
    overrides: dict[str, str | None] = {
        name: None for name in os.environ if name.startswith("WORKFLOW_")
    }
    overrides.update(env or {})
    runner = CliRunner(env=overrides)
    with contextlib.chdir(cwd):
        result = runner.invoke(main, list(args), prog_name="workflow")
    code, stderr = result.exit_code, result.stderr
    error = result.exception
    if error is not None and not isinstance(error, SystemExit):
        # What the interpreter prints for an exception nobody caught.
        stderr += "".join(traceback.format_exception(error))
        code = 1
    return subprocess.CompletedProcess(list(args), code, result.stdout, stderr)


def run_all(commands: Sequence[Sequence[str]], cwd: Path = REPO) -> list[Result]:
    """Run independent `workflow` commands in this process, one after another, in ``cwd``."""
    return [run(*args, cwd=cwd) for args in commands]


def run_process(
    *args: str, cwd: Path = REPO, env: Mapping[str, str] | None = None, timeout: float = 120
) -> Result:
    """Run one `workflow` command as a process of its own (``python -m workflow``)."""
    return run_processes([args], cwd=cwd, env=env, timeout=timeout)[0]


def run_processes(
    commands: Sequence[Sequence[str]],
    cwd: Path = REPO,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
) -> list[Result]:
    """Run independent `workflow` processes at the same time; their results, in order.

    Each gets this process's environment without its ``WORKFLOW_*`` settings,
    plus ``env``.
    """
    started = [
        (
            list(args),
            subprocess.Popen(
                [*WORKFLOW, *args],
                cwd=cwd,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=clean_env(**(env or {})),
            ),
        )
        for args in commands
    ]
    results = []
    for args, process in started:
        out, err = process.communicate(timeout=timeout)
        results.append(subprocess.CompletedProcess(args, process.returncode, out, err))
    return results
