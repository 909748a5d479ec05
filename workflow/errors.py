"""The package's one exception tree.

Every error the engine raises on purpose derives from :class:`WorkflowError`,
so a host can catch the whole family with one ``except`` and still tell the
cases apart::

    WorkflowError
    ├── DefinitionError          a definition file is wrong (carries every Problem)
    ├── DefinitionNotFound       no definition with that id (and version)
    ├── ItemNotFound             no item with that id
    ├── Refused                  an event was refused; the item is untouched
    │   ├── UnknownEvent         the workflow has no such event
    │   ├── EventNotAllowed      not from the item's current state
    │   ├── NotAuthorized        the actor lacks the role, or the role's binding
    │   ├── GuardFailed          a guard is false (names the guard)
    │   ├── InvalidInput         bad start data, event input or reason (names the field)
    │   └── ConcurrentUpdate     someone changed the item first (retry on fresh data)
    ├── MigrationRefused         running items cannot move to the new version as asked
    ├── StoreError               the database cannot be used as it is
    │   └── SchemaOutOfDate      migrations are missing: run `workflow db upgrade`
    ├── DirectoryImportError     directory files hold bad rows (carries every ImportProblem)
    └── TemplateError            a notification template cannot be rendered (file:line)
        ├── TemplateNotFound     no template of that name (names the known ones)
        ├── TemplateSyntaxProblem  the template file does not parse
        ├── TemplateUndefined    the template reads a variable the context lacks
        ├── TemplateLimitExceeded  output size, render time or an operation cap
        └── TemplateSecurityError  the template reached for something the sandbox forbids

Each class carries the data a user needs to act on it (file positions, ids),
not only a message, so that CLIs and hosts can render it their own way.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "ConcurrentUpdate",
    "DefinitionError",
    "DefinitionNotFound",
    "DirectoryImportError",
    "EventNotAllowed",
    "GuardFailed",
    "ImportProblem",
    "InvalidInput",
    "ItemNotFound",
    "MigrationRefused",
    "NotAuthorized",
    "Problem",
    "Refused",
    "SchemaOutOfDate",
    "StoreError",
    "TemplateError",
    "TemplateLimitExceeded",
    "TemplateNotFound",
    "TemplateSecurityError",
    "TemplateSyntaxProblem",
    "TemplateUndefined",
    "UnknownEvent",
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


class ItemNotFound(WorkflowError):
    """No item has this id (in this store)."""

    def __init__(self, item_id: object) -> None:
        self.item_id = item_id
        super().__init__(f"no item {item_id}")


class Refused(WorkflowError):
    """An event was refused; nothing about the item changed.

    ``item_id``, ``event`` and ``state`` say what was attempted where; subclasses
    add what is needed to act on the refusal.
    """

    def __init__(self, message: str, *, item_id: int | None, event: str, state: str | None) -> None:
        self.item_id = item_id
        self.event = event
        self.state = state
        super().__init__(message)


class UnknownEvent(Refused):
    """The item's workflow has no event of this name."""

    def __init__(
        self, *, item_id: int | None, event: str, state: str | None, known: Iterable[str]
    ) -> None:
        self.known = tuple(known)
        hint = _did_you_mean(event, self.known)
        super().__init__(
            f"item {item_id}: the workflow has no event {event!r}{hint}",
            item_id=item_id,
            event=event,
            state=state,
        )


class EventNotAllowed(Refused):
    """The event exists but cannot fire from the item's current state."""

    def __init__(
        self, *, item_id: int | None, event: str, state: str, allowed: Iterable[str]
    ) -> None:
        self.allowed = tuple(allowed)
        listing = ", ".join(self.allowed) or "none"
        super().__init__(
            f"item {item_id}: event {event!r} is not allowed in state {state!r} "
            f"(allowed here: {listing})",
            item_id=item_id,
            event=event,
            state=state,
        )


class NotAuthorized(Refused):
    """The actor may not fire this event on this item.

    ``roles`` are the roles that may fire it; ``reason`` says which check
    failed (no such role, or the role is not held for this item).
    """

    def __init__(
        self,
        *,
        item_id: int | None,
        event: str,
        state: str | None,
        actor_id: str,
        roles: Iterable[str],
        reason: str,
    ) -> None:
        self.actor_id = actor_id
        self.roles = tuple(roles)
        self.reason = reason
        super().__init__(
            f"item {item_id}: {actor_id!r} may not fire {event!r}: {reason}",
            item_id=item_id,
            event=event,
            state=state,
        )


class GuardFailed(Refused):
    """A guard of the event is false; ``guard`` is its expression."""

    def __init__(
        self,
        *,
        item_id: int | None,
        event: str,
        state: str,
        guard: str,
        message: str | None = None,
        message_zh: str | None = None,
    ) -> None:
        self.guard = guard
        self.guard_message = message
        self.guard_message_zh = message_zh
        """The definition's Chinese refusal message, for hosts that show Chinese."""
        said = f": {message}" if message else ""
        super().__init__(
            f"item {item_id}: event {event!r} refused, guard `{guard}` is false{said}",
            item_id=item_id,
            event=event,
            state=state,
        )


