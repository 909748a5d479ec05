"""The engine: start items, fire events, read state and history.

Every operation runs in one store transaction. A fire reads the item, decides
everything in memory (role, input, guards, effects, target, branches), then
writes with a compare-and-swap on the item's version, followed by the history
rows and branch changes. A refusal raises before the first write, so a refused
event changes nothing; a conflict raises :class:`~workflow.errors.ConcurrentUpdate`
and the transaction rolls back whole.

The item's ``version`` counts its history rows: the row written by a step
that takes the item from version ``v`` to ``v + n`` has sequence numbers
``v + 1 .. v + n``, so history has no gaps and replaying it is a check
(:meth:`Core.verify`).
"""

from __future__ import annotations

import builtins
import dataclasses
import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from workflow.core import deadlines as deadline_rules
from workflow.core import joint as joint_rules
from workflow.core import notices
from workflow.core.authz import resolve_role
from workflow.core.clock import SystemClock
from workflow.core.inputs import model_for, validate_values
from workflow.core.machine import JOINT_COMPLETE, EffectFailed, GuardFalse, Run, machine_for
from workflow.core.ports import (
    Calendar,
    Clock,
    Directory,
    Store,
    StoreTransaction,
    TemplateIndex,
)
from workflow.core.values import (
    Actor,
    AvailableEvent,
    Branch,
    Deadline,
    DueOutcome,
    HistoryEntry,
    ItemSnapshot,
    stored_form,
)
from workflow.definition.compiled import Definition
from workflow.definition.expr import EvaluationError
from workflow.definition.loader import Catalog, definition_from_json
from workflow.definition.model import EventSpec, FieldSpec, JointSpec, LevelSpec, LocalText
from workflow.errors import (
    ConcurrentUpdate,
    EventNotAllowed,
    GuardFailed,
    InvalidInput,
    ItemNotFound,
    MigrationRefused,
    NotAuthorized,
    UnknownEvent,
    WorkflowError,
)

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = ["Core", "replay_problems"]

log = logging.getLogger("workflow.engine")

_VERDICT = FieldSpec(
    type="enum",
    required=True,
    options={
        "agree": LocalText(zh="同意", en="Agree"),
        "disagree": LocalText(zh="不同意", en="Disagree"),
    },
)
_REASON_MAX = 2000
_UNSEEN = object()
_ENGINE = Actor("engine")
"""The actor the engine acts as for its own moves (joint completion, escalations)."""


@dataclasses.dataclass
class _Step:
    """What one operation will write, decided before anything is written."""

    item: ItemSnapshot
    rows: list[HistoryEntry]
    new_branches: list[Branch]
    changed_branches: list[Branch]
    new_deadlines: list[Deadline] = dataclasses.field(default_factory=list)
    changed_deadlines: list[Deadline] = dataclasses.field(default_factory=list)
    open_deadlines: list[Deadline] | None = None


