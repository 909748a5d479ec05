"""Draw a definition's lifecycle as Mermaid, Graphviz DOT or SVG.

The three outputs carry the same content: every state with its label in the
chosen language and its time limit (⏱), groups as nested boxes, every event
as an edge labelled with who may fire it, the automatic exits of
joint-handling states, and the escalation ladders (⚠): a state's own ladder
on the state, the workflow's ladder once, in a legend box. Output is
deterministic (declaration order throughout, no set iteration), so diagrams
can be committed and diffed next to the YAML.

Given an :class:`ItemPath` (the moves of one item's history), the drawing
also highlights the path the item took: the states it visited and the one it
is in, and the transitions it made, each label numbered with the steps that
took it (``▶ 1, 4``). Mermaid state diagrams have no ``linkStyle``, so there
the numbered labels carry the order and ``classDef`` colours the states; DOT
colours and thickens the edges too.

Events that share a source and a target are drawn as one edge with one label
line per event: a 15-state lifecycle otherwise turns into a bundle of
overlapping arrows that nobody can read.
"""

from __future__ import annotations

import html
import shutil
import subprocess
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from workflow.errors import WorkflowError

if TYPE_CHECKING:
    # Only for annotations: drawing must not drag in the expression compiler.
    from workflow.definition.compiled import Definition
    from workflow.definition.model import (
        Choice,
        DeadlineSpec,
        DeadlineUnit,
        EscalationSpec,
        EventSpec,
        JointSpec,
        LevelSpec,
        LocalText,
        StateSpec,
    )

__all__ = [
    "FORMATS",
    "GraphvizFailed",
    "GraphvizMissing",
    "ItemPath",
    "PathStep",
    "render_svg",
    "to_dot",
    "to_mermaid",
]

FORMATS = ("mermaid", "dot", "svg")
"""The diagram formats this module produces, as a CLI offers them."""

_CONDITION_MAX = 40
_STDERR_LINES = 10
_FONT = "Helvetica,Arial,sans-serif"
_START = "__start__"  # identifiers start with a letter, so this cannot clash with a state
_LADDER = "Ladder"  # identifiers are lower-case, so this cannot clash with a state either
_VISITED_FILL, _VISITED_LINE = "#fff3bf", "#f08c00"
_CURRENT_FILL, _CURRENT_LINE = "#ffd43b", "#e8590c"

_TEXTS: Mapping[str, Mapping[str, str]] = {
    "en": {
        "working_days": "{n} working day{s}",
        "calendar_days": "{n} calendar day{s}",
        "hours": "{n} h",
        "deadline": "⏱ {deadline}",
        "short_working_days": "{n} wd",
        "short_calendar_days": "{n} d",
        "short_hours": "{n} h",
        "ladder": "⚠ escalation ladder",
        "ladder_units": "⚠ escalation ladder (in each time limit's unit)",
        "step": "▶ {steps} ",
        "clock_from": " (clock from {event})",
        "paused": "⏸ clock paused",
        "joint": "joint: {rule}",
        "all": "all",
        "any": "any",
        "at_least": "at least {n}",
        "lead_and_quorum": "lead + {n}",
        "per_branch": "{deadline} per branch",
        "complete": "joint complete",
        "reason": " ✎ reason",
        "if": " (if {condition})",
        "else": " (else)",
        "answer": "answer: {event} [{role}]",
    },
    "zh": {
        "working_days": "{n} 個工作日",
        "calendar_days": "{n} 個自然日",
        "hours": "{n} 小時",
        "deadline": "⏱ {deadline}",
        "short_working_days": "{n} 工作日",
        "short_calendar_days": "{n} 天",
        "short_hours": "{n} 小時",
        "ladder": "⚠ 督辦階梯",
        "ladder_units": "⚠ 督辦階梯（按各時限的單位）",  # noqa: RUF001 - Chinese punctuation
        "step": "▶ {steps} ",
        "clock_from": "（自 {event} 起算）",  # noqa: RUF001 - Chinese punctuation
        "paused": "⏸ 暫停計時",
        "joint": "會辦：{rule}",  # noqa: RUF001 - Chinese punctuation
        "all": "全部",
        "any": "任一",
        "at_least": "至少 {n} 家",
        "lead_and_quorum": "牽頭 + {n} 家",
        "per_branch": "每家 {deadline}",
        "complete": "會辦完成",
        "reason": " ✎ 需填理由",
        "if": "（若 {condition}）",  # noqa: RUF001 - Chinese punctuation
        "else": "（否則）",  # noqa: RUF001 - Chinese punctuation
        "answer": "答復：{event} [{role}]",  # noqa: RUF001 - Chinese punctuation
    },
}