class InvalidInput(Refused):
    """The data given is invalid; ``field`` names the first bad field, ``errors`` all."""

    def __init__(
        self,
        *,
        item_id: int | None,
        event: str,
        state: str | None,
        field: str,
        problem: str,
        errors: Iterable[tuple[str, str]] = (),
    ) -> None:
        self.field = field
        self.problem = problem
        self.errors = tuple(errors) or ((field, problem),)
        more = f" (and {len(self.errors) - 1} more)" if len(self.errors) > 1 else ""
        target = f"item {item_id}" if item_id is not None else "new item"
        super().__init__(
            f"{target}: invalid input for {event!r}: {field}: {problem}{more}",
            item_id=item_id,
            event=event,
            state=state,
        )


class ConcurrentUpdate(Refused):
    """The item changed since it was read; fire again on fresh data."""

    def __init__(
        self,
        *,
        item_id: int | None,
        event: str,
        state: str | None,
        expected: int,
        actual: int | None,
    ) -> None:
        self.expected = expected
        self.actual = actual
        now = f"it is at version {actual}" if actual is not None else "it changed"
        super().__init__(
            f"item {item_id}: concurrent update: expected version {expected}, but {now}",
            item_id=item_id,
            event=event,
            state=state,
        )


class MigrationRefused(WorkflowError):
    """Running items cannot be migrated as asked; ``reasons`` lists why, per state."""

    def __init__(self, workflow_id: str, reasons: Iterable[str]) -> None:
        self.workflow_id = workflow_id
        self.reasons = tuple(reasons)
        super().__init__(
            f"cannot migrate running {workflow_id!r} items: " + "; ".join(self.reasons)
        )


class StoreError(WorkflowError):
    """The database cannot be used as it is."""


class SchemaOutOfDate(StoreError):
    """The database schema is not at the revision this engine needs."""

    def __init__(self, current: str | None, needed: str, hint: str = "workflow db upgrade") -> None:
        self.current = current
        self.needed = needed
        have = f"at revision {current}" if current else "not initialised"
        super().__init__(
            f"the workflow tables are {have}, this engine needs {needed}: run `{hint}`"
        )


@dataclass(frozen=True, order=True)
class ImportProblem:
    """One thing wrong in a directory file: where (file, sheet, row, column) and what.

    ``row`` counts as a spreadsheet does: the header is row 1, the first
    entry row 2; 0 means the file as a whole. ``column`` is the column's
    header ("" when the problem is the whole row or file).
    """

    file: str
    row: int
    column: str
    message: str
    sheet: str = ""

    def __str__(self) -> str:
        where = self.file + (f" [{self.sheet}]" if self.sheet else "")
        if self.row:
            where += f", row {self.row}"
        if self.column:
            where += f", column {self.column}"
        return f"{where}: {self.message}"


class DirectoryImportError(WorkflowError):
    """Directory files were rejected; nothing was written. ``problems`` lists every bad cell."""

    def __init__(self, problems: Iterable[ImportProblem]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        first = f": {self.problems[0]}" if self.problems else ""
        more = f" (and {count - 1} more)" if count > 1 else ""
        super().__init__(f"directory import rejected, nothing written{first}{more}")


class TemplateError(WorkflowError):
    """A notification template failed; ``template``, ``file`` and ``line`` say where.

    The position is filled in as soon as it is known (an error raised deep in
    a render learns its line from the template's frame), so ``str()`` always
    shows the most precise place found.
    """

    def __init__(
        self,
        message: str,
        *,
        template: str | None = None,
        file: str | None = None,
        line: int | None = None,
    ) -> None:
        self.message = message
        self.template = template
        self.file = file
        self.line = line
        super().__init__(message)

    def locate(self, *, template: str, file: str, line: int | None) -> None:
        """Record where the error happened, unless a more precise place is known."""
        self.template = self.template or template
        if self.file is None:
            self.file = file
            self.line = line
        elif self.line is None:
            self.line = line

    def __str__(self) -> str:
        where = ""
        if self.file is not None:
            where = f"{self.file}:{self.line}: " if self.line is not None else f"{self.file}: "
        name = f"template {self.template!r}: " if self.template else ""
        return f"{where}{name}{self.message}"


class TemplateNotFound(TemplateError):
    """No template has this name (``known`` lists the names there are)."""

    def __init__(self, name: str, known: Iterable[str] = ()) -> None:
        self.name = name
        self.known = tuple(sorted(known))
        hint = _did_you_mean(name, self.known) or (
            f"; known: {', '.join(self.known)}" if self.known else ""
        )
        super().__init__(
            f"no notification template {name!r} (add _templates/{name}.zh.j2 beside the "
            f"definitions){hint}"
        )


class TemplateSyntaxProblem(TemplateError):
    """A template file does not parse, or breaks a rule of the template language."""


class TemplateUndefined(TemplateError):
    """The template reads ``variable``, which the notification's context does not have."""

    def __init__(self, variable: str, detail: str) -> None:
        self.variable = variable
        super().__init__(
            f"{detail} (use `is defined` or `| default(...)` for what a notification may lack)"
        )


class TemplateLimitExceeded(TemplateError):
    """A render went over a cap; ``cap`` names it (e.g. ``render time``), ``limit`` is its value."""

    def __init__(self, cap: str, limit: float, message: str) -> None:
        self.cap = cap
        self.limit = limit
        super().__init__(f"{cap} limit exceeded: {message}")


class TemplateSecurityError(TemplateError):
    """The template reached for Python internals or an operation templates may not use."""


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""
