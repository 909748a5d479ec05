"""Labels of states, events and ladder levels, in the report's language.

A report shows what the definition calls things (``承辦中``, ``簽收``,
``提交月度例會研判``); an unknown name is shown as it is.
"""

from __future__ import annotations

from workflow.definition.compiled import Definition
from workflow.definition.model import LocalText
from workflow.reports.names import Lang

__all__ = ["event_label", "level_label", "state_label"]

_ENGINE_STEPS: dict[str, LocalText] = {
    "start": LocalText(zh="發起", en="Raised"),
    "@joint_complete": LocalText(zh="會辦完成", en="Joint handling complete"),
    "@migrate": LocalText(zh="遷移至新版本", en="Migrated to a new version"),
    "@timeout": LocalText(zh="逾期未反饋", en="No reply by the deadline"),
    "@recalendar": LocalText(zh="按正式日歷重算時限", en="Due time recomputed"),
    "@escalate": LocalText(zh="督辦升級", en="Escalated"),
    "@skip": LocalText(zh="跳過督辦級別", en="Escalation level skipped"),
}


def _pick(text: LocalText | None, lang: Lang, fallback: str) -> str:
    if text is None:
        return fallback
    return text.zh if lang == "zh" else text.en


def state_label(definition: Definition | None, state: str, lang: Lang) -> str:
    """Return the state's label."""
    spec = definition.states.get(state) if definition is not None else None
    return _pick(spec.label if spec is not None else None, lang, state)


def level_label(definition: Definition | None, level: str | None, lang: Lang) -> str:
    """Return a ladder level's label ('—' for no level)."""
    if level is None:
        return "—"
    if definition is not None:
        ladders = [definition.spec.escalation]
        ladders += [state.escalation for state in definition.states.values()]
        for ladder in ladders:
            for spec in ladder.levels if ladder is not None else ():
                if spec.name == level:
                    return _pick(spec.label, lang, level)
    return level


def event_label(definition: Definition | None, event: str, lang: Lang) -> str:
    """Return an event's label: declared events, joint answers, the engine's own steps."""
    if definition is not None:
        for spec in definition.spec.events:
            if spec.name == event:
                return _pick(spec.label, lang, event)
        for state in definition.states.values():
            if state.joint is not None and state.joint.answer.name == event:
                return _pick(state.joint.answer.label, lang, event)
    kind, _, level = event.partition(":")
    if kind in _ENGINE_STEPS:
        base = _pick(_ENGINE_STEPS[kind], lang, kind)
        if not level:
            return base
        separator = ":" if lang == "zh" else ": "
        return f"{base}{separator}{level_label(definition, level, lang)}"
    return event