class Core:
    """Runs workflow items over a store, a catalog of definitions and a directory (no adapters).

    Hosts use :class:`workflow.Engine`, which adds the SQL store and directory
    adapters; the core itself only knows the ports of :mod:`workflow.core.ports`.
    """

    def __init__(
        self,
        store: Store,
        definitions: Catalog,
        *,
        directory: Directory,
        clock: Clock | None = None,
        calendar: Calendar | None = None,
        templates: TemplateIndex | None = None,
    ) -> None:
        self.store = store
        self.catalog = definitions
        self.directory = directory
        # Which item fields each notification template reads (the payload carries
        # only those); without an index, intents carry no item data.
        self.templates = templates
        self._notifying: dict[str, frozenset[str]] = {}
        # Per definition version: event declarations by (event, state), and whether a
        # leaf (or a group around it) keeps a clock.
        self._declarations: dict[tuple[str, str, str], object] = {}
        self._clocked: dict[tuple[str, str], bool] = {}
        self.clock: Clock = clock or SystemClock()
        # Without a calendar no deadline clocks are kept (a store without timers).
        self.calendar = calendar
        self._stored: dict[str, Definition] = {}

    # -- definitions ------------------------------------------------------------------

    def _definition(self, tx: StoreTransaction, digest: str) -> Definition:
        """Return the exact version an item is pinned to, from the catalog or the store."""
        found = self.catalog.by_hash(digest) or self._stored.get(digest)
        if found is not None:
            return found
        source = tx.load_definition_source(digest)
        if source is None:
            raise WorkflowError(f"definition {digest[:12]} is neither loaded nor stored")
        definition = definition_from_json(source)
        self._stored[digest] = definition
        return definition

    # -- start --------------------------------------------------------------------------

    def start(
        self,
        workflow_id: str,
        actor: Actor,
        data: Mapping[str, Any] | None = None,
        *,
        version: int | None = None,
    ) -> ItemSnapshot:
        """Start a new item of a workflow (its latest version unless ``version`` is given)."""
        definition = self.catalog.get(workflow_id, version)
        spec = definition.spec
        values, problems = validate_values(
            model_for((definition.hash, "@start"), spec.fields), data
        )
        if spec.start_fields is not None:
            # Fields only events set: refused even when otherwise valid, and said so.
            problems = [
                *(
                    (name, "is set by the workflow's events, not when an item is started")
                    for name in (data or {})
                    if name in spec.fields and name not in spec.start_fields
                ),
                *problems,
            ]
        if problems:
            raise _invalid(None, "start", None, problems)
        role, why = resolve_role(definition, spec.started_by, actor, values, self.directory)
        if role is None:
            _deny(None, "start", None, actor, spec.started_by, why=why)
        now = self.clock.now()
        with self.store.write() as tx:
            tx.ensure_definition(definition)
            item = ItemSnapshot(
                id=0,
                workflow_id=definition.id,
                definition_hash=definition.hash,
                state=spec.initial,
                data=values,
                version=1,
                is_open=True,
                created_by=actor.id,
                created_at=now,
                updated_at=now,
            )
            item = dataclasses.replace(item, id=tx.insert_item(item))
            row = HistoryEntry(
                item_id=item.id,
                seq=1,
                kind="start",
                event="start",
                from_state=None,
                to_state=spec.initial,
                actor_id=actor.id,
                actor_role=role,
                input=None,
                reason=None,
                changes=values,
                definition_hash=definition.hash,
                at=now,
            )
            tx.append_history([row])
            step = _Step(item, [row], [], [], open_deadlines=[])
            joint = definition.states[spec.initial].joint
            if joint is not None:
                # units=None: one branch per unit in the start data (an empty tuple
                # would open none, and the item could never leave joint handling).
                step.new_branches = self._open_branches(
                    item, spec.initial, joint, 1, units=None, now=now
                )
            self._plan_clocks(tx, definition, step, None, spec.initial, "start", [], now=now)
            self._write_children(tx, definition, step, seq=1, now=now)
        log.info("started %s %s as %s by %s", definition.id, item.id, spec.initial, actor.id)
        return item

    # -- fire ---------------------------------------------------------------------------

    def fire(
        self,
        item_id: int,
        event: str,
        actor: Actor,
        data: Mapping[str, Any] | None = None,
        *,
        reason: str | None = None,
        expected_version: int | None = None,
        retries: int = 0,
    ) -> ItemSnapshot:
        """Fire ``event`` on an item as ``actor``; return the item as it now is.

        ``expected_version`` makes the fire conditional on the version the
        caller last saw (optimistic locking for forms). Without it, a
        conflicting concurrent write is retried up to ``retries`` times on
        fresh data before :class:`~workflow.errors.ConcurrentUpdate` is raised.
        """
        attempt = 0
        while True:
            try:
                with self.store.write() as tx:
                    return self._fire(
                        tx,
                        item_id,
                        event,
                        actor,
                        data,
                        reason=reason,
                        expected_version=expected_version,
                    )
            except ConcurrentUpdate:
                if expected_version is not None or attempt >= retries:
                    raise
                attempt += 1

    def _fire(
        self,
        tx: StoreTransaction,
        item_id: int,
        event: str,
        actor: Actor,
        data: Mapping[str, Any] | None,
        *,
        reason: str | None,
        expected_version: int | None,
    ) -> ItemSnapshot:
        item = tx.load_item(item_id)
        if item is None:
            raise ItemNotFound(item_id)
        if expected_version is not None and item.version != expected_version:
            raise ConcurrentUpdate(
                item_id=item_id,
                event=event,
                state=item.state,
                expected=expected_version,
                actual=item.version,
            )
        definition = self._definition(tx, item.definition_hash)
        joint = definition.states[item.state].joint
        if joint is not None and event == joint.answer.name:
            step = self._answer(tx, definition, item, joint, actor, data=data, reason=reason)
        else:
            step = self._event(tx, definition, item, event, actor, data=data, reason=reason)
        self._write(tx, step, item.version, event)
        return step.item

    def _event(
        self,
        tx: StoreTransaction,
        definition: Definition,
        item: ItemSnapshot,
        event: str,
        actor: Actor,
        *,
        data: Mapping[str, Any] | None,
        reason: str | None,
    ) -> _Step:
        machine = machine_for(definition)
        state = item.state
        if not machine.has_event(event) or event == JOINT_COMPLETE:
            answers = {s.joint.answer.name for s in definition.states.values() if s.joint}
            if event not in answers:
                raise UnknownEvent(
                    item_id=item.id, event=event, state=state, known=definition.event_names()
                )
        declaration = self._declaration(definition, event, state)
        if declaration is None:
            raise EventNotAllowed(
                item_id=item.id, event=event, state=state, allowed=self._allowed(definition, item)
            )
        spec, model = declaration
        role, why = resolve_role(definition, spec.roles, actor, item.data, self.directory)
        if role is None:
            _deny(item.id, event, state, actor, spec.roles, why=why)
        if spec.input or not (data is None or (isinstance(data, Mapping) and not data)):
            values, problems = validate_values(model, data)
        else:
            # No input declared and none given: nothing for the model to check.
            values, problems = {}, []
        problems += _reason_problems(spec.reason, reason)
        if problems:
            raise _invalid(item.id, event, state, problems)
        run = Run(state, dict(item.data), values, _actor_context(actor))
        _apply(machine.fire, event, run, item, state)
        now = self.clock.now()
        rows = [
            self._row(
                item,
                offset=1,
                kind="event",
                event=event,
                source=state,
                target=run.state,
                actor=actor,
                role=role,
                values=values,
                reason=reason,
                new_data=run.data,
                now=now,
            )
        ]
        step = _Step(item, rows, [], [])
        self._after_move(tx, definition, step, state, run, now=now, event=event)
        return step

    def _declaration(
        self, definition: Definition, event: str, state: str
    ) -> tuple[EventSpec, type[BaseModel]] | None:
        """Return the declaration of ``event`` that may fire from ``state``, with its input model.

        Looked up once per (definition version, event, state): it depends on
        nothing else.
        """
        key = (definition.hash, event, state)
        found = self._declarations.get(key, _UNSEEN)
        if found is _UNSEEN:
            spec = _event_spec(definition, event, state)
            if spec is None:
                found = None
            else:
                # Several declarations may share an event name (one per group of states),
                # each with its own input: the model is cached per declaration, not per name.
                index = next(i for i, d in enumerate(definition.spec.events) if d is spec)
                found = (spec, model_for((definition.hash, f"{event}__{index}"), spec.input))
            self._declarations[key] = found
        return found  # type: ignore[return-value]

    def _answer(
        self,
        tx: StoreTransaction,
        definition: Definition,
        item: ItemSnapshot,
        joint: JointSpec,
        actor: Actor,
        *,
        data: Mapping[str, Any] | None,
        reason: str | None,
    ) -> _Step:
        """Record one unit's answer to a joint-handling branch, and join if complete."""
        event, state = joint.answer.name, item.state
        branches = _current_round(tx.load_branches(item.id), state)
        # A branch is bound to its unit: whoever acts for it answers in the joint's role.
        # The role's field binding alone would shut out the lead unit, whose own branch
        # (under `lead_and_quorum`) is not in the units list the role is bound to.
        mine = [b for b in branches if self.directory.represents(actor.id, "unit", b.unit)]
        if joint.role not in actor.roles or not mine:
            held, why = resolve_role(definition, [joint.role], actor, item.data, self.directory)
            if held is not None:
                why = "its unit has no branch in this joint handling"
            _deny(item.id, event, state, actor, [joint.role], why=why)
        role = joint.role
        open_mine = [b for b in mine if b.status == "open"]
        if not open_mine:
            why = "its unit's branch has already answered"
            _deny(item.id, event, state, actor, [joint.role], why=why)
        fields = {**joint.answer.input, "verdict": _VERDICT}
        # Keyed by state: an ordinary event elsewhere may carry the answer's name.
        model = model_for((definition.hash, f"{event}__{state}"), fields)
        values, problems = validate_values(model, data)
        problems += _reason_problems(joint.answer.reason, reason)
        if problems:
            raise _invalid(item.id, event, state, problems)
        now = self.clock.now()
        branch = dataclasses.replace(
            open_mine[0],
            status="answered",
            verdict=str(values.pop("verdict")),
            answer=values,
            answered_by=actor.id,
            answered_at=now,
        )
        answer_input = {"unit": branch.unit, "verdict": branch.verdict, **values}
        rows = [
            self._row(
                item,
                offset=1,
                kind="answer",
                event=event,
                source=state,
                target=state,
                actor=actor,
                role=role,
                values=answer_input,
                reason=reason,
                new_data=item.data,
                now=now,
            )
        ]
        step = _Step(dataclasses.replace(item, updated_at=now), rows, [], [branch])
        round_now = [branch if b.id == branch.id else b for b in branches]
        self._join_if_complete(tx, definition, step, joint, round_now, now=now)
        return step

    def _join_if_complete(
        self,
        tx: StoreTransaction,
        definition: Definition,
        step: _Step,
        joint: JointSpec,
        branches: Sequence[Branch],
        *,
        now: Any,
    ) -> None:
        lead = step.item.data.get(joint.lead) if joint.lead else None
        tally = joint_rules.tally(branches, lead if isinstance(lead, str) else None)
        if not joint_rules.is_complete(joint.complete_when, tally):
            return
        state = step.item.state
        run = Run(state, dict(step.item.data), {}, {"id": "engine", "roles": []}, tally.context())
        _apply(machine_for(definition).fire, JOINT_COMPLETE, run, step.item, state)
        system = Actor("engine")
        row = self._row(
            step.item,
            offset=len(step.rows) + 1,
            kind="auto",
            event=JOINT_COMPLETE,
            source=state,
            target=run.state,
            actor=system,
            role=None,
            values=tally.context(),
            reason=None,
            new_data=run.data,
            now=now,
        )
        step.rows.append(row)
        self._after_move(
            tx, definition, step, state, run, now=now, branches=branches, event=JOINT_COMPLETE
        )

    def _after_move(
        self,
        tx: StoreTransaction,
        definition: Definition,
        step: _Step,
        source: str,
        run: Run,
        *,
        now: Any,
        branches: Sequence[Branch] | None = None,
        event: str,
    ) -> None:
        """Update the item for a move: branches to open or close, clocks to start or stop."""
        target = run.state
        final = definition.states[target].final
        step.item = _updated(
            step.item,
            state=target,
            data=run.data,
            is_open=not final,
            closed_at=now if final else step.item.closed_at,
            updated_at=now,
        )
        seq = step.item.version + len(step.rows)
        source_joint = definition.states[source].joint
        if source_joint is not None:
            current = (
                branches
                if branches is not None
                else _current_round(tx.load_branches(step.item.id), source)
            )
            if target != source:
                changed = {b.id for b in step.changed_branches}
                step.changed_branches.extend(
                    dataclasses.replace(b, status="cancelled")
                    for b in current
                    if b.status == "open" and b.id not in changed
                )
            elif run.appended.get(source_joint.units):
                opened_seq = current[0].opened_seq if current else seq
                known = {b.unit for b in current}
                added = [u for u in run.appended[source_joint.units] if u not in known]
                step.new_branches.extend(
                    self._open_branches(
                        step.item, source, source_joint, opened_seq, units=added, now=now
                    )
                )
        target_joint = definition.states[target].joint
        if target_joint is not None and target != source:
            step.new_branches.extend(
                self._open_branches(step.item, target, target_joint, seq, units=None, now=now)
            )
        self._plan_clocks(tx, definition, step, source, target, event, run.extensions, now=now)

    def _plan_clocks(
        self,
        tx: StoreTransaction,
        definition: Definition,
        step: _Step,
        source: str | None,
        target: str,
        event: str,
        extensions: Sequence[tuple[int, str | None]],
        *,
        now: Any,
    ) -> None:
        """Decide the deadline changes of a move (none without a calendar)."""
        if self.calendar is None:
            return
        if step.open_deadlines is None:
            step.open_deadlines = tx.load_open_deadlines(step.item.id)
        if not (
            step.open_deadlines
            or step.new_deadlines
            or extensions
            or self._keeps_clock(definition, target)
        ):
            return  # no clock to stop, pause, extend or start
        changed = {d.id: d for d in step.changed_deadlines}
        current = [changed.get(d.id, d) for d in step.open_deadlines]
        current += [d for d in step.new_deadlines if d.is_open]
        plan = deadline_rules.on_move(
            definition,
            self.calendar,
            item_id=step.item.id,
            source=source,
            target=target,
            event=event,
            seq=step.item.version + len(step.rows),
            now=now,
            open_deadlines=[d for d in current if d.is_open],
            extensions=extensions,
        )
        for deadline in plan.changed:
            if deadline.id:
                changed[deadline.id] = deadline
            else:  # a clock started earlier in this same step, changed again
                key = (deadline.scope, deadline.started_seq, deadline.branch_id)
                step.new_deadlines = [
                    deadline if (d.scope, d.started_seq, d.branch_id) == key else d
                    for d in step.new_deadlines
                ]
        step.changed_deadlines = list(changed.values())
        step.new_deadlines.extend(plan.new)

    def _keeps_clock(self, definition: Definition, state: str) -> bool:
        """Tell whether a state, or a group it is in, declares a deadline."""
        key = (definition.hash, state)
        found = self._clocked.get(key)
        if found is None:
            scopes = (state, *definition.ancestors(state))
            found = self._clocked[key] = any(
                definition.states[s].deadline is not None for s in scopes
            )
        return found

    def _open_branches(
        self,
        item: ItemSnapshot,
        state: str,
        joint: JointSpec,
        opened_seq: int,
        *,
        units: Sequence[str] | None,
        now: Any = None,
    ) -> list[Branch]:
        if units is None:
            listed = item.data.get(joint.units) or []
            units = [u for u in listed if isinstance(u, str)]
            lead = item.data.get(joint.lead) if joint.lead else None
            if joint.complete_when.rule == "lead_and_quorum" and isinstance(lead, str):
                units = [lead, *units]
        return [
            Branch(
                id=0,
                item_id=item.id,
                state=state,
                opened_seq=opened_seq,
                unit=unit,
                status="open",
                verdict=None,
                answer=None,
                answered_by=None,
                opened_at=now or item.updated_at,
                answered_at=None,
            )
            for unit in dict.fromkeys(units)
        ]

    def _row(
        self,
        item: ItemSnapshot,
        *,
        offset: int,
        kind: str,
        event: str,
        source: str | None,
        target: str,
        actor: Actor,
        role: str | None,
        values: Mapping[str, Any] | None,
        reason: str | None,
        new_data: Mapping[str, Any],
        now: Any,
    ) -> HistoryEntry:
        # A field that appears with a null value (a migration adding it) is a change too.
        changes = {k: v for k, v in new_data.items() if k not in item.data or item.data[k] != v}
        return HistoryEntry(
            item_id=item.id,
            seq=item.version + offset,
            kind=kind,
            event=event,
            from_state=source,
            to_state=target,
            actor_id=actor.id,
            actor_role=role,
            input=dict(values) if values else None,
            # Stored trimmed, and blank as no reason (the checks already read it trimmed).
            reason=(reason or "").strip() or None,
            changes=changes or None,
            definition_hash=item.definition_hash,
            at=now,
        )

    def _write(self, tx: StoreTransaction, step: _Step, read_version: int, event: str) -> None:
        """Write a decided step: compare-and-swap the item first, then the rest."""
        # Later rows of the same step see the data as changed by earlier rows.
        item = _updated(step.item, version=read_version + len(step.rows))
        # A store may do both in one round trip (the SQL store on PostgreSQL).
        combined = getattr(tx, "update_item_with_history", None)
        if combined is not None:
            moved = bool(combined(item, read_version, step.rows, event))
        else:
            moved = tx.update_item(item, read_version)
            if moved:
                tx.append_history(step.rows)
        if not moved:
            raise ConcurrentUpdate(
                item_id=item.id,
                event=event,
                state=item.state,
                expected=read_version,
                actual=tx.current_version(item.id),
            )
        step.item = item
        self._write_children(
            tx,
            self._definition(tx, item.definition_hash),
            step,
            seq=item.version,
            now=item.updated_at,
        )

    def _write_children(
        self, tx: StoreTransaction, definition: Definition, step: _Step, *, seq: int, now: Any
    ) -> None:
        """Write branches, clocks and agenda changes after the item row (its CAS decides)."""
        notifying = self._notifying.get(definition.hash)
        if notifying is None:
            notifying = frozenset(e.name for e in definition.spec.events if e.notify)
            self._notifying[definition.hash] = notifying
        if notifying:
            self._event_notices(tx, definition, step, notifying, now)
        decisions = {
            name for review in definition.spec.reviews.values() for name in review.decisions
        }
        decided = [row.event for row in step.rows if row.kind == "event" and row.event in decisions]
        if decided or (not step.item.is_open and definition.spec.reviews):
            resolution = decided[-1] if decided else "closed"
            tx.resolve_review_entries(step.item.id, resolution, now)
        if step.changed_branches:
            tx.update_branches(step.changed_branches)
            if self.calendar is not None:
                # A branch that answered or closed stops its own clock.
                closed = {b.id for b in step.changed_branches if b.status != "open"}
                if step.open_deadlines is None:
                    step.open_deadlines = tx.load_open_deadlines(step.item.id)
                known = {d.id for d in step.changed_deadlines}
                step.changed_deadlines.extend(
                    deadline_rules.end_deadline(d, now)
                    for d in step.open_deadlines
                    if d.branch_id in closed and d.id not in known and d.is_open
                )
        if step.new_branches:
            ids = tx.insert_branches(step.new_branches)
            if self.calendar is not None and ids:
                opened = [
                    dataclasses.replace(b, id=i)
                    for b, i in zip(step.new_branches, ids, strict=True)
                ]
                by_state: dict[str, list[Branch]] = {}
                for branch in opened:
                    by_state.setdefault(branch.state, []).append(branch)
                for state, group in by_state.items():
                    step.new_deadlines.extend(
                        deadline_rules.branch_deadlines(
                            definition, self.calendar, state=state, branches=group, seq=seq, now=now
                        )
                    )
        if step.changed_deadlines:
            tx.update_deadlines(step.changed_deadlines)
        if step.new_deadlines:
            tx.insert_deadlines(step.new_deadlines)

    def _event_notices(
        self,
        tx: StoreTransaction,
        definition: Definition,
        step: _Step,
        notifying: frozenset[str],
        now: Any,
    ) -> None:
        """Write the notification intents of the events in a step (same transaction)."""
        intents = []
        due = next((d for d in step.new_deadlines if d.branch_id is None), None)
        for row in step.rows:
            if row.kind != "event" or row.event not in notifying or row.from_state is None:
                continue
            spec = _event_spec(definition, row.event, row.from_state)
            if spec is not None and spec.notify:
                intents += notices.event_intents(
                    definition, step.item, row, spec.notify, self.templates, due
                )
        if intents:
            tx.add_notification_intents(intents, now)

    # -- timers -------------------------------------------------------------------------

    def apply_due(self, tx: StoreTransaction, deadline_id: int, now: dt.datetime) -> DueOutcome:
        """Apply what is due on one deadline at ``now``, inside the caller's transaction.

        Every ladder level that has fallen due and is not yet done is applied
        once, in order — or, with ``catch_up: highest``, only the highest, the
        others recorded as skipped — and a joint-handling branch whose silence
        counts for something is answered for it. Each level writes a history
        row, its field changes, review entries, notification intents and an
        engine-fired event, plus a unique (deadline, level) record, so that a
        second daemon (or a resumed one) can never apply it twice. Leases are
        the caller's business.
        """
        deadline = tx.load_deadline(deadline_id)
        if deadline is None or deadline.status != "running":
            return DueOutcome(deadline.item_id if deadline else 0, (), (), False, None)
        item = tx.load_item(deadline.item_id)
        if item is None or not item.is_open:
            closed = deadline_rules.end_deadline(deadline, now, "cancelled")
            tx.update_deadlines([closed])
            return DueOutcome(deadline.item_id, (), (), False, None)
        definition = self._definition(tx, item.definition_hash)
        calendar = self._require_calendar()
        done = tx.fired_levels(deadline.id)
        ladder = deadline_rules.ladder_for(definition, deadline.scope)
        due: list[tuple[dt.datetime, int, LevelSpec]] = []
        if ladder is not None:
            for index, level in enumerate(ladder.levels):
                at = deadline_rules.level_time(calendar, deadline, level)
                if level.name not in done and at <= now:
                    due.append((at, index, level))
        due.sort(key=lambda entry: (entry[0], entry[1]))
        skipped: list[LevelSpec] = []
        if ladder is not None and ladder.catch_up == "highest" and len(due) > 1:
            skipped = [level for _, _, level in due[:-1]]
            due = due[-1:]
        step = _Step(dataclasses.replace(item, updated_at=now), [], [], [])
        for level in skipped:
            self._escalation_row(step, deadline, level, "skipped", now)
            tx.record_escalation(
                deadline_id=deadline.id,
                item_id=item.id,
                level=level.name,
                outcome="skipped",
                seq=step.rows[-1].seq,
                at=now,
            )
        fired: list[str] = []
        for _, _, level in due:
            self._apply_level(tx, definition, step, deadline, level, now)
            fired.append(level.name)
        timed_out = False
        if (
            deadline.branch_id is not None
            and deadline_rules.TIMEOUT not in done
            and deadline.due_at <= now
        ):
            timed_out = self._time_out_branch(tx, definition, step, deadline, now)
        finished = [*done, *(level.name for level in skipped), *fired]
        if timed_out:
            finished.append(deadline_rules.TIMEOUT)
        if step.rows:
            self._write(tx, step, item.version, "@escalate")
        refreshed = tx.load_deadline(deadline.id) or deadline
        next_at = (
            deadline_rules.next_check(definition, calendar, refreshed, finished)
            if refreshed.status == "running"
            else None
        )
        if refreshed.next_at != next_at:
            tx.update_deadlines([dataclasses.replace(refreshed, next_at=next_at)])
        return DueOutcome(
            item.id, tuple(fired), tuple(level.name for level in skipped), timed_out, next_at
        )

    def _require_calendar(self) -> Calendar:
        if self.calendar is None:
            raise WorkflowError("this engine keeps no deadlines: it was built without a calendar")
        return self.calendar

    def _escalation_row(
        self, step: _Step, deadline: Deadline, level: LevelSpec, outcome: str, now: dt.datetime
    ) -> None:
        info: dict[str, str | int] = {
            "level": level.name,
            "outcome": outcome,
            "scope": deadline.scope,
            "due_at": deadline.due_at.isoformat(),
        }
        if deadline.branch_id is not None:
            info["branch"] = deadline.branch_id
        event = f"@escalate:{level.name}" if outcome == "fired" else f"@skip:{level.name}"
        step.rows.append(
            self._row(
                step.item,
                offset=len(step.rows) + 1,
                kind="escalation",
                event=event,
                source=step.item.state,
                target=step.item.state,
                actor=_ENGINE,
                role=None,
                values=info,
                reason=None,
                new_data=step.item.data,
                now=now,
            )
        )

    def _apply_level(
        self,
        tx: StoreTransaction,
        definition: Definition,
        step: _Step,
        deadline: Deadline,
        level: LevelSpec,
        now: dt.datetime,
    ) -> None:
        """Apply one ladder level: fields, history, agenda, notifications, event."""
        item = step.item
        data = dict(item.data)
        if level.set:
            context = {"item": item.data, "actor": {"id": "engine", "roles": []}}
            base = _level_path(definition, deadline.scope, level)
            for name, value in level.set.items():
                if isinstance(value, str):
                    try:
                        data[name] = stored_form(
                            definition.expressions[(*base, "set", name)].evaluate(context)
                        )
                    except EvaluationError:
                        log.warning("level %s: could not evaluate set.%s", level.name, name)
                else:
                    data[name] = value
        self._escalation_row(step, deadline, level, "fired", now)
        # The row's changes: compare with the data before the level.
        row = step.rows[-1]
        changes = {k: v for k, v in data.items() if item.data.get(k) != v}
        step.rows[-1] = dataclasses.replace(row, changes=changes or None)
        step.item = dataclasses.replace(item, data=data)
        seq = row.seq
        tx.record_escalation(
            deadline_id=deadline.id,
            item_id=item.id,
            level=level.name,
            outcome="fired",
            seq=seq,
            at=now,
        )
        period = ""
        if level.review is not None:
            review = definition.spec.reviews[level.review]
            period = self._require_calendar().next_period(review.cron, review.period, now)
            tx.add_review_entry(
                review=level.review,
                period=period,
                item_id=item.id,
                workflow_id=item.workflow_id,
                level=level.name,
                at=now,
            )
        intents = notices.level_intents(definition, step.item, seq, deadline, level, self.templates)
        if level.review is not None:
            intents += notices.review_intents(
                definition,
                step.item,
                seq,
                level.review,
                period,
                level,
                deadline,
                self.templates,
            )
        if intents:
            tx.add_notification_intents(intents, now)
        if level.fire is not None:
            self._fire_for_engine(tx, definition, step, level.fire, now)

    def _fire_for_engine(
        self,
        tx: StoreTransaction,
        definition: Definition,
        step: _Step,
        event: str,
        now: dt.datetime,
    ) -> None:
        """Fire an event a ladder level names, as the engine (no role, no input)."""
        state = step.item.state
        spec = _event_spec(definition, event, state)
        if spec is None:
            log.info("level event %s cannot fire from %s; skipped", event, state)
            return
        run = Run(state, dict(step.item.data), {}, {"id": "engine", "roles": []})
        try:
            machine_for(definition).fire(event, run)
        except (GuardFalse, EffectFailed) as failed:
            log.info("level event %s refused on item %s: %s", event, step.item.id, failed)
            return
        step.rows.append(
            self._row(
                step.item,
                offset=len(step.rows) + 1,
                kind="auto",
                event=event,
                source=state,
                target=run.state,
                actor=_ENGINE,
                role=None,
                values=None,
                reason=None,
                new_data=run.data,
                now=now,
            )
        )
        self._after_move(tx, definition, step, state, run, now=now, event=event)

    def _time_out_branch(
        self,
        tx: StoreTransaction,
        definition: Definition,
        step: _Step,
        deadline: Deadline,
        now: dt.datetime,
    ) -> bool:
        """Count a silent branch as the joint's ``unanswered`` policy says, and join if complete."""
        joint = definition.states[deadline.scope].joint
        if joint is None or joint.unanswered == "wait" or step.item.state != deadline.scope:
            return False
        branches = _current_round(tx.load_branches(step.item.id), deadline.scope)
        branch = next((b for b in branches if b.id == deadline.branch_id), None)
        if branch is None or branch.status != "open":
            return False
        counted = dataclasses.replace(
            branch, status="timed_out", verdict=joint.unanswered, answered_at=now
        )
        step.changed_branches.append(counted)
        step.rows.append(
            self._row(
                step.item,
                offset=len(step.rows) + 1,
                kind="auto",
                event=deadline_rules.TIMEOUT,
                source=step.item.state,
                target=step.item.state,
                actor=_ENGINE,
                role=None,
                values={"unit": branch.unit, "verdict": joint.unanswered, "counted_as": "no reply"},
                reason=None,
                new_data=step.item.data,
                now=now,
            )
        )
        tx.record_escalation(
            deadline_id=deadline.id,
            item_id=step.item.id,
            level=deadline_rules.TIMEOUT,
            outcome="fired",
            seq=step.rows[-1].seq,
            at=now,
        )
        round_now = [counted if b.id == branch.id else b for b in branches]
        self._join_if_complete(tx, definition, step, joint, round_now, now=now)
        return True

    # -- reading ------------------------------------------------------------------------

    def get(self, item_id: int) -> ItemSnapshot:
        """Return an item, or raise :class:`~workflow.errors.ItemNotFound`."""
        with self.store.read() as tx:
            item = tx.load_item(item_id)
        if item is None:
            raise ItemNotFound(item_id)
        return item

    def history(self, item_id: int) -> list[HistoryEntry]:
        """Return an item's history, oldest first."""
        with self.store.read() as tx:
            if tx.load_item(item_id) is None:
                raise ItemNotFound(item_id)
            return tx.load_history(item_id)

    def branches(self, item_id: int) -> list[Branch]:
        """Return every joint-handling branch an item has had."""
        with self.store.read() as tx:
            if tx.load_item(item_id) is None:
                raise ItemNotFound(item_id)
            return tx.load_branches(item_id)

    def definition(self, item: ItemSnapshot) -> Definition:
        """Return the definition version an item is pinned to."""
        with self.store.read() as tx:
            return self._definition(tx, item.definition_hash)

    def list(
        self,
        *,
        workflow_id: str | None = None,
        state: str | None = None,
        is_open: bool | None = None,
        data: Mapping[str, Any] | None = None,
        after_id: int | None = None,
        limit: int = 100,
    ) -> list[ItemSnapshot]:
        """List items by filters, ordered by id; page with ``after_id``."""
        with self.store.read() as tx:
            return tx.list_items(
                workflow_id=workflow_id,
                state=state,
                is_open=is_open,
                data=data,
                after_id=after_id,
                limit=max(1, min(limit, 10_000)),
            )

    def available_events(self, item_id: int, actor: Actor) -> builtins.list[AvailableEvent]:
        """Return the events ``actor`` may fire on the item now (role and binding checked).

        Guards that read ``input`` cannot be judged before the input exists,
        so such events are listed; guards over the item alone are evaluated.
        """
        with self.store.read() as tx:
            item = tx.load_item(item_id)
            if item is None:
                raise ItemNotFound(item_id)
            definition = self._definition(tx, item.definition_hash)
            branches = tx.load_branches(item_id)
        found: list[AvailableEvent] = []
        for index, spec in enumerate(definition.spec.events):
            if _event_spec(definition, spec.name, item.state) is not spec:
                continue
            role, _ = resolve_role(definition, spec.roles, actor, item.data, self.directory)
            if role is None or not _guards_may_pass(definition, index, spec, item, actor):
                continue
            found.append(_available(spec.name, spec.label.en, spec.label.zh, role, spec))
        joint = definition.states[item.state].joint
        if joint is not None and joint.role in actor.roles:
            # As in `_answer`: an open branch of a unit the actor acts for is the binding.
            current = _current_round(branches, item.state)
            if any(
                b.status == "open" and self.directory.represents(actor.id, "unit", b.unit)
                for b in current
            ):
                answer = joint.answer
                found.append(
                    AvailableEvent(
                        name=answer.name,
                        label_en=answer.label.en,
                        label_zh=answer.label.zh,
                        role=joint.role,
                        reason=answer.reason,
                        inputs=("verdict", *answer.input),
                        required_inputs=(
                            "verdict",
                            *(k for k, f in answer.input.items() if f.required),
                        ),
                        targets=(item.state,),
                    )
                )
        return found

    # -- verification and migration -------------------------------------------------

    def verify(self, item_id: int) -> builtins.list[str]:
        """Replay an item's history and compare with its stored state; return discrepancies.

        An empty list means: sequence numbers run 1..version without gaps, the
        first row starts the item, each row leaves from where the previous one
        arrived, and the replayed state and data equal what is stored.
        """
        with self.store.read() as tx:
            item = tx.load_item(item_id)
            if item is None:
                raise ItemNotFound(item_id)
            rows = tx.load_history(item_id)
        return replay_problems(item, rows)

    def migrate(
        self,
        workflow_id: str,
        *,
        to_version: int | None = None,
        state_map: Mapping[str, str] | None = None,
        actor: Actor | None = None,
        dry_run: bool = False,
    ) -> dict[str, int]:
        """Move running items of a workflow to a newer definition version.

        Checked first, for every item: the (mapped) state must exist as a leaf
        in the new version, and every field the new version requires must have
        a value or a default. If any item fails, nothing moves and
        :class:`~workflow.errors.MigrationRefused` says why, by state. Returns
        the number of items moved per ``old_state->new_state``.
        """
        target = self.catalog.get(workflow_id, to_version)
        mapping = dict(state_map or {})
        who = actor or Actor("engine")
        with self.store.read() as tx:
            running = _all_items(tx, workflow_id)
            pinned = {i.definition_hash for i in running}
            sources = {digest: self._definition(tx, digest) for digest in pinned}
        plan: dict[str, int] = {}
        reasons: dict[str, int] = {}
        moves: list[tuple[ItemSnapshot, str, dict[str, Any]]] = []
        for item in running:
            if item.definition_hash == target.hash:
                continue
            if sources[item.definition_hash].version > target.version:
                continue
            new_state = mapping.get(item.state, item.state)
            problem = _migration_problem(target, item, new_state)
            if problem:
                reasons[problem] = reasons.get(problem, 0) + 1
                continue
            data = _migrated_data(target, item.data)
            moves.append((item, new_state, data))
            key = f"{item.state}->{new_state}"
            plan[key] = plan.get(key, 0) + 1
        if reasons:
            raise MigrationRefused(
                workflow_id, [f"{n} item(s): {why}" for why, n in sorted(reasons.items())]
            )
        if dry_run or not moves:
            return plan
        now = self.clock.now()
        with self.store.write() as tx:
            tx.ensure_definition(target)
            for item, new_state, data in moves:
                moved = dataclasses.replace(
                    item,
                    state=new_state,
                    data=data,
                    definition_hash=target.hash,
                    version=item.version + 1,
                    updated_at=now,
                )
                row = self._row(
                    item,
                    offset=1,
                    kind="migrate",
                    event="@migrate",
                    source=item.state,
                    target=new_state,
                    actor=who,
                    role=None,
                    values=_migration_input(
                        sources[item.definition_hash].version, target.version, item.data, data
                    ),
                    reason=None,
                    new_data=data,
                    now=now,
                )
                if not tx.update_item(
                    dataclasses.replace(moved, definition_hash=target.hash), item.version
                ):
                    raise ConcurrentUpdate(
                        item_id=item.id,
                        event="@migrate",
                        state=item.state,
                        expected=item.version,
                        actual=tx.current_version(item.id),
                    )
                tx.append_history([dataclasses.replace(row, definition_hash=target.hash)])
        log.info("migrated %d %s item(s) to version %d", len(moves), workflow_id, target.version)
        return plan

    def _allowed(self, definition: Definition, item: ItemSnapshot) -> builtins.list[str]:
        names = list(machine_for(definition).allowed_from(item.state))
        joint = definition.states[item.state].joint
        if joint is not None:
            names.append(joint.answer.name)
        return names