# Mermaid has no escaping inside labels, so characters that end a label, start
# a comment or open markup are swapped for lookalikes instead.
_MERMAID_SAFE = str.maketrans(
    {
        ":": "\N{MODIFIER LETTER COLON}",
        '"': "\N{DOUBLE PRIME}",
        ";": "\N{FULLWIDTH SEMICOLON}",
        "#": "\N{FULLWIDTH NUMBER SIGN}",
        "&": "\N{FULLWIDTH AMPERSAND}",
        "<": "\N{SINGLE LEFT-POINTING ANGLE QUOTATION MARK}",
        ">": "\N{SINGLE RIGHT-POINTING ANGLE QUOTATION MARK}",
        "{": "(",
        "}": ")",
        "`": "'",
    }
    | dict.fromkeys("\n\r\t", " ")
)


class GraphvizMissing(WorkflowError):
    """The Graphviz ``dot`` program, needed for SVG output, is not installed."""

    exit_code = 4
    """The CLI's exit status for a missing or failing external tool."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        super().__init__(
            f"Graphviz program {binary!r} not found; install Graphviz, "
            "e.g. apt-get install graphviz (or brew install graphviz), or pick another format"
        )


class GraphvizFailed(WorkflowError):
    """``dot`` ran but failed or timed out; ``stderr`` holds the start of what it said."""

    exit_code = 4
    """The CLI's exit status for a missing or failing external tool."""

    def __init__(self, message: str, stderr: str = "", returncode: int | None = None) -> None:
        self.stderr = stderr
        self.returncode = returncode
        super().__init__(f"{message}: {stderr}" if stderr else message)


class HistoryRow(Protocol):
    """What drawing a path reads of a history row (:class:`workflow.HistoryEntry` has it)."""

    @property
    def seq(self) -> int:
        """The row's number in the item's history, from 1."""

    @property
    def event(self) -> str:
        """The event, or an engine move (``@joint_complete``, ``@migrate``, …)."""

    @property
    def from_state(self) -> str | None:
        """The state left; None for the row that started the item."""

    @property
    def to_state(self) -> str:
        """The state entered."""


@dataclass(frozen=True)
class PathStep:
    """One row of an item's history as a move: its number, event, and the states it joins."""

    seq: int
    event: str
    source: str | None
    target: str


@dataclass(frozen=True)
class ItemPath:
    """The moves one item made, oldest first, to be highlighted on its lifecycle."""

    steps: tuple[PathStep, ...]

    @classmethod
    def from_history(cls, rows: Iterable[HistoryRow]) -> ItemPath:
        """Return the path of an item's history rows (``Engine.history``)."""
        return cls(
            tuple(PathStep(row.seq, row.event, row.from_state, row.to_state) for row in rows)
        )

    @property
    def current(self) -> str | None:
        """The state the item is in (the last row's), or None for an empty history."""
        return self.steps[-1].target if self.steps else None

    def visited(self) -> tuple[str, ...]:
        """Return the states the item has been in, in the order it first entered them."""
        return tuple(dict.fromkeys(step.target for step in self.steps))


