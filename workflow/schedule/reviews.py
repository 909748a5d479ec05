"""Periodic reviews: who meets when, what is on each occurrence's agenda, and carry-over.

A review (the monthly service meeting, the quarterly dispatch by city
leaders) is declared under ``reviews:`` in a definition. The same name in
several workflows is one meeting: its agenda lists the items of all of them,
so their period and cron line must agree (:func:`collect_reviews` refuses
otherwise).

Each occurrence (meeting) is named by the period it falls in (``2026-11``,
``2026-Q4``, ``2026-H2``, ``2026``), in the calendar's time zone. An item
escalated at time *t* joins the agenda of the first meeting after *t* (the
core names it with ``Calendar.next_period``: with meetings at 09:00 on the
1st, an item escalated on 15 November joins ``2026-12``). When a meeting is
held at its cron time *T* (:func:`close_occurrence`), the entries of its
agenda that are still unresolved are carried over to the following
meeting's agenda. ``workflow review agenda`` shows by default the agenda
being gathered now: the next meeting's.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, and_, select

from workflow.core import deadlines as deadline_rules
from workflow.errors import WorkflowError
from workflow.schedule.cadence import next_occurrence, period_label, previous_occurrence
from workflow.store import timers

if TYPE_CHECKING:
    from workflow.app import Engine
    from workflow.definition.loader import Catalog
    from workflow.definition.model import ReviewSpec

__all__ = [
    "AGENDA_HEADERS",
    "AgendaRow",
    "BadPeriod",
    "ClosedOccurrence",
    "Review",
    "ReviewConflict",
    "ReviewError",
    "UnknownReview",
    "agenda",
    "agenda_cells",
    "agenda_json",
    "agenda_markdown",
    "check_period",
    "close_occurrence",
    "collect_reviews",
    "escalation_period",
    "occurrence_periods",
    "review_named",
    "timezone_of",
    "upcoming_period",
]

log = logging.getLogger("workflow.reviews")

DEFAULT_TIMEZONE = "Asia/Shanghai"

_PERIOD_FORMS: dict[str, tuple[re.Pattern[str], str]] = {
    "month": (re.compile(r"\d{4}-(0[1-9]|1[0-2])"), "YYYY-MM, e.g. 2026-11"),
    "quarter": (re.compile(r"\d{4}-Q[1-4]"), "YYYY-Qn, e.g. 2026-Q4"),
    "half_year": (re.compile(r"\d{4}-H[12]"), "YYYY-Hn, e.g. 2026-H2"),
    "year": (re.compile(r"\d{4}"), "YYYY, e.g. 2026"),
}

# IN lists are sent in chunks of this many ids (drivers and servers limit parameters).
_CHUNK = 500


class ReviewError(WorkflowError):
    """A review or an agenda cannot be had as asked."""


class UnknownReview(ReviewError):
    """No loaded definition declares a review of that name (CLI exit code 3)."""

    exit_code = 3

    def __init__(self, name: str, known: Iterable[str]) -> None:
        self.name = name
        names = ", ".join(sorted(known)) or "none"
        super().__init__(f"no review named {name!r} in the loaded definitions (known: {names})")


class ReviewConflict(ReviewError):
    """Two definitions declare the same review with a different period or cadence."""

    exit_code = 1


class BadPeriod(ReviewError):
    """A period name does not fit the review's period (CLI exit code 2: the command line)."""

    exit_code = 2


@dataclass(frozen=True)
class Review:
    """One meeting, as declared by the workflows that send items to it."""

    name: str
    spec: ReviewSpec
    """The declaration (of the first workflow, by id, that has it)."""
    workflows: tuple[str, ...]
    """The workflows that declare it."""

    @property
    def period(self) -> str:
        """Which period one occurrence covers: month, quarter, half_year or year."""
        return self.spec.period

    @property
    def cron(self) -> str:
        """When the meeting happens (5-field cron line, in the calendar's time zone)."""
        return self.spec.cron

    @property
    def carry_over(self) -> bool:
        """Whether unresolved items stay on the next occurrence's agenda."""
        return self.spec.carry_over