# -- helpers -------------------------------------------------------------------------------


def replay_problems(item: ItemSnapshot, rows: Sequence[HistoryEntry]) -> list[str]:
    """Replay history rows and say where they disagree with the stored item."""
    problems: list[str] = []
    data: dict[str, Any] = {}
    state: str | None = None
    for expected_seq, row in enumerate(rows, start=1):
        if row.seq != expected_seq:
            problems.append(f"history row {row.seq} found where {expected_seq} was expected")
            break
        if expected_seq == 1 and row.kind != "start":
            problems.append("the first history row does not start the item")
        if expected_seq > 1 and row.from_state != state:
            problems.append(
                f"row {row.seq} leaves {row.from_state!r}, but the item was in {state!r}"
            )
        data.update(row.changes or {})
        dropped = (row.input or {}).get("dropped") if row.kind == "migrate" else None
        for name in dropped if isinstance(dropped, Mapping) else ():
            data.pop(name, None)
        state = row.to_state
    if len(rows) != item.version:
        problems.append(f"{len(rows)} history rows for version {item.version}")
    if state != item.state:
        problems.append(f"replayed state {state!r} != stored state {item.state!r}")
    if data != dict(item.data):
        differing = sorted(
            k
            for k in set(data) | set(item.data)
            if k not in data or k not in item.data or data[k] != item.data[k]
        )
        problems.append(f"replayed data differs in: {', '.join(differing)}")
    return problems


