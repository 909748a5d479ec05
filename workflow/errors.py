"""The package's one exception tree.

Every error the engine raises on purpose derives from :class:`WorkflowError`,
so a host can catch the whole family with one ``except`` and still tell the
cases apart::

    WorkflowError
    ├── DefinitionError          a definition file is wrong (carries every Problem)
    └── DefinitionNotFound       no definition with that id (and version)

Each class carries the data a user needs to act on it (file positions, ids),
not only a message, so that CLIs and hosts can render it their own way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "DefinitionError",
    "DefinitionNotFound",
    "Problem",
    "WorkflowError",
]


class WorkflowError(Exception):
    """Root of every error the workflow engine raises deliberately."""


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a definition, at a 1-based line and column of a file."""

    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class DefinitionError(WorkflowError):
    """One or more definition files are invalid; ``problems`` lists them all, sorted."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(sorted(set(problems)))
        count = len(self.problems)
        head = str(self.problems[0]) if self.problems else "invalid definition"
        more = f" (and {count - 1} more)" if count > 1 else ""
        super().__init__(head + more)


class DefinitionNotFound(WorkflowError):
    """A workflow id (or id and version) that no loaded definition has."""

    def __init__(
        self, workflow_id: str, version: int | None = None, known: Iterable[str] = ()
    ) -> None:
        self.workflow_id = workflow_id
        self.version = version
        self.known = tuple(sorted(known))
        which = f"{workflow_id!r}" + (f" version {version}" if version is not None else "")
        hint = f"; known: {', '.join(self.known)}" if self.known else ""
        super().__init__(f"no workflow definition {which}{hint}")
