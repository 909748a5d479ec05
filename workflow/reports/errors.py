"""The reports' errors, under :class:`workflow.errors.WorkflowError`.

::

    WorkflowError
    └── ReportError           a report cannot be made as asked
        ├── BadReportPeriod   the period is not 2026-11, 2026-Q3, 2026-H2 or 2026
        ├── UnknownReport     no report of that name (names the known ones)
        └── NoReportRules     the workflow has no report rules (which events count)

``exit_code`` is what the ``workflow report`` command exits with.
"""

from __future__ import annotations

from collections.abc import Iterable

from workflow.errors import WorkflowError

__all__ = ["BadReportPeriod", "NoReportRules", "ReportError", "UnknownReport"]


class ReportError(WorkflowError):
    """A report cannot be made as asked."""

    exit_code = 1


class BadReportPeriod(ReportError):
    """A report period is not named as 2026-11, 2026-Q3, 2026-H2 or 2026 (exit code 2)."""

    exit_code = 2


class UnknownReport(ReportError):
    """No report of that name (exit code 2: the command line is wrong)."""

    exit_code = 2

    def __init__(self, name: str, known: Iterable[str]) -> None:
        self.name = name
        self.known = tuple(known)
        super().__init__(f"no report named {name!r} (known: {', '.join(self.known)})")


class NoReportRules(ReportError):
    """The workflow has no report rules saying which events count as sign-for, closure..."""

    def __init__(self, workflow_id: str, known: Iterable[str]) -> None:
        self.workflow_id = workflow_id
        super().__init__(
            f"workflow {workflow_id!r} has no report rules (workflows with rules: "
            f"{', '.join(sorted(known)) or 'none'}); pass rules= to the report functions"
        )
