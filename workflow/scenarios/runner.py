"""Run scenario files: each scenario on a fresh SQLite store with a manual clock.

The definitions of each file's folder (the folder holding its
``_scenarios``) are loaded once per run, as are the directory (the file's
``directory:``, else the folder's ``_directory/sample.yaml``, else the
shipped sample) and the business calendar (the folder's
``_calendar/china.yaml``, else the shipped one).

The store is an in-memory SQLite database. The migrations run once per run,
into a template database; each scenario starts from a copy of it (SQLite's
backup API), which costs about a millisecond where running the migrations
again would cost far more.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import logging
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine as SqlEngine
from sqlalchemy.pool import StaticPool

from notifiers.base import Message
from notifiers.config import NotifierConfig, parse_notifier_config
from workflow.app import Engine, shipped_definitions
from workflow.core.clock import ManualClock
from workflow.core.deadlines import ladder_for
from workflow.core.ports import Directory
from workflow.core.values import Actor
from workflow.definition.compiled import Definition
from workflow.definition.loader import Catalog, find_definition_files, load_catalog
from workflow.definition.yamlsource import Path
from workflow.directory.static import StaticDirectory
from workflow.errors import DefinitionError, Problem, Refused, WorkflowError
from workflow.notify.dispatch import Dispatcher, Renderer
from workflow.scenarios.expect import Marks, check, fired_levels, marks, outbox_rows
from workflow.scenarios.loader import (
    LoadedFile,
    check_names,
    definitions_folder,
    find_scenario_files,
    load_scenario_file,
)
from workflow.scenarios.model import (
    Duration,
    Expect,
    ExpectRefused,
    Scenario,
    Step,
    parse_duration,
    parse_local_time,
)
from workflow.scenarios.results import Failure, RunResults, ScenarioResult, Trace, show
from workflow.schedule.calendar import BusinessCalendar
from workflow.schedule.scan import Escalator
from workflow.store.migrate import upgrade
from workflow.store.sql import create_database_engine

__all__ = ["DEFAULT_START", "ladder_key", "later", "run_scenarios"]

DEFAULT_START = "2026-11-02 09:00"
"""Where a scenario's clock starts unless it says ``at:`` (a Monday, no holiday near)."""

_CHANNELS = """\
channels:
  email: {type: console, recipients: addressed}
  office_robot: {type: console, recipients: addressed}
"""


class _Capture:
    """A channel that keeps what it is given (the messages are also in the outbox)."""

    def __init__(self, name: str) -> None:
        self._name = name
        self.sent: list[Message] = []

    @property
    def name(self) -> str:
        """The channel's name (``email``, ``office_robot``)."""
        return self._name

    def send(self, message: Message) -> None:
        """Keep the message."""
        self.sent.append(message)

    def close(self) -> None:
        """Nothing to release."""


class _Stop(Exception):
    """A step failed in a way that makes the following steps meaningless."""


class _Template:
    """An upgraded in-memory database that each scenario's database is copied from."""

    def __init__(self) -> None:
        self._raw: sqlite3.Connection | None = None

    def fresh(self) -> SqlEngine:
        """Return an engine over a new in-memory database holding the upgraded schema."""
        if self._raw is None:
            self._raw = sqlite3.connect(":memory:", check_same_thread=False)
            seed = _memory_engine(self._raw)
            upgrade(seed)
        target = sqlite3.connect(":memory:", check_same_thread=False)
        self._raw.backup(target)
        return _memory_engine(target)


def _memory_engine(connection: sqlite3.Connection) -> SqlEngine:
    return create_database_engine("sqlite://", poolclass=StaticPool, creator=lambda: connection)