def _all_items(tx: StoreTransaction, workflow_id: str) -> list[ItemSnapshot]:
    found: list[ItemSnapshot] = []
    after: int | None = None
    while True:
        page = tx.list_items(
            workflow_id=workflow_id, state=None, is_open=True, data=None, after_id=after, limit=1000
        )
        found.extend(page)
        if len(page) < 1000:
            return found
        after = page[-1].id


def _migration_problem(target: Definition, item: ItemSnapshot, state: str) -> str | None:
    if state not in target.states:
        return f"state {state!r} does not exist in version {target.version} (give a state mapping)"
    if target.is_group(state):
        return (
            f"state {state!r} is a group in version {target.version}; map it to one of its states"
        )
    if target.states[state].joint is not None and state != item.state:
        return f"cannot map into joint-handling state {state!r}: its branches would be missing"
    for name, spec in target.spec.fields.items():
        if spec.required and item.data.get(name) is None and spec.default is None:
            return f"field {name!r} is required in version {target.version} and has no value"
    # The values kept must also fit the new declarations (a narrower enum, a shorter
    # limit, another type): events validate only their input, so data that no longer
    # fits would surface later as guards that cannot be evaluated.
    model = model_for((target.hash, "@migrate"), target.spec.fields, all_optional=True)
    _, problems = validate_values(model, _migrated_data(target, item.data))
    if problems:
        name, problem = problems[0]
        return f"field {name!r} does not fit version {target.version}: {problem}"
    return None


