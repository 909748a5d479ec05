"""Notification templates: found by name in ``_templates`` folders, checked, rendered sandboxed.

A template is a file ``<folder>/_templates/<name>.<locale>.j2`` (or
``<name>.j2`` for every locale) that defines two blocks, ``subject`` and
``body``. Authors pick a template by *name* in a definition's ``notify:``;
they never give a path, and a template cannot include, extend or import
another. The folder shipped with the engine (``definitions/_templates``)
is always the lowest layer, so the defaults ``event``, ``escalation``,
``review_agenda`` and ``digest`` exist in Chinese and English; a folder
given later replaces a name entirely (all its locales).

:class:`TemplateSet` holds the templates of a catalog: it checks them
(:meth:`TemplateSet.check`, run by ``workflow validate``), says which item
fields each reads (:meth:`TemplateSet.fields_used`, so a notification's
payload carries no more), and renders them
(:meth:`TemplateSet.render`) in the capped sandbox of
:mod:`workflow.definition.templates.sandbox`. :func:`context_for` (from
:mod:`workflow.definition.templates.context`) turns a stored payload into what a message
template sees, for one recipient and locale.
"""

from __future__ import annotations

import copy
import functools
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Any

from jinja2 import BaseLoader
from jinja2 import TemplateNotFound as JinjaTemplateNotFound
from jinja2.environment import Environment, Template

from workflow.definition.compiled import Definition
from workflow.definition.model import DEFAULT_TEMPLATES, DIGEST_TEMPLATE, NotifySpec, StateSpec
from workflow.definition.pydantic_errors import suggest
from workflow.definition.templates.analysis import (
    DIGEST_VARIABLES,
    MESSAGE_VARIABLES,
    Analysis,
    analyse,
)
from workflow.definition.templates.context import context_for, digest_context
from workflow.definition.templates.limits import DEFAULT_LIMITS, Limits
from workflow.definition.templates.sandbox import (
    SandboxEnvironment,
    compile_template,
    render_blocks,
)
from workflow.definition.yamlsource import Path
from workflow.errors import (
    Problem,
    TemplateError,
    TemplateNotFound,
)

__all__ = [
    "DEFAULT_TEMPLATES",
    "DIGEST_TEMPLATE",
    "NEUTRAL",
    "SHIPPED_TEMPLATES",
    "NotificationUse",
    "Rendered",
    "TemplateFile",
    "TemplateSet",
    "context_for",
    "digest_context",
    "notification_uses",
]

SHIPPED_TEMPLATES = FsPath(__file__).resolve().parents[3] / "definitions" / "_templates"
"""The templates shipped with the engine: the lowest layer of every template set."""

NEUTRAL = "*"
"""The locale of a ``<name>.j2`` file: it serves every locale."""

_FILE_NAME = re.compile(
    r"^(?P<name>[a-z][a-z0-9_]{0,62})(?:\.(?P<locale>[a-z]{2}(?:-[A-Z]{2})?))?\.j2$"
)
_MAX_FILE_BYTES = 64 * 1024


@dataclass(frozen=True)
class TemplateFile:
    """One template file: its name, its locale (:data:`NEUTRAL` for all), path and text."""

    name: str
    locale: str
    path: str
    source: str

    @property
    def key(self) -> str:
        """The name the sandbox's loader knows the file by: ``name.locale``."""
        return f"{self.name}.{self.locale}"


@dataclass(frozen=True)
class Rendered:
    """A rendered message: a one-line subject, a plain-text body, the locale used."""

    subject: str
    body: str
    locale: str


@dataclass(frozen=True)
class NotificationUse:
    """A ``notify:`` entry of a definition: where it is, its kind and its template."""

    path: Path
    """The data path of the entry (of its ``template`` key when it names one)."""
    kind: str
    """``event``, ``escalation`` or ``review``."""
    template: str


# -- the template set ----------------------------------------------------------------------