class _Context:
    """What a run loads once: catalogs, directories and calendars by folder."""

    def __init__(self) -> None:
        self.catalogs: dict[str, tuple[Catalog | None, list[Problem]]] = {}
        self.directories: dict[str, Directory] = {}
        self.calendars: dict[str, BusinessCalendar] = {}
        self.template = _Template()
        self.notifiers: NotifierConfig = parse_notifier_config(_CHANNELS, environ={})
        self.renderers: dict[int, Renderer] = {}

    def renderer(self, catalog: Catalog) -> Renderer:
        """Return the catalog's templates, compiled once per run (not once per dispatch)."""
        key = id(catalog)
        if key not in self.renderers:
            self.renderers[key] = catalog.templates.with_default_locale(
                self.notifiers.default_locale
            )
        return self.renderers[key]

    def catalog(self, folder: str) -> tuple[Catalog | None, list[Problem]]:
        if folder not in self.catalogs:
            # A folder of scenarios alone tests the shipped definitions.
            found, _ = find_definition_files([folder])
            catalog, problems = load_catalog([folder if found else shipped_definitions()])
            self.catalogs[folder] = (None if problems else catalog, problems)
        return self.catalogs[folder]

    def directory(self, loaded: LoadedFile, folder: str) -> Directory:
        if loaded.spec.directory is not None:
            path = os.path.normpath(
                os.path.join(os.path.dirname(loaded.path), loaded.spec.directory)
            )
        else:
            path = os.path.join(folder, "_directory", "sample.yaml")
            if not os.path.isfile(path):
                path = os.path.join(shipped_definitions(), "_directory", "sample.yaml")
        if path not in self.directories:
            self.directories[path] = StaticDirectory.from_file(path)
        return self.directories[path]

    def calendar(self, folder: str) -> BusinessCalendar:
        path = os.path.join(folder, "_calendar", "china.yaml")
        if not os.path.isfile(path):
            path = os.path.join(shipped_definitions(), "_calendar", "china.yaml")
        if path not in self.calendars:
            self.calendars[path] = BusinessCalendar.from_file(path)
        return self.calendars[path]


def _local(text: str, calendar: BusinessCalendar) -> dt.datetime:
    parsed = parse_local_time(text)
    if parsed is None:  # the model validated it; kept for the type checker
        raise ValueError(f"not a local time: {text!r}")
    day, moment = parsed
    return dt.datetime.combine(day, moment, tzinfo=calendar.zone).astimezone(dt.UTC)


def later(now: dt.datetime, span: Duration, calendar: BusinessCalendar) -> dt.datetime:
    """Return ``now`` moved on by ``span``.

    Working days keep the local time of day: ``3 working days`` from Friday
    10:00 is Wednesday 10:00 (with no holiday between), counting each
    working day after today's.
    """
    if span.unit == "hours":
        return now + dt.timedelta(hours=span.amount)
    if span.unit == "minutes":
        return now + dt.timedelta(minutes=span.amount)
    local = now.astimezone(calendar.zone)
    if span.unit == "calendar_days":
        day = local.date() + dt.timedelta(days=span.amount)
    else:
        day, counted = local.date(), 0
        while counted < span.amount:
            day += dt.timedelta(days=1)
            if calendar.is_working_day(day):
                counted += 1
    moved = dt.datetime.combine(day, local.timetz().replace(tzinfo=None), tzinfo=calendar.zone)
    return moved.astimezone(dt.UTC)