def _migration_input(
    from_version: int, to_version: int, old: Mapping[str, Any], new: Mapping[str, Any]
) -> dict[str, Any]:
    """Describe a migration step for its history row.

    ``changes`` can only say what a field becomes, not that it is gone, so the
    fields the new version no longer declares are listed under ``dropped``
    (with their last values, which are kept that way): replay removes them.
    """
    described: dict[str, Any] = {"from_version": from_version, "to_version": to_version}
    dropped = {name: value for name, value in old.items() if name not in new}
    if dropped:
        described["dropped"] = dropped
    return described


def _migrated_data(target: Definition, data: Mapping[str, Any]) -> dict[str, Any]:
    fields = target.spec.fields
    return {
        name: data.get(name)
        if data.get(name) is not None
        else (spec.default if spec.default is not None else ([] if spec.type == "list" else None))
        for name, spec in fields.items()
    }


def _level_path(definition: Definition, scope: str, level: LevelSpec) -> tuple[str | int, ...]:
    """Return the data path of a level's declaration (its expressions are keyed by it)."""
    state = definition.states.get(scope)
    own = state.escalation if state is not None else None
    if own is not None and level in own.levels:
        return (*definition.state_path(scope), "escalation", "levels", own.levels.index(level))
    ladder = definition.spec.escalation
    assert ladder is not None  # the level came from one of the two ladders
    return ("escalation", "levels", ladder.levels.index(level))