class _SetLoader(BaseLoader):
    """Resolves only ``name.locale`` keys of validated files; never a path."""

    def __init__(self, files: Mapping[str, TemplateFile]) -> None:
        self._files = files

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        """Return a validated file's text and path (for positions in errors)."""
        found = self._files.get(template)
        if found is None:
            raise JinjaTemplateNotFound(template)
        return found.source, found.path, lambda: True

    def load(
        self,
        environment: Environment,
        name: str,
        globals: Mapping[str, Any] | None = None,
    ) -> Template:
        """Compile a file after :func:`~.sandbox.harden` has guarded it."""
        source, path, _ = self.get_source(environment, name)
        return compile_template(environment, source, name, path or name, globals or {})


class TemplateSet:
    """The notification templates of a catalog, by name and locale.

    Build one with :meth:`from_folders` (or :meth:`shipped`). Problems found
    while reading the folders are kept and reported by :meth:`check`; a file
    that cannot be rendered is refused by :meth:`render` with the same
    message.
    """

    def __init__(
        self,
        files: Iterable[TemplateFile] = (),
        *,
        default_locale: str = "zh",
        limits: Limits = DEFAULT_LIMITS,
        problems: Iterable[Problem] = (),
    ) -> None:
        self.default_locale = default_locale
        self.limits = limits
        self._by_name: dict[str, dict[str, TemplateFile]] = {}
        for file in files:
            self._by_name.setdefault(file.name, {})[file.locale] = file
        self._read_problems = tuple(problems)
        self._environment = SandboxEnvironment(
            loader=_SetLoader({f.key: f for v in self._by_name.values() for f in v.values()})
        )

    @classmethod
    def from_folders(
        cls,
        folders: Iterable[str | os.PathLike[str]],
        *,
        shipped: bool = True,
        default_locale: str = "zh",
        limits: Limits = DEFAULT_LIMITS,
    ) -> TemplateSet:
        """Read template folders, later ones replacing earlier ones' names.

        With ``shipped`` (the default), the engine's own folder comes first.
        """
        layers = [os.fspath(f) for f in folders]
        if shipped:
            layers.insert(0, str(SHIPPED_TEMPLATES))
        by_name: dict[str, list[TemplateFile]] = {}
        problems: list[Problem] = []
        for folder in layers:
            found: dict[str, list[TemplateFile]] = {}
            for file in _read_folder(folder, problems):
                found.setdefault(file.name, []).append(file)
            by_name.update(found)
        return cls(
            (f for files in by_name.values() for f in files),
            default_locale=default_locale,
            limits=limits,
            problems=problems,
        )

    @classmethod
    def shipped(cls) -> TemplateSet:
        """Return the shipped templates alone (read once per process)."""
        return _shipped()

    def with_default_locale(self, locale: str) -> TemplateSet:
        """Return this set with another fallback locale (sharing files and environment).

        The dispatcher uses it so its configuration's ``default_locale``
        decides the language a message falls back to, whatever the catalog was
        loaded with.
        """
        if locale == self.default_locale:
            return self
        other = copy.copy(self)
        other.default_locale = locale
        return other

    # -- what there is ----------------------------------------------------------------------

    def names(self) -> tuple[str, ...]:
        """Return the template names, sorted."""
        return tuple(sorted(self._by_name))

    def has(self, name: str) -> bool:
        """Tell whether a template of this name exists (in any locale)."""
        return name in self._by_name

    def locales(self, name: str) -> tuple[str, ...]:
        """Return the locales a template has a file for (:data:`NEUTRAL` for ``name.j2``)."""
        return tuple(sorted(self._by_name.get(name, {})))

    def files(self, name: str | None = None) -> tuple[TemplateFile, ...]:
        """Return the files of one template, or of all, by name and locale."""
        names = [name] if name is not None else sorted(self._by_name)
        return tuple(
            self._by_name[n][locale]
            for n in names
            if n in self._by_name
            for locale in sorted(self._by_name[n])
        )

    def fields_used(self, name: str) -> frozenset[str] | None:
        """Return the ``item.data`` fields template ``name`` reads, over all its locales.

        None means it reads ``item.data`` as a whole (every field goes into the
        payload); an unknown name reads nothing.
        """
        fields: set[str] = set()
        for file in self.files(name):
            used = self._analysis(file).fields
            if used is None:
                return None
            fields |= used
        return frozenset(fields)

    def locale_for(self, name: str, wanted: str) -> str:
        """Return the locale a message for ``wanted`` is written in (asked, default, any).

        Build the template's context for this locale (:func:`context_for`), so
        the labels match the template's language.
        """
        return self._choose(name, wanted)[1]

    # -- checks -----------------------------------------------------------------------------

    def check(
        self,
        definitions: Iterable[Definition] = (),
        *,
        locate: Callable[[Definition, Path], tuple[str, int, int]] | None = None,
    ) -> list[Problem]:
        """Return every problem of the templates, and of their use by ``definitions``.

        Template files: syntax, the two blocks, forbidden constructs, unknown
        variables and attributes. Definitions: every ``notify:`` names a
        template that exists, and every ``item.data`` field a template reads
        (unless it tests for it) is a field of each workflow that uses it.
        ``locate`` maps a definition and a data path to a file position (the
        loader knows them); without it, problems point at the definition's file.
        """
        problems = list(self._read_problems)
        for file in self.files():
            problems.extend(self._analysis(file).problems)
        for definition in definitions:
            problems.extend(self._check_uses(definition, locate))
        return sorted(set(problems))

    def _check_uses(
        self,
        definition: Definition,
        locate: Callable[[Definition, Path], tuple[str, int, int]] | None,
    ) -> Iterator[Problem]:
        checked: set[str] = set()
        for use in notification_uses(definition):
            file, line, column = (
                locate(definition, use.path) if locate is not None else (definition.file, 1, 1)
            )
            if use.template == DIGEST_TEMPLATE:
                yield Problem(
                    file,
                    line,
                    column,
                    f"the {DIGEST_TEMPLATE!r} template lays out digests; name a message "
                    f"template (default: {DEFAULT_TEMPLATES[use.kind]!r})",
                )
            elif not self.has(use.template):
                hint = suggest(use.template, self.names()) or (
                    f"; templates: {', '.join(self.names())}"
                )
                yield Problem(
                    file,
                    line,
                    column,
                    f"no notification template {use.template!r} (add "
                    f"_templates/{use.template}.zh.j2 beside the definitions){hint}",
                )
            elif use.template not in checked:
                checked.add(use.template)
                yield from self._check_fields(definition, use.template)

    def _check_fields(self, definition: Definition, name: str) -> Iterator[Problem]:
        fields = sorted(definition.spec.fields)
        for file in self.files(name):
            for use in self._analysis(file).uses:
                if use.optional or use.field in fields:
                    continue
                hint = suggest(use.field, fields) or (
                    "; test it with `is defined` if only some workflows have it"
                )
                yield Problem(
                    file.path,
                    use.line,
                    use.column,
                    f"`item.data.{use.field}`: workflow {definition.id!r} (whose notifications "
                    f"use template {name!r}) has no field {use.field!r}{hint}",
                )

    def _analysis(self, file: TemplateFile) -> Analysis:
        variables = DIGEST_VARIABLES if file.name == DIGEST_TEMPLATE else MESSAGE_VARIABLES
        return _analyse(file.name, file.path, file.source, variables is DIGEST_VARIABLES)

    # -- rendering --------------------------------------------------------------------------

    def _choose(self, name: str, wanted: str) -> tuple[TemplateFile, str]:
        files = self._by_name.get(name)
        if not files:
            raise TemplateNotFound(name, self._by_name)
        chain = [wanted, wanted.split("-", maxsplit=1)[0], NEUTRAL, self.default_locale]
        chain += [self.default_locale.split("-")[0], *sorted(files)]
        for locale in chain:
            if locale in files:
                return files[locale], wanted if locale == NEUTRAL else locale
        raise TemplateNotFound(name, self._by_name)  # unreachable: files is not empty

    def render(self, name: str, locale: str, context: Mapping[str, Any]) -> Rendered:
        """Render template ``name`` for ``locale`` (falling back: default locale, then any).

        ``context`` is what :func:`context_for` (or :func:`digest_context`)
        built. Every failure is a :class:`~workflow.errors.TemplateError`
        naming the template file and line.
        """
        file, used = self._choose(name, locale)
        fatal = self._analysis(file).fatal
        if fatal is not None:
            raise type(fatal)(fatal.message, template=name, file=file.path, line=fatal.line)
        template: Template | None = None
        try:
            template = self._environment.get_template(file.key)
            blocks = render_blocks(template, context, self.limits)
        except TemplateError as error:
            error.locate(template=name, file=file.path, line=_line_of(error, file, template))
            raise
        subject = " ".join(blocks["subject"].split())
        body = "\n".join(line.rstrip() for line in blocks["body"].strip("\n").splitlines())
        return Rendered(subject=subject, body=body, locale=used)