class _ScenarioRun:
    """One scenario on its own database."""

    def __init__(
        self,
        loaded: LoadedFile,
        index: int,
        definition: Definition,
        catalog: Catalog,
        context: _Context,
        folder: str,
    ) -> None:
        self.loaded = loaded
        self.index = index
        self.scenario: Scenario = loaded.spec.scenarios[index]
        self.definition = definition
        self.calendar = context.calendar(folder)
        self.context = context
        self.failures: list[Failure] = []
        self.trace = Trace()
        start = _local(self.scenario.at or DEFAULT_START, self.calendar)
        self.clock = ManualClock(start)
        self.sa = context.template.fresh()
        self.engine = Engine.from_engine(
            self.sa,
            definitions=catalog,
            directory=context.directory(loaded, folder),
            clock=self.clock,
            calendar=self.calendar,
            check=False,
        )
        self.catalog = catalog
        self.item_id = 0

    # -- failures ------------------------------------------------------------------

    def _fail(self, path: Path, step: str, message: str, expected: Any, actual: Any) -> None:
        located = self.loaded.positions.nearest(path)
        self.failures.append(
            Failure(
                file=self.loaded.path,
                line=located.key_line,
                column=located.key_column,
                scenario=self.scenario.name,
                step=step,
                message=message,
                expected=expected,
                actual=actual,
            )
        )

    def _marks(self) -> Marks:
        if not self.item_id:
            return Marks(0, 0)
        return marks(self.engine, self.item_id)

    def _expect(self, expect: Expect | None, base: Path, step: str, marks: Marks) -> None:
        if expect is None:
            return
        for where, message, expected, actual in check(expect, self.engine, self.item_id, marks):
            self._fail((*base, *where), step, message, expected, actual)

    # -- running -------------------------------------------------------------------

    def run(self) -> None:
        base: Path = ("scenarios", self.index)
        start = self.scenario.start
        try:
            try:
                item = self.engine.start(
                    self.loaded.spec.workflow, Actor.parse(start.as_), dict(start.data)
                )
            except WorkflowError as error:
                self._fail(
                    (*base, "start"),
                    "start",
                    f"the item could not be started: {type(error).__name__}: {error}",
                    "started",
                    str(error),
                )
                raise _Stop from None
            self.item_id = item.id
            self._expect(start.expect, (*base, "start", "expect"), "start", Marks(0, 0))
            for number, step in enumerate(self.scenario.steps, start=1):
                path: Path = (*base, "steps", number - 1)
                try:
                    self._step(step, path, f"step {number}")
                except WorkflowError as error:
                    # Not a refusal (those are expectations): the engine, the scan or the
                    # dispatcher could not do the step at all, e.g. a template fails.
                    self._fail(
                        (*path, step.action),
                        f"step {number}",
                        f"the step failed: {type(error).__name__}: {error}",
                        "done",
                        type(error).__name__,
                    )
                    raise _Stop from None
        except _Stop:
            pass
        finally:
            self._collect()
            self.sa.dispose()

    def _step(self, step: Step, path: Path, label: str) -> None:
        marks = self._marks()
        action = step.action
        if action == "fire":
            self._fire(step, path, label)
        elif action == "wait":
            span = parse_duration(step.wait or "")
            if span is not None:
                self.clock.set(later(self.clock.now(), span, self.calendar))
        elif action == "until":
            moment = _local(step.until or "", self.calendar)
            if moment < self.clock.now():
                self._fail(
                    (*path, "until"),
                    label,
                    f"until {step.until} is before the scenario's clock",
                    step.until,
                    self.clock.now().isoformat(),
                )
                raise _Stop
            self.clock.set(moment)
        elif action == "tick":
            report = Escalator(self.engine).tick(self.clock.now())
            if report.failures:
                self._fail(
                    (*path, "tick"),
                    label,
                    f"the escalation pass failed: {report.failures}",
                    [],
                    list(report.failures),
                )
        elif action == "dispatch":
            channels = {name: _Capture(name) for name in ("email", "office_robot")}
            dispatcher = Dispatcher(
                self.engine,
                self.context.notifiers,
                channels,
                self.context.renderer(self.catalog),
                clock=self.clock,
                rand=lambda: 0.0,
            )
            try:
                dispatcher.run_pass(self.clock.now())
            finally:
                dispatcher.close()
        self._expect(step.expect, (*path, "expect"), label, marks)

    def _snapshot(self) -> tuple[Any, ...]:
        return (
            self.engine.get(self.item_id),
            self.engine.history(self.item_id),
            self.engine.branches(self.item_id),
            outbox_rows(self.engine, self.item_id),
        )

    def _fire(self, step: Step, path: Path, label: str) -> None:
        event = step.fire or ""
        actor = Actor.parse(step.as_ or "")
        refused = step.expect_refused
        before = self._snapshot() if refused is not None else None
        try:
            self.engine.fire(self.item_id, event, actor, step.input, reason=step.reason)
        except Refused as error:
            kind = type(error).__name__
            self.trace.refusals.add(kind)
            guard = getattr(error, "guard", None)
            if isinstance(guard, str):
                self.trace.guards_false.add((event, guard))
            if refused is None:
                self._fail(
                    (*path, "fire"),
                    label,
                    f"expected {event!r} to fire, got {kind}: {error}",
                    "fired",
                    kind,
                )
                raise _Stop from None
            self._refusal(refused, error, path, label)
            if before is not None and self._snapshot() != before:
                self._fail(
                    (*path, "expect_refused"),
                    label,
                    "the refusal changed the item (state, history, branches or notifications)",
                    "unchanged",
                    "changed",
                )
            return
        if refused is not None:
            state = self.engine.get(self.item_id).state
            self._fail(
                (*path, "expect_refused"),
                label,
                f"expected {refused.error}, got {event!r} fired (state now {state!r})",
                refused.error,
                "fired",
            )
            raise _Stop

    def _refusal(self, want: ExpectRefused, error: Refused, path: Path, label: str) -> None:
        base = (*path, "expect_refused")
        kind = type(error).__name__
        if kind != want.error:
            self._fail(
                (*base, "error"),
                label,
                f"expected {want.error}, got {kind}: {error}",
                want.error,
                kind,
            )
            return
        guard = getattr(error, "guard", None)
        if want.guard is not None and want.guard != guard:
            self._fail(
                (*base, "guard"),
                label,
                f"expected guard {show(want.guard)} to fail, got {show(guard)}",
                want.guard,
                guard,
            )
        field = getattr(error, "field", None)
        if want.field is not None:
            fields = [name for name, _ in getattr(error, "errors", ())] or [field]
            if want.field not in fields:
                self._fail(
                    (*base, "field"),
                    label,
                    f"expected invalid field {show(want.field)}, got {show(field)}",
                    want.field,
                    field,
                )
        if want.message_contains is not None and want.message_contains not in str(error):
            self._fail(
                (*base, "message_contains"),
                label,
                f"expected the message to contain {show(want.message_contains)}, "
                f"got {show(str(error))}",
                want.message_contains,
                str(error),
            )

    # -- coverage ------------------------------------------------------------------

    def _collect(self) -> None:
        if not self.item_id:
            return
        definition = self.definition
        trace = self.trace
        for row in self.engine.history(self.item_id):
            trace.states.add(row.to_state)
            if row.kind in ("event", "answer"):
                trace.events.add(row.event)
                for spec in definition.spec.events:
                    if (
                        spec.name == row.event
                        and row.from_state is not None
                        and (
                            {row.from_state, *definition.ancestors(row.from_state)}
                            & set(spec.from_)
                        )
                    ):
                        trace.guards_true.update((spec.name, g.expr) for g in spec.guard)
        for scope, level in fired_levels(self.engine, self.item_id):
            trace.levels.add(ladder_key(definition, scope, level))


