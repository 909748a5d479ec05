"""Load definition files: YAML, includes, schema validation, checks, hashing.

:func:`load_definition` reads one workflow (its main file plus the files it
includes) and returns a :class:`~workflow.definition.compiled.Definition` or
raises :class:`~workflow.errors.DefinitionError` listing *every* problem
found, each at its file, line and column. :func:`load_catalog` does the same
for many files and folders at once and never stops at the first bad file;
it also reads the notification templates beside the definitions
(``_templates``, over the shipped ones) and reports their problems, and
those of the definitions' ``notify:`` entries, in the same list.

Files and folders whose names start with ``_`` are partials: they are read
only when a definition includes them.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path as FsPath
from typing import Any

from pydantic import ValidationError

from workflow.definition.checks import Finding, check_definition
from workflow.definition.compiled import Definition, SourceFile
from workflow.definition.model import FRAGMENT_KEYS, WorkflowSpec
from workflow.definition.pydantic_errors import problems_from_validation_error, suggest
from workflow.definition.templates.templateset import SHIPPED_TEMPLATES, TemplateSet
from workflow.definition.yamlsource import Located, Path, SourceMap, YamlDocument, read_yaml
from workflow.errors import DefinitionError, DefinitionNotFound, Problem

__all__ = [
    "Catalog",
    "definition_from_json",
    "definition_hash",
    "definition_to_json",
    "find_definition_files",
    "load_catalog",
    "load_definition",
    "template_set_for",
]

_MAX_INCLUDES = 32


def definition_hash(spec: WorkflowSpec) -> str:
    """Return the SHA-256 of a spec's canonical JSON form.

    Comments, key order, layout and the split into included files do not
    change it; any change of meaning does.
    """
    # Defaults are left out so that a new optional key in the language does not
    # change the hash of every existing definition (items are pinned by it).
    content = spec.model_dump(
        mode="json", by_alias=True, exclude={"include"}, exclude_defaults=True
    )
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def definition_to_json(definition: Definition) -> str:
    """Serialise a definition for the store: its canonical spec and its source files.

    Items are pinned to a hash; storing this lets any process rebuild that
    exact version later, even after the files on disk have moved on.
    """
    return json.dumps(
        {
            "hash": definition.hash,
            "spec": definition.spec.model_dump(mode="json", by_alias=True, exclude={"include"}),
            "files": [{"path": s.path, "text": s.text} for s in definition.sources],
        },
        ensure_ascii=False,
        sort_keys=True,
    )


def definition_from_json(source: str) -> Definition:
    """Rebuild a stored definition (see :func:`definition_to_json`), checking its hash."""
    stored = json.loads(source)
    spec = WorkflowSpec.model_validate(stored["spec"])
    result = check_definition(spec)
    digest = definition_hash(spec)
    if digest != stored.get("hash"):
        raise DefinitionError(
            [Problem("<stored definition>", 1, 1, f"stored hash {stored.get('hash')} != {digest}")]
        )
    return Definition(
        spec=spec,
        hash=digest,
        sources=tuple(SourceFile(f["path"], f["text"]) for f in stored.get("files", [])),
        states=dict(result.states),
        parents=dict(result.parents),
        expressions=dict(result.expressions),
    )


def _at(located: Located, message: str, *, key: bool = False) -> Problem:
    if key:
        return Problem(located.file, located.key_line, located.key_column, message)
    return Problem(located.file, located.line, located.column, message)


def _merge_fragment(
    main: YamlDocument, fragment: YamlDocument, positions: SourceMap, problems: list[Problem]
) -> None:
    """Merge an included file's sections into the main document's data."""
    data = main.data
    if not isinstance(fragment.data, dict):
        problems.append(
            Problem(
                fragment.file,
                1,
                1,
                f"an included file must be a mapping of {', '.join(FRAGMENT_KEYS)}",
            )
        )
        return
    for key, value in fragment.data.items():
        located = fragment.positions.nearest((key,))
        if _is_anchor_slot(key):
            continue
        if key not in FRAGMENT_KEYS:
            hint = suggest(key, FRAGMENT_KEYS) or f"; expected one of: {', '.join(FRAGMENT_KEYS)}"
            problems.append(_at(located, f"an included file may not set {key!r}{hint}", key=True))
            continue
        if key == "events":
            if not isinstance(value, list):
                problems.append(_at(located, "expected a list of events"))
                continue
            events = data.setdefault("events", [])
            if not isinstance(events, list):
                continue
            offset = len(events)
            events.extend(value)
            for index in range(len(value)):
                positions.graft(fragment.positions, ("events", index), ("events", offset + index))
            continue
        if not isinstance(value, dict):
            problems.append(_at(located, f"expected a mapping of {key}"))
            continue
        section = data.setdefault(key, {})
        if not isinstance(section, dict):
            continue
        for name, entry in value.items():
            if name in section:
                first = positions.nearest((key, name))
                problems.append(
                    _at(
                        fragment.positions.nearest((key, name)),
                        f"{key[:-1]} {name!r} is already defined at "
                        f"{first.file}:{first.key_line}:{first.key_column}",
                        key=True,
                    )
                )
                continue
            section[name] = entry
            positions.graft(fragment.positions, (key, name), (key, name))


def _is_anchor_slot(key: object) -> bool:
    """Tell whether a top-level key is an ``x-`` slot, which only holds YAML anchors."""
    return isinstance(key, str) and key.startswith("x-")


def _read_includes(main: YamlDocument, problems: list[Problem]) -> list[SourceFile]:
    """Read and merge every file ``main`` includes; return them as sources."""
    includes = main.data.get("include") if isinstance(main.data, dict) else None
    if includes is None:
        return []
    main_file = FsPath(main.file).resolve()
    base = main_file.parent
    if not isinstance(includes, list) or not all(isinstance(p, str) for p in includes):
        problems.append(_at(main.positions.nearest(("include",)), "expected a list of file names"))
        return []
    if len(includes) > _MAX_INCLUDES:
        problems.append(
            _at(main.positions.nearest(("include",)), f"at most {_MAX_INCLUDES} includes")
        )
        return []
    sources: list[SourceFile] = []
    seen: set[FsPath] = set()
    for index, name in enumerate(includes):
        located = main.positions.nearest(("include", index))
        target = (base / name).resolve()
        if os.path.isabs(name) or not target.is_relative_to(base):
            problems.append(
                _at(
                    located,
                    f"{name!r} is outside this definition's folder; include only "
                    "files in it or below it",
                )
            )
            continue
        if target in seen:
            problems.append(_at(located, f"{name!r} is included twice"))
            continue
        seen.add(target)
        if not target.is_file():
            siblings = (
                [p.name for p in target.parent.glob("*.y*ml") if p.resolve() != main_file]
                if target.parent.is_dir()
                else []
            )
            problems.append(
                _at(located, f"no such file to include: {name!r}{suggest(target.name, siblings)}")
            )
            continue
        shown = os.path.normpath(os.path.join(os.path.dirname(main.file), name))
        try:
            fragment = read_yaml(shown)
        except DefinitionError as error:
            problems.extend(error.problems)
            continue
        if isinstance(fragment.data, dict) and "include" in fragment.data:
            problems.append(
                _at(
                    fragment.positions.nearest(("include",)),
                    "an included file may not include others (one level only)",
                    key=True,
                )
            )
            continue
        _merge_fragment(main, fragment, main.positions, problems)
        sources.append(SourceFile(shown, fragment.text))
    return sources


def _finding_problem(
    finding: Finding, data: Any, positions: SourceMap, texts: Mapping[str, str]
) -> Problem:
    if finding.key:
        return _at(positions.nearest(finding.path), finding.message, key=True)
    if finding.offset is None:
        return _at(positions.nearest(finding.path), finding.message)
    located, source = _expression_at(finding.path, data, positions)
    text = texts.get(located.file)
    where = None
    if text is not None and source is not None:
        where = _expression_position(text, located, source, finding.offset)
    if where is None:
        return _at(located, finding.message)
    return Problem(located.file, where[0], where[1], finding.message)


def _expression_at(path: Path, data: Any, positions: SourceMap) -> tuple[Located, str | None]:
    """Find the YAML scalar an expression finding is about, and its text.

    The checker's paths follow the validated spec, where shorthands have been
    expanded (``guard: "x"`` is ``guard[0].expr``); the data still has the
    shorthand, so a list index or ``expr`` the data does not have is skipped.
    """
    actual: list[str | int] = []
    node = data
    for part in path:
        in_list = isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        if in_list or (isinstance(node, dict) and part in node):
            node = node[part]
            actual.append(part)
    located = positions.get(tuple(actual)) or positions.nearest(tuple(actual))
    return located, node if isinstance(node, str) else None


_Unit = tuple[int, int, str]
"""A piece of a scalar's source: (line, column, character); "" stands for an escape
(any one character of the value) and "skip" for source text that yields nothing."""
_DROPPABLE = frozenset({" ", "\t", "\r", "\n", "skip"})


def _expression_position(
    text: str, located: Located, source: str, offset: int
) -> tuple[int, int] | None:
    """Map a character offset inside a scalar's value to a line and column of its file.

    Reading a scalar, YAML removes its quotes, turns escapes into characters,
    strips indentation and folds line breaks into spaces (``|`` blocks keep
    them). Every character of the value therefore comes from a character (or
    an escape) of the source, in order, and only whitespace and line breaks
    disappear, so the value is aligned with its source character by character.
    That is exact for every style, one line or many. Where the alignment fails
    (an alias, a value from elsewhere) None is returned, and the problem is
    reported at the start of the value.
    """
    if not source:
        return None
    wanted = min(offset, len(source) - 1)
    units = _scalar_units(text, located)
    unit: _Unit | None = None
    for char in source[: wanted + 1]:
        unit = next(units, None)
        while unit is not None:
            piece = unit[2]
            if piece in ("", char) or (piece == "\n" and char == " "):
                break
            if piece not in _DROPPABLE:
                return None
            unit = next(units, None)
        if unit is None:
            return None
    assert unit is not None  # the loop ran at least once
    line, column, _piece = unit
    return (line, column + 1) if offset >= len(source) else (line, column)


def _scalar_units(text: str, located: Located) -> Iterator[_Unit]:
    """Yield the source of the scalar at ``located``, unit by unit (see :data:`_Unit`).

    Lazily: a plain scalar has no end marker, and only as much of the file is
    read as the alignment needs.
    """
    lines = text.split("\n")
    row, col = located.line - 1, located.column - 1
    if row >= len(lines):
        return
    line = lines[row]
    # Skip an anchor or a tag written before the value (`&name >-`, `!!str "x"`).
    while col < len(line) and line[col] in "&!":
        while col < len(line) and line[col] not in " \t":
            col += 1
        while col < len(line) and line[col] in " \t":
            col += 1
    style = located.style
    if style in ("literal", "folded"):
        if col >= len(line) or line[col] not in "|>":
            return
        row, col = row + 1, 0  # the content starts on the line after the indicator
    elif style in ("single", "double"):
        if col >= len(line) or line[col] != ("'" if style == "single" else '"'):
            return
        col += 1
    while row < len(lines):
        line = lines[row]
        while col < len(line):
            char = line[col]
            if style == "single" and char == "'":
                if line[col + 1 : col + 2] != "'":
                    return  # the closing quote
                yield (row + 1, col + 1, "'")
                col += 2
            elif style == "double" and char == '"':
                return
            elif style == "double" and char == "\\":
                if col + 1 >= len(line):
                    yield (row + 1, col + 1, "skip")  # an escaped line break
                    col += 1
                else:
                    yield (row + 1, col + 1, "")
                    col += 2 + {"x": 2, "u": 4, "U": 8}.get(line[col + 1], 0)
            else:
                yield (row + 1, col + 1, char)
                col += 1
        yield (row + 1, len(line) + 1, "\n")
        row, col = row + 1, 0


def load_definition(path: str, text: str | None = None) -> Definition:
    """Load one workflow definition file (and what it includes).

    ``text`` may be given instead of reading ``path`` (for editors and tests).
    Raises :class:`~workflow.errors.DefinitionError` with every problem found.
    """
    return _load(path, text)[0]


def _load(path: str, text: str | None) -> tuple[Definition, SourceMap]:
    """Load a definition and keep the positions of its data (for later checks)."""
    main = read_yaml(path, text)
    problems: list[Problem] = []
    if not isinstance(main.data, dict):
        raise DefinitionError(
            [
                Problem(
                    path,
                    1,
                    1,
                    "a definition must be a mapping with id, version, title, "
                    "initial, roles, states and events",
                )
            ]
        )
    # `x-` keys hold YAML anchors for reuse (as in Compose files); they carry no meaning.
    for key in [k for k in main.data if _is_anchor_slot(k)]:
        del main.data[key]
    sources = [SourceFile(main.file, main.text), *_read_includes(main, problems)]
    texts = {source.path: source.text for source in sources}
    include_failed = bool(problems)
    if include_failed:
        # What a failed include would have brought is missing: do not report that as
        # missing sections too (the shape of everything else is still checked).
        for key in FRAGMENT_KEYS:
            main.data.setdefault(key, [] if key == "events" else {})
    try:
        spec = WorkflowSpec.model_validate(main.data)
    except ValidationError as error:
        problems.extend(problems_from_validation_error(error, main.data, main.positions))
        raise DefinitionError(problems) from None
    if include_failed:
        # The cross-reference pass would report every name the include defines as
        # unknown, burying the one problem that matters.
        raise DefinitionError(problems)
    result = check_definition(spec)
    problems.extend(_finding_problem(f, main.data, main.positions, texts) for f in result.findings)
    if problems:
        raise DefinitionError(problems)
    definition = Definition(
        spec=spec,
        hash=definition_hash(spec),
        sources=tuple(sources),
        states=dict(result.states),
        parents=dict(result.parents),
        expressions=dict(result.expressions),
    )
    return definition, main.positions


def find_definition_files(paths: Iterable[str]) -> tuple[list[str], list[Problem]]:
    """Expand files and folders into definition files, skipping ``_`` partials."""
    found: list[str] = []
    problems: list[Problem] = []
    for path in paths:
        candidate = FsPath(path)
        if candidate.is_dir():
            for file in sorted(candidate.rglob("*")):
                relative = file.relative_to(candidate).parts
                if (
                    file.suffix in (".yaml", ".yml")
                    and file.is_file()
                    and not any(part.startswith(("_", ".")) for part in relative)
                ):
                    found.append(str(file))
        elif candidate.is_file():
            found.append(str(candidate))
        else:
            problems.append(Problem(str(path), 1, 1, "no such file or folder"))
    return found, problems


class Catalog:
    """The definitions known to an engine, by workflow id and version, and their templates."""

    def __init__(
        self, definitions: Iterable[Definition] = (), templates: TemplateSet | None = None
    ) -> None:
        self._by_id: dict[str, dict[int, Definition]] = {}
        self._by_hash: dict[str, Definition] = {}
        self._templates = templates
        for definition in definitions:
            self.add(definition)

    @property
    def templates(self) -> TemplateSet:
        """The notification templates (the shipped ones unless the catalog was given others)."""
        if self._templates is None:
            self._templates = TemplateSet.shipped()
        return self._templates

    def add(self, definition: Definition) -> None:
        """Add a definition; the same id and version with other content is refused."""
        versions = self._by_id.setdefault(definition.id, {})
        existing = versions.get(definition.version)
        if existing is not None and existing.hash != definition.hash:
            raise DefinitionError(
                [
                    Problem(
                        definition.file,
                        1,
                        1,
                        f"{definition.id!r} version {definition.version} is already defined "
                        f"differently in {existing.file}; raise the version number",
                    )
                ]
            )
        versions[definition.version] = definition
        self._by_hash[definition.hash] = definition

    def get(self, workflow_id: str, version: int | None = None) -> Definition:
        """Return a definition: the given version, or the latest one."""
        versions = self._by_id.get(workflow_id)
        if not versions:
            raise DefinitionNotFound(workflow_id, version, self._by_id)
        if version is None:
            return versions[max(versions)]
        if version not in versions:
            raise DefinitionNotFound(workflow_id, version, self._by_id)
        return versions[version]

    def by_hash(self, digest: str) -> Definition | None:
        """Return the definition with this content hash, if loaded."""
        return self._by_hash.get(digest)

    def __iter__(self) -> Iterator[Definition]:
        """Iterate over every definition, by id then version."""
        for workflow_id in sorted(self._by_id):
            versions = self._by_id[workflow_id]
            for version in sorted(versions):
                yield versions[version]

    def __len__(self) -> int:
        """Count the loaded definitions (all versions)."""
        return sum(len(v) for v in self._by_id.values())

    def ids(self) -> tuple[str, ...]:
        """Return the workflow ids."""
        return tuple(sorted(self._by_id))


def load_catalog(paths: Iterable[str]) -> tuple[Catalog, list[Problem]]:
    """Load every definition under ``paths``; return those that loaded and all problems.

    The catalog's templates are the shipped ones overlaid with each path's
    ``_templates`` folder (a file's folder for a file); their problems, and
    ``notify:`` entries naming a missing template or reading a field the
    workflow lacks, are among the problems returned.
    """
    paths = list(paths)
    files, problems = find_definition_files(paths)
    templates = template_set_for(paths)
    catalog = Catalog(templates=templates)
    positions: dict[str, SourceMap] = {}
    for file in files:
        try:
            definition, where = _load(file, None)
            catalog.add(definition)
            positions[definition.hash] = where
        except DefinitionError as error:
            problems.extend(error.problems)

    def locate(definition: Definition, path: Path) -> tuple[str, int, int]:
        found = positions.get(definition.hash)
        if found is None:
            return definition.file, 1, 1
        located = found.nearest(path)
        return located.file, located.line, located.column

    problems.extend(templates.check(catalog, locate=locate))
    return catalog, sorted(set(problems))


def template_set_for(paths: Iterable[str]) -> TemplateSet:
    """Return the templates for definitions under ``paths``.

    The shipped ones come first, then each path's ``_templates`` folder (for
    a file, its folder's); a later folder replaces the names it defines.
    """
    shipped = SHIPPED_TEMPLATES.resolve()
    folders: list[str] = []
    seen: set[FsPath] = set()
    shipped_shown: str | None = None
    for path in paths:
        base = FsPath(path)
        folder = (base if base.is_dir() else base.parent) / "_templates"
        resolved = folder.resolve()
        if not folder.is_dir() or resolved in seen:
            continue
        seen.add(resolved)
        if resolved == shipped:
            # Shown as the user named it, but still the lowest layer.
            shipped_shown = str(folder)
            continue
        folders.append(str(folder))
    if shipped_shown is not None:
        return TemplateSet.from_folders([shipped_shown, *folders], shipped=False)
    return TemplateSet.from_folders(folders)