@dataclass(frozen=True)
class _Edge:
    """One arrow: every event (or joint completion) from ``source`` to ``target``."""

    source: str
    target: str
    labels: tuple[str, ...]
    joint: bool
    events: tuple[frozenset[str], ...] = ()
    """The events each label stands for (several events may read alike)."""


class _Drawing:
    """The language-chosen texts of one definition, shared by both renderers."""

    def __init__(self, definition: Definition, lang: str, path: ItemPath | None = None) -> None:
        if lang not in _TEXTS:
            raise ValueError(f"unknown diagram language {lang!r}; use one of: en, zh")
        self.definition = definition
        self.lang = lang
        self.texts = _TEXTS[lang]
        self.edges: list[_Edge] = []
        self.group_loops: dict[str, list[str]] = {}
        for edge in self._collect_edges():
            # Mermaid fails on (or silently drops) self-loops of composite states
            # and Graphviz cannot loop a cluster at all, so a group's internal
            # events are listed in the group's own label instead.
            if edge.source == edge.target and self.is_group(edge.source):
                loops = self.group_loops.setdefault(edge.source, [])
                loops.extend(f"↻ {label}" for label in edge.labels)
            else:
                self.edges.append(edge)
        self.path = path
        # Per edge, per label: the history rows that took it.
        self.taken: dict[int, dict[int, list[int]]] = {}
        self.started = False
        for step in path.steps if path else ():
            if step.source is None:
                self.started = True
                continue
            found = self._edge_of(step)
            if found is not None:
                at_edge, at_label = found
                self.taken.setdefault(at_edge, {}).setdefault(at_label, []).append(step.seq)

    def _edge_of(self, step: PathStep) -> tuple[int, int] | None:
        """Return the edge and label a history step took, if it is drawn."""
        states = self.definition.states
        if step.source is None or step.source not in states or step.target not in states:
            return None
        sources = (step.source, *self.definition.ancestors(step.source))
        targets = (step.target, *self.definition.ancestors(step.target))
        for index, edge in enumerate(self.edges):
            if edge.source not in sources or edge.target not in targets:
                continue
            for label, names in enumerate(edge.events):
                # Joint completions are the engine's own moves (named `@…`).
                if step.event in names or (edge.joint and step.event.startswith("@")):
                    return index, label
        return None

    def edge_labels(self, index: int) -> list[tuple[str, bool]]:
        """Return an edge's label lines, numbered when taken, each with whether it was."""
        taken = self.taken.get(index, {})
        lines = []
        for number, label in enumerate(self.edges[index].labels):
            seqs = taken.get(number)
            steps = self.text("step", steps=", ".join(map(str, seqs))) if seqs else ""
            lines.append((steps + label, bool(seqs)))
        return lines

    def short(self, unit: DeadlineUnit, amount: int) -> str:
        return self.text(f"short_{unit}", n=amount)

    def level(self, level: LevelSpec, unit: DeadlineUnit | None) -> str:
        """Return one ladder level with its place: ``warning -1 wd``, ``reminder 0``."""
        name = level.label.zh if self.lang == "zh" else level.name.replace("_", " ")
        amount = level.before if level.before is not None else (level.after or 0)
        sign = "" if amount == 0 else ("\N{MINUS SIGN}" if level.before is not None else "+")
        chosen = level.unit or unit
        offset = self.short(chosen, amount) if chosen and amount else str(amount)
        return f"{name} {sign}{offset}"

    def own_ladder(self, spec: StateSpec) -> str:
        """Return a state's own ladder on one line (empty when it climbs the workflow's)."""
        if spec.escalation is None:
            return ""
        # Without a deadline of its own, the ladder climbs the branches' deadline.
        clock = spec.deadline or (spec.joint.deadline if spec.joint else None)
        unit = clock.unit if clock else None
        return "⚠ " + " · ".join(self.level(lv, unit) for lv in spec.escalation.levels)

    def legend(self) -> tuple[str, ...]:
        """Return the workflow ladder's legend lines: a heading, then one line per level."""
        ladder: EscalationSpec | None = self.definition.spec.escalation
        if ladder is None:
            return ()
        units = {
            spec.deadline.unit
            for spec in self.definition.states.values()
            if spec.deadline is not None and spec.escalation is None
        }
        unit = next(iter(units)) if len(units) == 1 else None
        mixed = unit is None and any(level.unit is None for level in ladder.levels)
        heading = self.text("ladder_units" if mixed else "ladder")
        return (heading, *(self.level(level, unit) for level in ladder.levels))

    def text(self, key: str, **values: object) -> str:
        return self.texts[key].format(**values)

    def pick(self, text: LocalText) -> str:
        return text.zh if self.lang == "zh" else text.en

    def local(self, state: str) -> str:
        """Return the label of ``state`` in the chosen language."""
        spec = self.definition.states.get(state)
        return self.pick(spec.label) if spec else state

    def title(self) -> str:
        return f"{self.pick(self.definition.spec.title)} · v{self.definition.spec.version}"

    def children(self, group: str | None) -> list[str]:
        return [name for name, parent in self.definition.parents.items() if parent == group]

    def is_group(self, state: str) -> bool:
        return state in self.definition.states and self.definition.is_group(state)

    def deadline(self, deadline: DeadlineSpec) -> str:
        text = self.text(deadline.unit, n=deadline.amount, s="" if deadline.amount == 1 else "s")
        if deadline.start_event:
            text += self.text("clock_from", event=deadline.start_event)
        return text

    def joint_rule(self, joint: JointSpec) -> str:
        rule = self.text(joint.complete_when.rule, n=joint.complete_when.count or 1)
        text = self.text("joint", rule=rule)
        if joint.deadline:
            text += ", " + self.text("per_branch", deadline=self.deadline(joint.deadline))
        return text

    def info(self, spec: StateSpec) -> str:
        """Return the deadline, clock and joint-handling facts of a state, on one line."""
        parts = (
            [self.text("deadline", deadline=self.deadline(spec.deadline))] if spec.deadline else []
        )
        if spec.pauses_clock:
            parts.append(self.text("paused"))
        if spec.joint:
            parts.append(self.joint_rule(spec.joint))
        return " · ".join(parts)

    def roles(self, names: list[str]) -> str:
        found = []
        for name in names:
            role = self.definition.spec.roles.get(name)
            found.append(self.pick(role.label) if role and role.label else name)
        return ", ".join(found)

    def answer_note(self, joint: JointSpec) -> str:
        answer = joint.answer
        text = self.text("answer", event=self.pick(answer.label), role=self.roles([joint.role]))
        return text + (self.text("reason") if answer.reason == "required" else "")

    def event_label(self, event: EventSpec) -> str:
        text = f"{self.pick(event.label)} [{self.roles(event.roles)}]"
        return text + (self.text("reason") if event.reason == "required" else "")

    def condition(self, choice: Choice, choices: list[Choice]) -> str:
        """Return the " (if …)" suffix of one choice, or "(else)" for a fallback."""
        if choice.when:
            condition = " ".join(choice.when.split())
            if len(condition) > _CONDITION_MAX:
                condition = condition[: _CONDITION_MAX - 1].rstrip() + "…"
            return self.text("if", condition=condition)
        if any(other.when for other in choices):
            return self.text("else")
        return ""

    def _collect_edges(self) -> list[_Edge]:
        grouped: dict[tuple[str, str, bool], dict[str, set[str]]] = {}

        def add(source: str, target: str, label: str, event: str, *, joint: bool = False) -> None:
            labels = grouped.setdefault((source, target, joint), {})
            labels.setdefault(label, set()).add(event)

        for event in self.definition.spec.events:
            base = self.event_label(event)
            for source in event.from_:
                if event.to is None:
                    add(source, source, base, event.name)
                for choice in event.to or ():
                    label = base + self.condition(choice, event.to or [])
                    add(source, choice.state, label, event.name)
        for name, spec in self.definition.states.items():
            if spec.joint:
                for choice in spec.joint.then:
                    suffix = self.condition(choice, spec.joint.then)
                    add(name, choice.state, self.text("complete") + suffix, "", joint=True)
        return [
            _Edge(s, t, tuple(labels), joint, tuple(frozenset(e) for e in labels.values()))
            for (s, t, joint), labels in grouped.items()
        ]