@functools.cache
def _shipped() -> TemplateSet:
    return TemplateSet.from_folders([])


_ANALYSIS_ENVIRONMENT = SandboxEnvironment()


@functools.lru_cache(maxsize=256)
def _analyse(name: str, path: str, source: str, digest: bool) -> Analysis:
    """Analyse a file once per content (catalogs are loaded often; files rarely change)."""
    variables = DIGEST_VARIABLES if digest else MESSAGE_VARIABLES
    analysis, _tree = analyse(
        _ANALYSIS_ENVIRONMENT, name=name, path=path, source=source, variables=variables
    )
    return analysis


def _read_folder(folder: str, problems: list[Problem]) -> Iterator[TemplateFile]:
    base = FsPath(folder)
    if not base.is_dir():
        problems.append(Problem(folder, 1, 1, "no such template folder"))
        return
    for entry in sorted(base.iterdir()):
        if entry.suffix != ".j2":
            continue
        shown = os.path.join(folder, entry.name)
        match = _FILE_NAME.match(entry.name)
        if match is None or not entry.is_file():
            problems.append(
                Problem(
                    shown,
                    1,
                    1,
                    "not a template file name: expected NAME.LOCALE.j2 or NAME.j2 (NAME: "
                    "lower-case letters, digits and _, starting with a letter; LOCALE: zh, "
                    "en, zh-TW, ...)",
                )
            )
            continue
        data = entry.read_bytes()
        if len(data) > _MAX_FILE_BYTES:
            problems.append(
                Problem(shown, 1, 1, f"a template file may hold at most {_MAX_FILE_BYTES:,} bytes")
            )
            continue
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            problems.append(
                Problem(shown, 1, 1, f"template files are UTF-8; byte {error.start} is not")
            )
            continue
        yield TemplateFile(match["name"], match["locale"] or NEUTRAL, shown, text)