def _event_spec(definition: Definition, event: str, state: str) -> EventSpec | None:
    """Return the declaration of ``event`` that may fire from leaf ``state``, if any."""
    scope = {state, *definition.ancestors(state)}
    for spec in definition.spec.events:
        if spec.name == event and scope.intersection(spec.from_):
            return spec
    return None


def _current_round(branches: Sequence[Branch], state: str) -> list[Branch]:
    """Return the branches of the latest joint-handling round in ``state``."""
    here = [b for b in branches if b.state == state]
    if not here:
        return []
    latest = max(b.opened_seq for b in here)
    return [b for b in here if b.opened_seq == latest]


def _actor_context(actor: Actor) -> dict[str, Any]:
    return {"id": actor.id, "roles": sorted(actor.roles)}


def _reason_problems(policy: str, reason: str | None) -> list[tuple[str, str]]:
    if reason is not None and not isinstance(reason, str):
        return [("reason", "must be text")]
    text = (reason or "").strip()
    if policy == "required" and not text:
        return [("reason", "is required for this event")]
    if policy == "none" and text:
        return [("reason", "this event takes no reason")]
    if len(text) > _REASON_MAX:
        return [("reason", f"is longer than {_REASON_MAX} characters")]
    return []


def _invalid(
    item_id: int | None, event: str, state: str | None, problems: Sequence[tuple[str, str]]
) -> InvalidInput:
    field, problem = problems[0]
    return InvalidInput(
        item_id=item_id, event=event, state=state, field=field, problem=problem, errors=problems
    )


