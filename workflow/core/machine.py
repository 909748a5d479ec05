"""The one place that uses ``transitions``: a machine per definition version.

A :class:`CompiledMachine` is built once per definition hash and shared by
every item of that version. It holds no item: each fire passes a short-lived
:class:`Run` as the ``transitions`` model (``machine.events[name].trigger(run)``),
never ``add_model``, so nothing per item stays in memory.

Guards and ``when`` choices are the transitions' conditions; effects run as
``before`` callbacks, after the conditions pass and before the state changes.
Everything a fire computes lands on the Run; nothing is written anywhere
until the engine has checked the whole outcome, so a callback that raises
leaves no trace (``transitions`` itself would keep the new state).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from transitions import EventData, Machine, MachineError

from workflow.core.values import stored_form
from workflow.definition.compiled import Definition
from workflow.definition.expr import CompiledExpression, EvaluationError
from workflow.definition.model import Choice, EffectSpec, EventSpec, GuardSpec
from workflow.definition.yamlsource import Path

__all__ = ["JOINT_COMPLETE", "CompiledMachine", "EffectFailed", "GuardFalse", "Run", "machine_for"]

JOINT_COMPLETE = "@joint_complete"
"""The engine's own event that moves an item on when its joint handling is complete
(not an identifier, so no definition can declare an event of that name)."""


class GuardFalse(Exception):
    """Internal: a guard evaluated false or could not be evaluated."""

    def __init__(self, guard: GuardSpec | None, detail: str | None = None) -> None:
        self.guard = guard
        self.detail = detail
        super().__init__(detail or (guard.expr if guard else "no choice matched"))


class EffectFailed(Exception):
    """Internal: an effect's expression could not be evaluated."""

    def __init__(self, target: str, detail: str) -> None:
        self.target = target
        self.detail = detail
        super().__init__(f"{target}: {detail}")


@dataclass(eq=False)
class Run:
    """The model ``transitions`` fires on: one attempt to apply one event to one item."""

    state: str
    data: dict[str, Any]
    input: Mapping[str, Any]
    actor: Mapping[str, Any]
    joint: Mapping[str, Any] = field(default_factory=dict)
    failed: GuardFalse | None = None
    guards_checked: bool = False
    extensions: list[tuple[int, str | None]] = field(default_factory=list)
    appended: dict[str, list[str]] = field(default_factory=dict)

    def context(self) -> dict[str, Mapping[str, Any]]:
        """Return the namespaces expressions read."""
        return {"item": self.data, "input": self.input, "actor": self.actor, "joint": self.joint}


def _evaluate(expression: CompiledExpression, run: Run) -> Any:
    return expression.evaluate(run.context())