def _line_of(error: BaseException, file: TemplateFile, template: Template | None) -> int | None:
    """Return the template line of the innermost template frame in the error's traceback."""
    line = None
    for raised in (error, error.__cause__):
        trace = raised.__traceback__ if raised is not None else None
        while trace is not None:
            if template is not None and trace.tb_frame.f_code.co_filename == file.path:
                line = template.get_corresponding_lineno(trace.tb_lineno)
            trace = trace.tb_next
        if line is not None:
            break
    return line


# -- notification uses of a definition --------------------------------------------------------


def notification_uses(definition: Definition) -> Iterator[NotificationUse]:
    """Yield every ``notify:`` entry of a definition with the template it uses."""
    spec = definition.spec
    for index, event in enumerate(spec.events):
        yield from _uses(("events", index, "notify"), event.notify, "event")
    if spec.escalation is not None:
        for index, level in enumerate(spec.escalation.levels):
            yield from _uses(("escalation", "levels", index, "notify"), level.notify, "escalation")
    yield from _state_uses(("states",), spec.states)
    for name, review in spec.reviews.items():
        yield from _uses(("reviews", name, "notify"), review.notify, "review")


def _state_uses(path: Path, states: Mapping[str, StateSpec] | None) -> Iterator[NotificationUse]:
    for name, state in (states or {}).items():
        here = (*path, name)
        if state.escalation is not None:
            for index, level in enumerate(state.escalation.levels):
                where = (*here, "escalation", "levels", index, "notify")
                yield from _uses(where, level.notify, "escalation")
        yield from _state_uses((*here, "states"), state.states)


def _uses(path: Path, notify: Sequence[NotifySpec], kind: str) -> Iterator[NotificationUse]:
    for index, entry in enumerate(notify):
        if entry.template is None:
            yield NotificationUse((*path, index), kind, DEFAULT_TEMPLATES[kind])
        else:
            yield NotificationUse((*path, index, "template"), kind, entry.template)
