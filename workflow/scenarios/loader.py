"""Find and read scenario files, keeping every key's file, line and column.

Scenario files live in a ``_scenarios/`` folder beside the definitions they
test (``definitions/_scenarios/enterprise_issue.yaml``). The definition
loader skips folders whose names start with ``_``, so a scenario file is
never taken for a definition. Reading reuses the bounded YAML reader of the
definitions (:func:`workflow.definition.yamlsource.read_yaml`): oversized,
malformed or alias-bombed files are refused with a position, and every
problem of a file is reported at once, never a traceback.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Any

from pydantic import ValidationError

from workflow.definition.compiled import Definition
from workflow.definition.loader import Catalog
from workflow.definition.model import EscalationSpec
from workflow.definition.pydantic_errors import suggest
from workflow.definition.yamlsource import Located, Path, SourceMap, read_yaml
from workflow.errors import DefinitionError, Problem
from workflow.scenarios import model
from workflow.scenarios.model import Expect, ScenarioFile

__all__ = [
    "SCENARIO_FOLDER",
    "LoadedFile",
    "ScenarioFileError",
    "check_names",
    "check_scenario_files",
    "definitions_folder",
    "find_scenario_files",
    "load_scenario_file",
]

SCENARIO_FOLDER = "_scenarios"
"""The folder, beside the definitions, that holds scenario files."""


class ScenarioFileError(DefinitionError):
    """A scenario file is unreadable or invalid; ``problems`` lists every problem, positioned."""


@dataclass(frozen=True)
class LoadedFile:
    """A valid scenario file: its path, its content and where each key stands."""

    path: str
    spec: ScenarioFile
    positions: SourceMap

    def where(self, path: Path) -> str:
        """Return ``FILE:LINE:COLUMN`` of the key at ``path`` (or its nearest ancestor)."""
        found = self.positions.nearest(path)
        return f"{found.file}:{found.key_line}:{found.key_column}"


def find_scenario_files(paths: Iterable[str]) -> tuple[list[str], list[Problem]]:
    """Expand files and folders into scenario files (``*.yaml`` in ``_scenarios`` folders).

    A file given by name is taken as a scenario file whatever its folder.
    """
    found: list[str] = []
    problems: list[Problem] = []
    for path in paths:
        candidate = FsPath(path)
        if candidate.is_file():
            found.append(str(candidate))
        elif candidate.is_dir():
            folders = [candidate] if candidate.name == SCENARIO_FOLDER else []
            folders += sorted(p for p in candidate.rglob(SCENARIO_FOLDER) if p.is_dir())
            for folder in folders:
                found.extend(
                    str(f)
                    for f in sorted(folder.iterdir())
                    if f.suffix in (".yaml", ".yml") and f.is_file()
                )
        else:
            problems.append(Problem(str(path), 1, 1, "no such file or folder"))
    unique = list(dict.fromkeys(found))
    return unique, problems


def definitions_folder(scenario_file: str) -> str:
    """Return the definitions a scenario file tests: the folder holding its ``_scenarios``."""
    folder = FsPath(scenario_file).parent
    if folder.name == SCENARIO_FOLDER:
        return str(folder.parent)
    return str(folder)


def _data_path(data: Any, loc: Sequence[int | str]) -> Path:
    """Follow a pydantic error location through the data as far as it exists."""
    path: list[str | int] = []
    node = data
    for part in loc:
        in_mapping = isinstance(node, dict) and isinstance(part, str) and part in node
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if not (in_mapping or in_list):
            continue
        node = node[part]
        path.append(part)
    return tuple(path)


def _validation_problems(error: ValidationError, data: Any, positions: SourceMap) -> list[Problem]:
    problems: list[Problem] = []
    for detail in error.errors(include_url=False):
        loc = tuple(detail["loc"])
        path = _data_path(data, loc)
        located = positions.nearest(path)
        message = str(detail["msg"]).removeprefix("Value error, ")
        if detail["type"] == "extra_forbidden" and isinstance(loc[-1], str):
            parent = _data_path(data, loc[:-1])
            known = _known_keys(data, parent)
            message = f"unknown key {loc[-1]!r}{suggest(loc[-1], known)}"
            problems.append(Problem(located.file, located.key_line, located.key_column, message))
            continue
        where = ".".join(str(p) for p in loc if not str(p).startswith(("function-", "literal")))
        problems.append(Problem(located.file, located.line, located.column, f"{where}: {message}"))
    return problems


def _known_keys(data: Any, parent: Path) -> tuple[str, ...]:
    """Return the keys the model accepts at ``parent`` (for a did-you-mean hint)."""
    shape: dict[str, type[Any]] = {
        "": model.ScenarioFile,
        "scenarios": model.Scenario,
        "start": model.Start,
        "steps": model.Step,
        "expect": model.Expect,
        "expect_refused": model.ExpectRefused,
        "deadlines": model.DeadlineExpect,
        "agenda": model.AgendaExpect,
        "branches": model.BranchExpect,
        "notifications": model.NotificationExpect,
        "history": model.HistoryExpect,
    }
    names = [p for p in parent if isinstance(p, str)]
    chosen = shape.get(names[-1] if names else "")
    if chosen is None:
        return ()
    fields = chosen.model_fields
    return tuple(info.alias or name for name, info in fields.items())


def load_scenario_file(path: str, text: str | None = None) -> LoadedFile:
    """Read and validate one scenario file (``text`` given for it, or read from disk).

    Raises :class:`ScenarioFileError` listing every problem with its
    position; never another exception for any content.
    """
    try:
        document = read_yaml(path, text)
    except DefinitionError as error:
        raise ScenarioFileError(error.problems) from None
    except RecursionError:
        # The shared reader recurses into a node that holds an alias of itself
        # (`&a [*a]` at the top level) instead of refusing it.
        raise ScenarioFileError(
            [Problem(path, 1, 1, "the YAML holds a node that contains itself (an alias loop)")]
        ) from None
    data = document.data
    if not isinstance(data, dict):
        raise ScenarioFileError(
            [Problem(path, 1, 1, "a scenario file is a mapping: workflow, scenarios")]
        )
    # Top-level `x-` keys only hold YAML anchors, as in definitions.
    data = {k: v for k, v in data.items() if not k.startswith("x-")}
    try:
        spec = ScenarioFile.model_validate(data)
    except ValidationError as error:
        raise ScenarioFileError(_validation_problems(error, data, document.positions)) from None
    problems: list[Problem] = []
    seen: dict[str, Located] = {}
    for index, scenario in enumerate(spec.scenarios):
        located = document.positions.nearest(("scenarios", index, "name"))
        first = seen.get(scenario.name)
        if first is not None:
            problems.append(
                Problem(
                    path,
                    located.line,
                    located.column,
                    f"another scenario is named {scenario.name!r} "
                    f"(at line {first.line}); names must be unique in a file",
                )
            )
        seen[scenario.name] = located
    if problems:
        raise ScenarioFileError(problems)
    return LoadedFile(path=path, spec=spec, positions=document.positions)


def check_names(loaded: LoadedFile, catalog: Catalog) -> list[Problem]:
    """Check the names a file uses (workflow, events, states, levels, reviews) exist."""
    spec = loaded.spec

    def problem(path: Path, message: str) -> Problem:
        located = loaded.positions.nearest(path)
        return Problem(loaded.path, located.line, located.column, message)

    if spec.workflow not in catalog.ids():
        return [
            problem(
                ("workflow",),
                f"no workflow {spec.workflow!r} in the definitions"
                f"{suggest(spec.workflow, catalog.ids())}",
            )
        ]
    definition = catalog.get(spec.workflow)
    events = set(definition.event_names())
    events.update(s.joint.answer.name for s in definition.states.values() if s.joint)
    problems: list[Problem] = []
    for i, scenario in enumerate(spec.scenarios):
        expects: list[tuple[Path, Expect | None]] = [
            (("scenarios", i, "start", "expect"), scenario.start.expect)
        ]
        for j, step in enumerate(scenario.steps):
            base: Path = ("scenarios", i, "steps", j)
            expects.append(((*base, "expect"), step.expect))
            refused = step.expect_refused
            unknown_expected = refused is not None and refused.error == "UnknownEvent"
            if step.fire is not None and step.fire not in events and not unknown_expected:
                problems.append(
                    problem(
                        (*base, "fire"),
                        f"{spec.workflow} has no event {step.fire!r}{suggest(step.fire, events)}",
                    )
                )
        for where, expect in expects:
            if expect is not None:
                problems += [
                    problem((*where, *path), f"{spec.workflow} has no {what} {name!r}{hint}")
                    for path, what, name, hint in _unknown_names(expect, definition)
                ]
    return problems


def _unknown_names(expect: Expect, definition: Definition) -> list[tuple[Path, str, str, str]]:
    """Return the state, ladder level, review and scope names an expectation misspells."""
    states = set(definition.states)
    levels = {level.name for ladder in _ladders(definition) for level in ladder.levels}
    reviews = set(definition.spec.reviews)
    wanted: list[tuple[Path, str, str, set[str]]] = []
    if expect.state is not None:
        wanted.append((("state",), "state", expect.state, states))
    for index, level in enumerate(expect.escalations or ()):
        wanted.append((("escalations", index), "ladder level", level, levels))
    for index, entry in enumerate(expect.agenda or ()):
        wanted.append((("agenda", index, "review"), "review", entry.review, reviews))
        if entry.level is not None:
            wanted.append((("agenda", index, "level"), "ladder level", entry.level, levels))
    for index, deadline in enumerate(expect.deadlines or ()):
        if deadline.scope is not None:
            wanted.append((("deadlines", index, "scope"), "state", deadline.scope, states))
    return [
        (path, what, name, suggest(name, known))
        for path, what, name, known in wanted
        if name not in known
    ]


def _ladders(definition: Definition) -> list[EscalationSpec]:
    found = [s.escalation for s in definition.states.values() if s.escalation is not None]
    if definition.spec.escalation is not None:
        found.append(definition.spec.escalation)
    return found


def check_scenario_files(folders: Iterable[str], catalog: Catalog) -> tuple[int, list[Problem]]:
    """Check the scenario files in ``folders`` (for ``workflow validate``) without running them.

    Only folders are searched: a file named on the command line is a
    definition there. Returns how many files were checked and their problems.
    """
    files, _ = find_scenario_files(p for p in folders if FsPath(p).is_dir())
    problems: list[Problem] = []
    for file in files:
        try:
            loaded = load_scenario_file(file)
        except DefinitionError as error:
            problems.extend(error.problems)
            continue
        problems.extend(check_names(loaded, catalog))
    return len(files), problems
