"""Rendering for the command line: aligned tables, key/value blocks, labels and JSON.

People get tables whose columns line up even with Chinese labels (a CJK
character takes two terminal columns); machines get JSON (``--json``), which
is the engine's value objects as plain data, with times in ISO 8601.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from workflow.errors import WorkflowError
from workflow.textlayout import display_width, table
from workflow.textlayout import pad as _pad

if TYPE_CHECKING:
    from workflow.definition.compiled import Definition
    from workflow.definition.model import LocalText

__all__ = [
    "CommandLineError",
    "Lang",
    "branch_text",
    "display_width",
    "dumps",
    "event_label",
    "field_label",
    "jsonable",
    "key_values",
    "shorten",
    "state_label",
    "table",
    "timestamp",
    "value_text",
]

Lang = Literal["en", "zh"]

# Labels of the steps the engine itself writes (they are not declared events).
_ENGINE_STEPS: dict[str, tuple[str, str]] = {
    "start": ("Start", "發起"),
    "@joint_complete": ("Joint handling complete", "會辦完成"),
    "@migrate": ("Migrated to a new version", "遷移至新版本"),
    "@timeout": ("No reply by the deadline, counted as the definition says", "逾期未反饋,按規則計"),
    "@recalendar": ("Due time recomputed on the official calendar", "按正式日歷重算時限"),
}
_LEVEL_STEPS: dict[str, tuple[str, str]] = {
    "@escalate": ("Escalated", "督辦升級"),
    "@skip": ("Escalation level skipped after downtime", "停機期間跳過的督辦級別"),
}


class CommandLineError(WorkflowError):
    """A value given on the command line is unusable; ``exit_code`` says how the CLI exits.

    The CLI's error wrapper reads ``exit_code`` (2: the command line is wrong,
    1: the input data is wrong, 3: a named file does not exist).
    """

    def __init__(self, message: str, exit_code: int = 2) -> None:
        self.exit_code = exit_code
        super().__init__(message)


# -- labels -------------------------------------------------------------------------------


def local(text: LocalText | None, lang: Lang, fallback: str) -> str:
    """Return ``text`` in ``lang``, or ``fallback`` when there is no text."""
    if text is None:
        return fallback
    return text.zh if lang == "zh" else text.en


def state_label(definition: Definition, state: str | None, lang: Lang) -> str:
    """Return a state's label (the state's name if the definition does not know it)."""
    if state is None:
        return "—"
    spec = definition.states.get(state)
    return local(spec.label if spec else None, lang, state)


def event_label(definition: Definition, event: str, lang: Lang) -> str:
    """Return an event's label: declared events, joint answers, or the engine's own steps."""
    for spec in definition.spec.events:
        if spec.name == event:
            return local(spec.label, lang, event)
    for state in definition.states.values():
        if state.joint is not None and state.joint.answer.name == event:
            return local(state.joint.answer.label, lang, event)
    if event in _ENGINE_STEPS:
        en, zh = _ENGINE_STEPS[event]
        return zh if lang == "zh" else en
    kind, _, level = event.partition(":")
    if kind in _LEVEL_STEPS:
        en, zh = _LEVEL_STEPS[kind]
        name = _level_label(definition, level, lang)
        return f"{zh}:{name}" if lang == "zh" else f"{en}: {name}"
    return event


def _level_label(definition: Definition, level: str, lang: Lang) -> str:
    ladders = [definition.spec.escalation]
    ladders += [state.escalation for state in definition.states.values()]
    for ladder in ladders:
        for spec in ladder.levels if ladder is not None else ():
            if spec.name == level:
                return local(spec.label, lang, level)
    return level


def field_label(definition: Definition, name: str, lang: Lang) -> str:
    """Return an item field's label, or its name."""
    spec = definition.spec.fields.get(name)
    return local(spec.label if spec else None, lang, name)


def value_text(definition: Definition, name: str, value: Any, lang: Lang) -> str:
    """Render a field's value for people: option labels for enums, lists joined."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return ("是" if value else "否") if lang == "zh" else ("yes" if value else "no")
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) if value else "—"
    spec = definition.spec.fields.get(name)
    if spec is not None and spec.options and isinstance(value, str) and value in spec.options:
        return f"{local(spec.options[value], lang, value)} ({value})"
    return str(value)


def branch_text(unit: str, status: str, verdict: str | None, answered_by: str | None) -> str:
    """Describe one joint-handling branch in a line."""
    if status == "answered":
        return f"{unit}: answered ({verdict}) by {answered_by}"
    return f"{unit}: {status}"


# -- text layout --------------------------------------------------------------------------


def shorten(text: str, width: int) -> str:
    """Collapse whitespace and cut ``text`` to ``width`` columns, marking a cut with '…'."""
    flat = " ".join(text.split())
    if display_width(flat) <= width:
        return flat
    kept: list[str] = []
    used = 0
    for ch in flat:
        size = display_width(ch)
        if used + size > width - 1:
            break
        kept.append(ch)
        used += size
    return "".join(kept) + "…"


def key_values(pairs: Iterable[tuple[str, Any]]) -> str:
    """Render ``key  value`` lines with the values aligned."""
    items = [(k, " ".join(str(v).split())) for k, v in pairs]
    width = max((display_width(k) for k, _ in items), default=0)
    return "\n".join(f"{_pad(k, width)}  {v}".rstrip() for k, v in items)


def timestamp(moment: dt.datetime | None, zone: dt.tzinfo | None = None) -> str:
    """Render a time to the minute, in ``zone`` (default: the machine's local zone)."""
    if moment is None:
        return "—"
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


# -- JSON ---------------------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """Turn the engine's value objects into JSON-ready data (times as ISO 8601)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, frozenset | set):
        return sorted(jsonable(v) for v in value)
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def dumps(value: Any) -> str:
    """Return ``value`` as indented JSON, keeping Chinese text readable."""
    return json.dumps(jsonable(value), ensure_ascii=False, indent=2)