class CompiledMachine:
    """A ``transitions`` machine for one definition version, with compiled callbacks."""

    def __init__(self, definition: Definition) -> None:
        self.definition = definition
        self._machine = Machine(
            model=None,
            states=list(definition.leaves()),
            initial=definition.spec.initial,
            auto_transitions=False,
            send_event=True,
            ignore_invalid_triggers=False,
        )
        self.sources: dict[str, frozenset[str]] = {}
        for index, event in enumerate(definition.spec.events):
            self._add_event(index, event)
        for name, spec in definition.states.items():
            if spec.joint is not None:
                path = (*definition.state_path(name), "joint", "then")
                self._add_choices(
                    JOINT_COMPLETE, [name], spec.joint.then, path, guards=None, effects=()
                )

    # -- building -----------------------------------------------------------------------

    def _expr(self, path: Path) -> CompiledExpression:
        return self.definition.expressions[path]

    def _add_event(self, index: int, event: EventSpec) -> None:
        leaves = sorted(
            {leaf for source in event.from_ for leaf in self.definition.leaves_under(source)}
        )
        self.sources[event.name] = self.sources.get(event.name, frozenset()) | frozenset(leaves)
        base: Path = ("events", index)
        guards = [
            (guard, self._expr((*base, "guard", position, "expr")))
            for position, guard in enumerate(event.guard)
        ]
        effects = [
            self._effect(effect, (*base, "effects", position))
            for position, effect in enumerate(event.effects)
        ]
        if event.to is None:
            self._machine.add_transition(
                event.name,
                cast(Any, leaves),
                None,
                conditions=[self._condition(guards, None)],
                before=cast(Any, effects),
            )
            return
        self._add_choices(
            event.name, leaves, event.to, (*base, "to"), guards=guards, effects=effects
        )

    def _add_choices(
        self,
        trigger: str,
        leaves: Sequence[str],
        choices: Sequence[Choice],
        path: Path,
        *,
        guards: list[tuple[GuardSpec, CompiledExpression]] | None,
        effects: Sequence[Callable[[EventData], None]],
    ) -> None:
        for position, choice in enumerate(choices):
            when = self._expr((*path, position, "when")) if choice.when is not None else None
            self._machine.add_transition(
                trigger,
                cast(Any, list(leaves)),
                choice.state,
                conditions=[self._condition(guards or [], when)],
                before=cast(Any, list(effects)),
            )

    @staticmethod
    def _condition(
        guards: list[tuple[GuardSpec, CompiledExpression]], when: CompiledExpression | None
    ) -> Callable[[EventData], bool]:
        def condition(event_data: EventData) -> bool:
            run = cast(Run, event_data.model)
            if not run.guards_checked:
                run.guards_checked = True
                for guard, expression in guards:
                    try:
                        ok = _evaluate(expression, run)
                    except EvaluationError as error:
                        run.failed = GuardFalse(guard, f"could not be evaluated: {error.message}")
                        return False
                    if ok is not True:
                        run.failed = GuardFalse(guard)
                        return False
            if run.failed is not None:
                return False
            if when is None:
                return True
            try:
                return _evaluate(when, run) is True
            except EvaluationError as error:
                run.failed = GuardFalse(None, f"a choice could not be evaluated: {error.message}")
                return False

        return condition

    def _effect(self, effect: EffectSpec, path: Path) -> Callable[[EventData], None]:
        definition = self.definition
        if effect.set is not None:
            targets = {
                name: (self._expr((*path, "set", name)) if isinstance(value, str) else value)
                for name, value in effect.set.items()
            }

            def set_fields(event_data: EventData) -> None:
                run = cast(Run, event_data.model)
                values = {}
                for name, target in targets.items():
                    values[name] = _value(target, run, name)
                run.data.update(values)

            return set_fields
        if effect.assign is not None:
            assigned = []
            for role, _source in effect.assign.items():
                field_name = definition.spec.roles[role].field
                assert field_name is not None  # checked when the definition loaded
                is_list = definition.spec.fields[field_name].type == "list"
                assigned.append((field_name, self._expr((*path, "assign", role)), is_list))

            def assign(event_data: EventData) -> None:
                run = cast(Run, event_data.model)
                for field_name, expression, is_list in assigned:
                    value = _value(expression, run, field_name)
                    run.data[field_name] = [value] if is_list else value

            return assign
        if effect.append is not None:
            appends = [(name, self._expr((*path, "append", name))) for name in effect.append]

            def append(event_data: EventData) -> None:
                run = cast(Run, event_data.model)
                for name, expression in appends:
                    value = _value(expression, run, name)
                    current = list(run.data.get(name) or [])
                    if value not in current:
                        current.append(value)
                        run.appended.setdefault(name, []).append(value)
                    run.data[name] = current

            return append
        extend = effect.extend_deadline
        assert extend is not None  # exactly one key is set, checked at load
        amount: CompiledExpression | int = (
            self._expr((*path, "extend_deadline", "by"))
            if isinstance(extend.by, str)
            else extend.by
        )

        def extend_deadline(event_data: EventData) -> None:
            run = cast(Run, event_data.model)
            value = _value(amount, run, "extend_deadline")
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise EffectFailed("extend_deadline", "the extension must be a whole number >= 1")
            run.extensions.append((value, extend.unit))

        return extend_deadline

    # -- firing ---------------------------------------------------------------------------

    def has_event(self, name: str) -> bool:
        """Tell whether the machine knows the event."""
        return name in self._machine.events

    def allowed_from(self, state: str) -> tuple[str, ...]:
        """Return the event names that may fire from leaf ``state``."""
        return tuple(name for name, sources in self.sources.items() if state in sources)

    def fire(self, trigger: str, run: Run) -> bool:
        """Apply ``trigger`` to ``run``; True if a transition was taken.

        Raises :class:`GuardFalse` when a guard (or every choice) fails, and
        :class:`EffectFailed` when an effect cannot be evaluated.
        """
        try:
            moved = bool(self._machine.events[trigger].trigger(run))
        except MachineError as error:  # the state has no such transition
            raise GuardFalse(None, f"not allowed from {run.state!r}: {error.value}") from None
        if not moved:
            raise run.failed or GuardFalse(None, None)
        return True


def _value(target: CompiledExpression | Any, run: Run, name: str) -> Any:
    if not isinstance(target, CompiledExpression):
        return target
    try:
        return stored_form(_evaluate(target, run))
    except EvaluationError as error:
        raise EffectFailed(name, error.message) from None


_machines: dict[str, CompiledMachine] = {}
_machines_lock = threading.Lock()


def machine_for(definition: Definition) -> CompiledMachine:
    """Return the shared machine of a definition version, building it on first use."""
    machine = _machines.get(definition.hash)
    if machine is None:
        with _machines_lock:
            machine = _machines.get(definition.hash)
            if machine is None:
                machine = CompiledMachine(definition)
                _machines[definition.hash] = machine
    return machine