def _deny(
    item_id: int | None,
    event: str,
    state: str | None,
    actor: Actor,
    roles: Sequence[str],
    *,
    why: str,
) -> NoReturn:
    """Log and raise a denial; the log names who and what, never the data."""
    log.warning("denied %s on item %s (%s) to %s: %s", event, item_id, state, actor.id, why)
    raise NotAuthorized(
        item_id=item_id, event=event, state=state, actor_id=actor.id, roles=roles, reason=why
    )


_ITEM_FIELDS = frozenset(f.name for f in dataclasses.fields(ItemSnapshot))


def _updated(item: ItemSnapshot, **changes: Any) -> ItemSnapshot:
    """Return ``item`` with ``changes``, as ``dataclasses.replace`` would, for every fire.

    ``replace`` looks the fields up and runs the frozen ``__init__`` on each
    call (twice per fire, 5 of the 270 µs of CPU a fire costs on SQLite);
    an item has no ``__post_init__`` to skip, so copying its attributes
    gives the same object.
    """
    if not _ITEM_FIELDS.issuperset(changes):
        raise TypeError(f"ItemSnapshot has no field {sorted(changes.keys() - _ITEM_FIELDS)}")
    updated = object.__new__(ItemSnapshot)
    updated.__dict__.update(item.__dict__, **changes)
    return updated