def collect_reviews(catalog: Catalog) -> dict[str, Review]:
    """Return every review the catalog's workflows declare, by name.

    The newest version of each workflow decides (older versions stay loaded
    only for the items pinned to them); a review only an older version still
    declares is taken from the newest version that has it. Raises
    :class:`ReviewConflict` when two workflows give one name a different
    period or cron line: one meeting cannot have two cadences.
    """
    newest: dict[str, Any] = {}
    for definition in catalog:  # by id, then version: the last one wins
        newest[definition.id] = definition
    found: dict[str, Review] = {}
    problems: list[str] = []
    for definition in newest.values():
        for name, spec in definition.spec.reviews.items():
            known = found.get(name)
            if known is None:
                found[name] = Review(name, spec, (definition.id,))
                continue
            if (known.period, known.cron) != (spec.period, spec.cron):
                problems.append(
                    f"review {name!r}: {known.workflows[0]} holds it every {known.period} "
                    f"at {known.cron!r}, {definition.id} every {spec.period} at {spec.cron!r}; "
                    "one meeting needs one period and cron line"
                )
            found[name] = Review(name, known.spec, (*known.workflows, definition.id))
    if problems:
        raise ReviewConflict("; ".join(problems))
    for definition in catalog:
        for name, spec in definition.spec.reviews.items():
            found.setdefault(name, Review(name, spec, (definition.id,)))
    return dict(sorted(found.items()))


def review_named(engine: Engine, name: str) -> Review:
    """Return the review ``name`` of the engine's definitions, or raise :class:`UnknownReview`."""
    reviews = collect_reviews(engine.catalog)
    if name not in reviews:
        raise UnknownReview(name, reviews)
    return reviews[name]


def timezone_of(engine: Engine) -> str:
    """Return the time zone review periods and cron lines are read in (the calendar's)."""
    return str(getattr(engine.calendar, "timezone", None) or DEFAULT_TIMEZONE)


# -- periods ----------------------------------------------------------------------------


def escalation_period(review: Review | ReviewSpec, at: dt.datetime, timezone: str) -> str:
    """Name the agenda an item escalated at ``at`` joins: the first meeting's after ``at``."""
    return period_label(review.period, next_occurrence(review.cron, at, timezone), timezone)


def upcoming_period(review: Review, now: dt.datetime, timezone: str) -> str:
    """Name the agenda being gathered at ``now``: the next meeting's (the CLI's default)."""
    return escalation_period(review, now, timezone)


def check_period(review: Review, period: str) -> str:
    """Return ``period`` if it names a period of the review's kind; else raise BadPeriod."""
    pattern, form = _PERIOD_FORMS[review.period]
    if not pattern.fullmatch(period):
        raise BadPeriod(
            f"review {review.name!r} meets every {review.period}: "
            f"name the period as {form}, not {period!r}"
        )
    return period


def occurrence_periods(review: Review, occurrence: dt.datetime, timezone: str) -> tuple[str, str]:
    """Return ``(held, next)``: the agenda a meeting at ``occurrence`` discusses, and the next one.

    A meeting is named by the period it falls in; what it leaves unresolved
    goes onto the agenda of the first meeting after it.
    """
    return (
        period_label(review.period, occurrence, timezone),
        escalation_period(review, occurrence, timezone),
    )


# -- closing an occurrence ----------------------------------------------------------------


@dataclass(frozen=True)
class ClosedOccurrence:
    """What closing one occurrence of a review did."""

    review: str
    occurrence: dt.datetime
    discussed: str
    """The agenda the meeting discussed (named by the period it falls in)."""
    carried_to: str
    """The agenda its unresolved items were carried to (the next meeting's)."""
    carried: int
    """How many items were carried (0 when run again, or when the review does not carry)."""


def close_occurrence(
    engine: Engine, review_name: str, occurrence_time: dt.datetime | None = None
) -> ClosedOccurrence:
    """Hold one occurrence of a review: carry what it left unresolved to the next meeting.

    ``occurrence_time`` is when the meeting happened (default: the review's
    latest cron occurrence up to now). Idempotent: running it again, or for
    another time in the same period, carries nothing more. Only open items
    whose entries no decision resolved are carried, with their original
    level and reason ``carried``.
    """
    review = review_named(engine, review_name)
    timezone = timezone_of(engine)
    if occurrence_time is None:
        now = engine.clock.now()
        occurrence_time = previous_occurrence(review.cron, now, timezone) or now
    if occurrence_time.tzinfo is None:
        raise ReviewError("an occurrence time must be timezone-aware")
    discussed, following = occurrence_periods(review, occurrence_time, timezone)
    carried = 0
    if review.carry_over:
        with engine.store.write() as tx:
            carried = timers.carry_over(
                tx.connection,
                tx.t,
                review.name,
                from_period=discussed,
                to_period=following,
                at=occurrence_time,
            )
    log.info(
        "review %s at %s: %s closed, %d item(s) carried to %s",
        review.name,
        occurrence_time.isoformat(),
        discussed,
        carried,
        following,
    )
    return ClosedOccurrence(review.name, occurrence_time, discussed, following, carried)