def ladder_key(definition: Definition, scope: str, level: str) -> str:
    """Name a ladder level for coverage: ``level`` (the workflow's ladder) or ``state/level``."""
    state = definition.states.get(scope)
    ladder = ladder_for(definition, scope)
    if state is not None and state.escalation is not None and ladder is state.escalation:
        return f"{scope}/{level}"
    return level


@contextmanager
def _quiet_engine_logs() -> Iterator[None]:
    """Refusals are expected here; the engine's warnings about them are noise."""
    logger = logging.getLogger("workflow")
    previous = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(previous)


def run_scenarios(
    paths: Iterable[str] | str | None = None, *, select: str | None = None
) -> RunResults:
    """Run the scenario files found in ``paths`` (default: the shipped definitions' ones).

    ``paths`` are scenario files or folders (searched for ``_scenarios``
    folders). ``select`` keeps only scenarios whose name contains it, or
    matches it as a shell pattern (``*revisit*``). Never raises for a bad
    file: its problems are in the results.
    """
    if paths is None:
        paths = [shipped_definitions()]
    elif isinstance(paths, str):
        paths = [paths]
    files, problems = find_scenario_files(paths)
    context = _Context()
    results: list[ScenarioResult] = []
    definitions: dict[str, Definition] = {}
    with _quiet_engine_logs():
        for file in files:
            problems += _run_file(file, context, select, results, definitions)
    return RunResults(
        results=tuple(results),
        problems=tuple(sorted(set(problems))),
        definitions=definitions,
        files=tuple(files),
    )


def _selected(name: str, select: str | None) -> bool:
    return select is None or select in name or fnmatch.fnmatchcase(name, select)


def _run_file(
    file: str,
    context: _Context,
    select: str | None,
    results: list[ScenarioResult],
    definitions: dict[str, Definition],
) -> list[Problem]:
    try:
        loaded = load_scenario_file(file)
    except DefinitionError as error:
        return list(error.problems)
    folder = definitions_folder(file)
    catalog, problems = context.catalog(folder)
    if catalog is None:
        return problems
    named = check_names(loaded, catalog)
    if named:
        return named
    definition = catalog.get(loaded.spec.workflow)
    definitions[definition.id] = definition
    # Loaded once per run, before the clock starts: a scenario's time is its own.
    context.calendar(folder)
    context.directory(loaded, folder)
    context.template.fresh().dispose()
    for index, scenario in enumerate(loaded.spec.scenarios):
        if not _selected(scenario.name, select):
            continue
        started = time.perf_counter()
        run = _ScenarioRun(loaded, index, definition, catalog, context, folder)
        run.run()
        results.append(
            ScenarioResult(
                file=file,
                workflow=definition.id,
                name=scenario.name,
                failures=tuple(run.failures),
                seconds=time.perf_counter() - started,
                trace=run.trace,
            )
        )
    return []