def _apply(fire: Any, event: str, run: Run, item: ItemSnapshot, state: str) -> None:
    """Run the machine, turning its internal failures into refusals."""
    try:
        fire(event, run)
    except GuardFalse as failed:
        guard = failed.guard
        raise GuardFailed(
            item_id=item.id,
            event=event,
            state=state,
            guard=guard.expr if guard else "(no target's condition held)",
            message=failed.detail or (guard.message.en if guard and guard.message else None),
            message_zh=guard.message.zh if guard and guard.message and not failed.detail else None,
        ) from None
    except EffectFailed as failed:
        raise InvalidInput(
            item_id=item.id, event=event, state=state, field=failed.target, problem=failed.detail
        ) from None


def _guards_may_pass(
    definition: Definition, index: int, spec: EventSpec, item: ItemSnapshot, actor: Actor
) -> bool:
    """Evaluate the guards that do not read input; True if none of them is false."""
    context = {"item": item.data, "actor": _actor_context(actor), "input": {}, "joint": {}}
    for position, _guard in enumerate(spec.guard):
        expression = definition.expressions[("events", index, "guard", position, "expr")]
        if any(namespace == "input" for namespace, _ in expression.names):
            continue
        try:
            if expression.evaluate(context) is not True:
                return False
        except EvaluationError:
            return False
    return True


def _available(
    name: str, label_en: str, label_zh: str, role: str, spec: EventSpec
) -> AvailableEvent:
    return AvailableEvent(
        name=name,
        label_en=label_en,
        label_zh=label_zh,
        role=role,
        reason=spec.reason,
        inputs=tuple(spec.input),
        required_inputs=tuple(k for k, f in spec.input.items() if f.required),
        targets=tuple(c.state for c in spec.to) if spec.to else (),
    )