# -- the agenda ---------------------------------------------------------------------------


@dataclass(frozen=True)
class AgendaRow:
    """One line of a review's problem list (問題清單)."""

    item_id: int
    workflow_id: str
    title: str | None
    """The item's ``title`` field, if it has one."""
    unit: str | None
    """The responsible unit (the item's ``lead_unit`` field)."""
    state: str
    is_open: bool
    age_days: int
    """Working days since the item was raised."""
    due_at: dt.datetime | None
    """The due time of the item's current (earliest) open non-branch deadline."""
    overdue_days: int
    """Working days past that due time (0 if not overdue)."""
    level: str | None
    """The highest escalation level the item reached (else the level that put it here)."""
    entry_level: str | None
    """The ladder level that put the item on this agenda."""
    carried: bool
    """On this agenda because an earlier occurrence left it unresolved."""
    added_at: dt.datetime
    resolved_at: dt.datetime | None
    resolution: str | None
    last_event: str | None
    """The item's latest step: its event, who took it, and when."""
    last_actor: str | None
    last_at: dt.datetime | None

    def as_dict(self) -> dict[str, Any]:
        """Return the row as JSON-ready data (times in ISO 8601, UTC)."""
        return {
            f.name: (value.isoformat() if isinstance(value, dt.datetime) else value)
            for f in dataclasses.fields(self)
            for value in (getattr(self, f.name),)
        }


def agenda(
    engine: Engine, review: str, period: str, *, now: dt.datetime | None = None
) -> list[AgendaRow]:
    """Return the agenda of one occurrence of a review, in the order items joined it.

    Ages and overdue days are counted in working days up to ``now`` (default:
    the engine's clock).
    """
    found = review_named(engine, review)
    check_period(found, period)
    moment = now or engine.clock.now()
    calendar = engine.calendar
    with engine.store.read() as tx:
        connection, t = tx.connection, tx.t
        entries = timers.load_agenda(connection, t, found.name, period)
        ids = sorted({e["item_id"] for e in entries})
        dues = _due_times(connection, t, ids)
        last = _last_steps(connection, t, ids)
        fired = _fired_levels(connection, t, ids)
        definitions = {h: engine._definition(tx, h) for h in {f[3] for f in fired}}
    highest = _highest_levels(fired, definitions)
    rows: list[AgendaRow] = []
    for entry in entries:
        item_id = entry["item_id"]
        data: Mapping[str, Any] = entry["data"] or {}
        due = dues.get(item_id)
        step = last.get(item_id)
        overdue = 0
        if due is not None and moment > due:
            overdue = _working_days(calendar, due, moment)
        rows.append(
            AgendaRow(
                item_id=item_id,
                workflow_id=entry["workflow_id"],
                title=_text(data.get("title")),
                unit=_text(data.get("lead_unit")),
                state=entry["state"],
                is_open=entry["is_open"],
                age_days=_working_days(calendar, entry["created_at"], moment),
                due_at=due,
                overdue_days=overdue,
                level=highest.get(item_id) or entry["level"],
                entry_level=entry["level"],
                carried=entry["reason"] == "carried",
                added_at=entry["added_at"],
                resolved_at=entry["resolved_at"],
                resolution=entry["resolution"],
                last_event=step[0] if step else None,
                last_actor=step[1] if step else None,
                last_at=step[2] if step else None,
            )
        )
    return rows


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def _due_times(connection: Connection, t: Any, ids: Sequence[int]) -> dict[int, dt.datetime]:
    """Return each item's earliest due time among its open non-branch deadlines."""
    d = t.deadlines
    found: dict[int, dt.datetime] = {}
    for chunk in _chunks(ids):
        query = select(d.c.item_id, d.c.due_at).where(
            d.c.item_id.in_(chunk),
            d.c.branch_id.is_(None),
            d.c.status.in_(timers.OPEN_STATUSES),
        )
        for item_id, due_at in connection.execute(query):
            if item_id not in found or due_at < found[item_id]:
                found[item_id] = due_at
    return found


def _last_steps(
    connection: Connection, t: Any, ids: Sequence[int]
) -> dict[int, tuple[str, str, dt.datetime]]:
    """Return each item's latest history row: (event, actor, time)."""
    h, i = t.history, t.items
    found: dict[int, tuple[str, str, dt.datetime]] = {}
    for chunk in _chunks(ids):
        # An item's version is the seq of its last history row: one primary-key lookup each.
        query = (
            select(h.c.item_id, h.c.event, h.c.actor_id, h.c.at)
            .join(i, and_(i.c.id == h.c.item_id, i.c.version == h.c.seq))
            .where(i.c.id.in_(chunk))
        )
        for item_id, event, actor_id, at in connection.execute(query):
            found[item_id] = (event, actor_id, at)
    return found


