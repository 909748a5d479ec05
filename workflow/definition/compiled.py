"""A loaded, checked definition: the spec plus the indexes the engine needs.

A :class:`Definition` is immutable and built once per definition version; the
state-machine core, the scheduler and the CLI all read from it and never
re-parse YAML or re-compile expressions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from workflow.definition.expr import CompiledExpression
from workflow.definition.model import EventSpec, StateSpec, WorkflowSpec
from workflow.definition.yamlsource import Path

__all__ = ["Definition", "SourceFile"]


@dataclass(frozen=True)
class SourceFile:
    """A file a definition was read from, with its text as read."""

    path: str
    text: str


@dataclass(frozen=True)
class Definition:
    """One version of one workflow, validated and indexed.

    ``hash`` is the SHA-256 of the definition's canonical content (comments,
    layout and the split into files do not change it); running items are
    pinned to it.
    """

    spec: WorkflowSpec
    hash: str
    sources: tuple[SourceFile, ...]
    states: Mapping[str, StateSpec]
    """Every state, groups included, by name (names are unique across levels)."""
    parents: Mapping[str, str | None]
    """The group each state sits in, or None at the top level."""
    expressions: Mapping[Path, CompiledExpression] = field(repr=False)
    """Every compiled expression, by the data path of its text in the definition."""

    @property
    def id(self) -> str:
        """The workflow id."""
        return self.spec.id

    @property
    def version(self) -> int:
        """The workflow version number."""
        return self.spec.version

    @property
    def file(self) -> str:
        """The main file the definition was loaded from."""
        return self.sources[0].path if self.sources else "<memory>"

    def is_group(self, state: str) -> bool:
        """Tell whether ``state`` is a group of states rather than a leaf."""
        return bool(self.states[state].states)

    def leaves(self) -> tuple[str, ...]:
        """Return the leaf states (the ones an item can be in), in declaration order."""
        return tuple(name for name in self.states if not self.is_group(name))

    def leaves_under(self, state: str) -> tuple[str, ...]:
        """Return ``state`` itself if a leaf, else every leaf inside the group."""
        if not self.is_group(state):
            return (state,)
        return tuple(leaf for leaf in self.leaves() if state in self.ancestors(leaf))

    def ancestors(self, state: str) -> tuple[str, ...]:
        """Return the groups enclosing ``state``, innermost first."""
        found: list[str] = []
        parent = self.parents.get(state)
        while parent is not None:
            found.append(parent)
            parent = self.parents.get(parent)
        return tuple(found)

    def state_path(self, state: str) -> Path:
        """Return the data path of a state's declaration (``("states", "open", "states", x)``)."""
        path: list[str | int] = []
        for name in (*reversed(self.ancestors(state)), state):
            path.extend(("states", name))
        return tuple(path)

    def final_states(self) -> tuple[str, ...]:
        """Return the final states."""
        return tuple(name for name, spec in self.states.items() if spec.final)

    def events_from(self, state: str) -> tuple[EventSpec, ...]:
        """Return the events that may fire while an item is in leaf ``state``."""
        scope = {state, *self.ancestors(state)}
        return tuple(event for event in self.spec.events if scope.intersection(event.from_))

    def event_names(self) -> tuple[str, ...]:
        """Return every event name, joint-handling answers included, without repeats."""
        names = [event.name for event in self.spec.events]
        names.extend(spec.joint.answer.name for spec in self.states.values() if spec.joint)
        return tuple(dict.fromkeys(names))