def _mermaid_text(text: str) -> str:
    return text.translate(_MERMAID_SAFE).strip()


def to_mermaid(definition: Definition, *, lang: str = "en", path: ItemPath | None = None) -> str:
    """Return the lifecycle as a Mermaid ``stateDiagram-v2``.

    Groups become composite states, each leaf shows its label and time limit
    (⏱), every event is an edge ``event [roles]`` (with "✎ reason" when a
    reason is required and "(if …)" for conditional choices), internal events
    are self-loops (listed with "↻" in the label for groups) and joint-handling
    states get their completion edges and a note naming the answer event. A
    state's own escalation ladder is listed on it (⚠), the workflow's ladder
    in a legend box. With ``path``, the states the item visited get the class
    ``visited`` (the one it is in, ``current``) and each transition it took is
    numbered with its history rows (``▶ 2, 5``). ``lang`` picks the labels:
    ``"en"`` or ``"zh"``.
    """
    drawing = _Drawing(definition, lang, path)
    spec = definition.spec
    # A YAML double-quoted scalar, so that a title starting with "[" or "*" stays text.
    heading = _mermaid_text(drawing.title()).replace("\\", "/")
    lines = ["---", f'title: "{heading}"', "---", "stateDiagram-v2", f"    [*] --> {spec.initial}"]

    # Mermaid moves a state into the last composite block that mentions it, so
    # an edge goes inside a block only when both ends are declared right there;
    # every other edge is written at the top level, where mentions move nothing.
    scoped: dict[str | None, list[int]] = {}
    for index, edge in enumerate(drawing.edges):
        parent = definition.parents.get(edge.source)
        scope = parent if parent == definition.parents.get(edge.target) else None
        scoped.setdefault(scope, []).append(index)

    def emit(group: str | None, depth: int) -> Iterator[str]:
        pad = "    " * depth
        for name in drawing.children(group):
            state = definition.states[name]
            parts = [
                drawing.local(name),
                drawing.info(state),
                drawing.own_ladder(state),
                *drawing.group_loops.get(name, ()),
            ]
            label = "<br/>".join(_mermaid_text(part) for part in parts if part)
            if drawing.is_group(name):
                yield f'{pad}state "{label}" as {name} {{'
                yield from emit(name, depth + 1)
                yield f"{pad}}}"
            else:
                yield f'{pad}state "{label}" as {name}'
            if state.joint:
                note = _mermaid_text(drawing.answer_note(state.joint))
                yield f"{pad}note right of {name} : {note}"
        for index in scoped.get(group, ()):
            edge = drawing.edges[index]
            text = "<br/>".join(_mermaid_text(label) for label, _ in drawing.edge_labels(index))
            yield f"{pad}{edge.source} --> {edge.target} : {text}"

    lines.extend(emit(None, 1))
    lines.extend(f"    {name} --> [*]" for name in definition.final_states())
    legend = drawing.legend()
    if legend:
        text = "<br/>".join(_mermaid_text(line) for line in legend)
        lines.append(f'    state "{text}" as {_LADDER}')
        lines.append("    classDef ladder fill:#f8f9fa,stroke:#adb5bd,stroke-dasharray:4 4")
        lines.append(f"    class {_LADDER} ladder")
    if path is not None:
        lines.extend(_mermaid_path(definition, path))
    return "\n".join(lines) + "\n"