def _fired_levels(
    connection: Connection, t: Any, ids: Sequence[int]
) -> list[tuple[int, str, str, str, int]]:
    """Return the levels fired on the items: (item, level, scope, definition hash, row id)."""
    e, d, i = t.escalations, t.deadlines, t.items
    found: list[tuple[int, str, str, str, int]] = []
    for chunk in _chunks(ids):
        query = (
            select(e.c.item_id, e.c.level, d.c.scope, i.c.definition_hash, e.c.id)
            .join(d, d.c.id == e.c.deadline_id)
            .join(i, i.c.id == e.c.item_id)
            .where(e.c.item_id.in_(chunk), e.c.outcome == "fired")
        )
        found.extend(tuple(row) for row in connection.execute(query))
    return found


def _highest_levels(
    fired: Sequence[tuple[int, str, str, str, int]], definitions: Mapping[str, Any]
) -> dict[int, str]:
    """Pick each item's highest level: the latest rung of its ladder (then the latest fired)."""
    best: dict[int, tuple[int, int, str]] = {}
    for item_id, level, scope, digest, row_id in fired:
        rank = -1
        ladder = deadline_rules.ladder_for(definitions[digest], scope)
        if ladder is not None:
            names = [spec.name for spec in ladder.levels]
            rank = names.index(level) if level in names else -1
        key = (rank, row_id, level)
        if item_id not in best or key > best[item_id]:
            best[item_id] = key
    return {item_id: key[2] for item_id, key in best.items()}


def _working_days(calendar: Any, start: dt.datetime, end: dt.datetime) -> int:
    """Count working days from ``start`` to ``end`` (weekdays, without a business calendar)."""
    if end <= start:
        return 0
    counter = getattr(calendar, "working_days_between", None)
    if counter is not None:
        return int(counter(start, end))
    days, day = 0, start.date()
    while day < end.date():
        day += dt.timedelta(days=1)
        days += day.weekday() < 5
    return days


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


# -- rendering ----------------------------------------------------------------------------

AGENDA_HEADERS = (
    "item",
    "workflow",
    "title",
    "unit",
    "state",
    "age (wd)",
    "due",
    "overdue (wd)",
    "level",
    "last action",
    "carried",
)


def agenda_cells(row: AgendaRow, zone: dt.tzinfo) -> tuple[str, ...]:
    """Return a row's cells under :data:`AGENDA_HEADERS`, as people read them."""
    due = row.due_at.astimezone(zone).strftime("%Y-%m-%d %H:%M") if row.due_at else "—"
    last = "—"
    if row.last_event is not None and row.last_at is not None:
        when = row.last_at.astimezone(zone).strftime("%Y-%m-%d")
        last = f"{row.last_event} by {row.last_actor} {when}"
    state = row.state if row.is_open else f"{row.state} (closed)"
    if row.resolved_at is not None:
        state += f", resolved: {row.resolution or 'yes'}"
    return (
        str(row.item_id),
        row.workflow_id,
        row.title or "—",
        row.unit or "—",
        state,
        str(row.age_days),
        due,
        str(row.overdue_days),
        row.level or "—",
        last,
        "yes" if row.carried else "no",
    )


def agenda_markdown(rows: Sequence[AgendaRow], title: str, timezone: str = DEFAULT_TIMEZONE) -> str:
    """Render an agenda as a Markdown document (a heading and a table)."""
    zone = ZoneInfo(timezone)

    def cell(text: str) -> str:
        return " ".join(text.split()).replace("\\", "\\\\").replace("|", "\\|")

    numeric = ("item", "age (wd)", "overdue (wd)")
    rule = ["---:" if header in numeric else "---" for header in AGENDA_HEADERS]
    lines = [
        f"# {cell(title)}",
        "",
        "| " + " | ".join(AGENDA_HEADERS) + " |",
        "|" + "|".join(rule) + "|",
    ]
    lines.extend("| " + " | ".join(cell(c) for c in agenda_cells(row, zone)) + " |" for row in rows)
    if not rows:
        lines.append("")
        lines.append("_No items on this agenda._")
    return "\n".join(lines) + "\n"


def agenda_json(review: Review, period: str, rows: Sequence[AgendaRow]) -> dict[str, Any]:
    """Return an agenda as JSON-ready data."""
    return {
        "review": review.name,
        "label": {"zh": review.spec.label.zh, "en": review.spec.label.en},
        "period": period,
        "items": [row.as_dict() for row in rows],
    }