def _mermaid_path(definition: Definition, path: ItemPath) -> list[str]:
    """Return the class lines that colour an item's visited and current states."""
    current = path.current
    # Mermaid cannot style a composite state, and items are only ever in leaves.
    visited = [
        name
        for name in path.visited()
        if name in definition.states and not definition.is_group(name) and name != current
    ]
    lines = [
        f"    classDef visited fill:{_VISITED_FILL},stroke:{_VISITED_LINE},stroke-width:2px",
        f"    classDef current fill:{_CURRENT_FILL},stroke:{_CURRENT_LINE},stroke-width:3px",
    ]
    if visited:
        lines.append(f"    class {','.join(visited)} visited")
    if current is not None and current in definition.states:
        lines.append(f"    class {current} current")
    return lines


def _dot_id(name: str) -> str:
    """Quote ``name`` as a DOT id, escaping what would end or break the string."""
    escaped = name.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\r", " ").replace("\n", "\\n") + '"'


def _html(text: str) -> str:
    """Escape ``text`` for a Graphviz HTML-like label (quotes too, to be safe in attrs)."""
    return " ".join(html.escape(text, quote=False).replace('"', "&quot;").split())


def _html_label(title: str, *details: str) -> str:
    """Return an HTML-like label: ``title``, then each non-empty detail line in small print."""
    small = "".join(f'<BR/><FONT POINT-SIZE="10">{_html(line)}</FONT>' for line in details if line)
    return f"<{_html(title)}{small}>"


def to_dot(definition: Definition, *, lang: str = "en", path: ItemPath | None = None) -> str:
    """Return the lifecycle as a Graphviz DOT ``digraph`` (left to right).

    States are rounded boxes (final states double-bordered) with their time
    limits (⏱) and own ladders (⚠), groups are clusters, the initial state is
    pointed at by a small dot, events are labelled edges (group-wide events
    leave the cluster border), internal events are self-loops (listed with
    "↻" in the cluster label for groups), joint completions are dashed and
    the workflow's ladder is a note-shaped legend. With ``path``, visited
    states are filled, the current one more strongly, and the transitions the
    item took are coloured, thick and numbered with their history rows.
    """
    drawing = _Drawing(definition, lang, path)
    spec = definition.spec
    lines = [
        f"digraph {_dot_id(spec.id)} {{",
        f'    graph [rankdir=LR, compound=true, charset="UTF-8", fontname="{_FONT}", '
        f"labelloc=t, label={_html_label(drawing.title())}];",
        f'    node [shape=box, style=rounded, fontname="{_FONT}", fontsize=12];',
        f'    edge [fontname="{_FONT}", fontsize=10];',
        f'    {_dot_id(_START)} [shape=point, width=0.15, label=""];',
    ]

    visited = set(path.visited()) if path else set()
    current = path.current if path else None

    def highlight(name: str) -> str:
        if name == current:
            return (
                f', style="rounded,filled,bold", fillcolor="{_CURRENT_FILL}", '
                f'color="{_CURRENT_LINE}", penwidth=3'
            )
        if name in visited:
            return f', style="rounded,filled", fillcolor="{_VISITED_FILL}", color="{_VISITED_LINE}"'
        return ""

    def emit(group: str | None, depth: int) -> Iterator[str]:
        pad = "    " * depth
        for name in drawing.children(group):
            state = definition.states[name]
            info = drawing.info(state)
            if drawing.is_group(name):
                loops = drawing.group_loops.get(name, ())
                ladder = drawing.own_ladder(state)
                yield f"{pad}subgraph {_dot_id('cluster_' + name)} {{"
                yield f"{pad}    label={_html_label(drawing.local(name), info, ladder, *loops)};"
                yield f'{pad}    style=rounded; color="#777777";'
                yield from emit(name, depth + 1)
                yield f"{pad}}}"
                continue
            final = ", peripheries=2" if state.final else ""
            label = _html_label(drawing.local(name), info, drawing.own_ladder(state))
            yield f"{pad}{_dot_id(name)} [label={label}{final}{highlight(name)}];"
            if state.joint:
                note = _html_label(drawing.answer_note(state.joint))
                yield f"{pad}{_dot_id('__note__' + name)} [shape=note, fontsize=10, label={note}];"

    lines.extend(emit(None, 1))

    def anchor(state: str) -> str:
        # Graphviz edges join nodes only; a group is reached through its first
        # leaf with ltail/lhead clipping the arrow at the cluster border.
        return definition.leaves_under(state)[0] if drawing.is_group(state) else state

    legend = drawing.legend()
    if legend:
        lines.append(
            f"    {_dot_id(_LADDER)} [shape=note, fontsize=10, style=dashed, "
            f'color="#adb5bd", label={_html_label(*legend)}];'
        )
    taken_style = f', color="{_CURRENT_LINE}", fontcolor="{_CURRENT_LINE}", penwidth=2.5'
    start_style = f" [{taken_style[2:]}]" if drawing.started else ""
    lines.append(f"    {_dot_id(_START)} -> {_dot_id(anchor(spec.initial))}{start_style};")
    for name, state in definition.states.items():
        if state.joint and not drawing.is_group(name):
            note = _dot_id("__note__" + name)
            lines.append(f"    {_dot_id(name)} -> {note} [style=dotted, arrowhead=none];")
    for index, edge in enumerate(drawing.edges):
        shown = [
            f"<B>{_html(label)}</B>" if taken else _html(label)
            for label, taken in drawing.edge_labels(index)
        ]
        attrs = [f"label=<{'<BR/>'.join(shown)}>"]
        if drawing.is_group(edge.source) and edge.source not in definition.ancestors(edge.target):
            attrs.append(f"ltail={_dot_id('cluster_' + edge.source)}")
        if drawing.is_group(edge.target) and edge.target not in definition.ancestors(edge.source):
            attrs.append(f"lhead={_dot_id('cluster_' + edge.target)}")
        if edge.joint:
            attrs.append("style=dashed")
        if index in drawing.taken:
            attrs.append(taken_style[2:])
        tail, head = _dot_id(anchor(edge.source)), _dot_id(anchor(edge.target))
        lines.append(f"    {tail} -> {head} [{', '.join(attrs)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_svg(dot_source: str, *, dot_binary: str | None = None, timeout: float = 30.0) -> bytes:
    """Render DOT source to SVG with Graphviz ``dot -Tsvg`` and return the SVG bytes.

    ``dot_binary`` is the program to run (a name looked up on ``PATH`` or a
    path); by default ``dot`` on ``PATH``. Raises :class:`GraphvizMissing` when
    it cannot be found or started and :class:`GraphvizFailed` when it exits
    with an error or runs longer than ``timeout`` seconds.
    """
    wanted = dot_binary or "dot"
    binary = shutil.which(wanted)
    if binary is None:
        raise GraphvizMissing(wanted)
    try:
        # A fixed argument list and no shell: the DOT text only ever reaches stdin.
        completed = subprocess.run(  # noqa: S603
            [binary, "-Tsvg"],
            input=dot_source.encode("utf-8"),
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise GraphvizFailed(f"Graphviz {binary!r} timed out after {timeout:g} s") from error
    except (FileNotFoundError, PermissionError) as error:
        raise GraphvizMissing(wanted) from error
    except OSError as error:
        raise GraphvizFailed(f"Graphviz {binary!r} could not run", str(error)) from error
    if completed.returncode != 0:
        lines = completed.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GraphvizFailed(
            f"Graphviz {binary!r} failed with exit status {completed.returncode}",
            "\n".join(lines[:_STDERR_LINES]),
            completed.returncode,
        )
    return completed.stdout
