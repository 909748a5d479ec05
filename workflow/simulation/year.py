"""Play a year of enterprise problems through the engine on a simulated clock.

Each problem gets a *plan* drawn from a seeded random generator — how fast
the office triages it, whether the unit returns it, asks for an extension,
suspends it or calls co-handling units, how long it takes to reply, whether
the enterprise is satisfied — and a *script* (a generator of steps) that
plays the plan through the public API: ``engine.start`` and
``engine.fire``, as the people of the :class:`~workflow.simulation.world.World`.
Meanwhile an escalation pass runs every evening at the end of office hours
(``Escalator.tick``, the daemon's call) and the reviews are held at their
cron times: each meeting decides on its agenda (a supervising leader, a new
deadline, or closure by decision) and carries the rest over.

A step scheduled after the last day is not played: those items stay open,
as a real problem list's do. A refusal the script did not expect is counted
in :attr:`YearReport.refusals` (a meeting that closes an item ends its
script quietly instead).
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

from workflow.core.clock import ManualClock
from workflow.core.values import Actor
from workflow.errors import Refused
from workflow.schedule import reviews
from workflow.schedule.cadence import next_occurrence
from workflow.schedule.scan import Escalator
from workflow.simulation.world import EnterpriseSeat, World

if TYPE_CHECKING:
    from workflow.app import Engine
    from workflow.schedule.calendar import BusinessCalendar

__all__ = ["MonthLine", "YearReport", "simulate_year"]

WORKFLOW_ID = "enterprise_issue"

EVENING = dt.time(17, 30)
"""When the escalation pass runs: the end of the office day, when working-day deadlines fall."""

_MORNING = [(9, 0), (11, 45)]
_AFTERNOON = [(14, 0), (17, 15)]

# What a problem is about, by category: how an enterprise words it (zh, en).
_SUBJECTS: Mapping[str, Sequence[tuple[str, str]]] = {
    "policy": (
        ("文化產業發展專項資金兌現", "culture-industry fund payment"),
        ("研發費用加計扣除政策咨詢", "R&D super-deduction question"),
        ("動漫企業認定", "recognition as an animation enterprise"),
    ),
    "financing": (
        ("知識產權質押貸款", "IP-backed loan"),
        ("版權融資擔保", "copyright financing guarantee"),
        ("首貸續貸支持", "first-loan and renewal support"),
    ),
    "talent": (
        ("高端人才落戶", "residence for senior hires"),
        ("人才公寓申請", "talent apartments"),
        ("職稱評審通道", "professional-title assessment"),
    ),
    "venues": (
        ("拍攝場地協調", "a filming location"),
        ("電競賽事場館", "an esports venue"),
        ("辦公用房租金補貼", "office rent subsidy"),
    ),
    "approvals": (
        ("網絡文化經營許可證辦理", "online culture operating licence"),
        ("游戲版號申報輔導", "game licence application"),
        ("消防驗收", "fire-safety acceptance"),
    ),
    "publicity": (
        ("文博會展位", "a booth at the culture expo"),
        ("新品發布推介", "launch publicity"),
    ),
    "statistics": (("規上企業統計入庫", "registration in the statistics database"),),
    "other": (("水電氣報裝", "utility connections"), ("周邊交通改善", "access roads")),
}
_CATEGORY_WEIGHTS = {
    "policy": 22,
    "financing": 18,
    "talent": 14,
    "venues": 14,
    "approvals": 14,
    "publicity": 8,
    "statistics": 5,
    "other": 5,
}
_SOURCES = {"enterprise": 55, "commissioner": 30, "monthly_meeting": 10, "district_whistle": 5}


def _pick(rng: random.Random, weights: Mapping[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


@dataclass(frozen=True)
class Step:
    """Fire ``event`` as ``actor`` some working days after the previous step."""

    days: int
    """Working days after the previous step (0: later the same day, if the office is open)."""
    event: str
    actor: Actor
    data: Mapping[str, Any] | None = None
    reason: str | None = None
    branch: str | None = None
    """For a joint-handling answer: the unit whose branch it answers. Played only while
    that branch is open (a late opinion after its deadline counted it is not given)."""


@dataclass(frozen=True)
class Wait:
    """Look again every working day until the item is in one of ``states``."""

    states: frozenset[str]


@dataclass
class Plan:
    """How one problem's life will go (drawn once, from the seed)."""

    seat: EnterpriseSeat
    raised: dt.datetime
    category: str
    source: str
    fate: Literal["handled", "rejected", "merged", "withdrawn"]
    triage: int
    unit: str
    second_unit: str | None
    sign_for: int
    handling: int
    extension: Literal["none", "approved", "denied"]
    suspend: int
    co_units: tuple[str, ...]
    silent_co_units: frozenset[str]
    revisit: int
    satisfaction: tuple[str, ...]
    """One revisit outcome per round; all but the last are ``unsatisfied`` (a reopen)."""
    sign_off: int
    strike_off: int


@dataclass(frozen=True)
class MonthLine:
    """What one month of the year looked like."""

    month: str
    raised: int
    finished: int
    """Items that reached a final state this month."""
    open_at_end: int
    levels: Mapping[str, int]
    """Ladder levels fired this month, by level."""
    meetings: tuple[str, ...]
    """One line per meeting held this month."""


@dataclass
class YearReport:
    """What the simulated year did."""

    first: dt.date
    last: dt.date
    items: list[int] = field(default_factory=list)
    transitions: int = 0
    refusals: Counter[str] = field(default_factory=Counter)
    """Refusals the scripts did not expect, by event (should stay empty)."""
    closed_by_meetings: int = 0
    levels: Counter[str] = field(default_factory=Counter)
    decisions: Counter[str] = field(default_factory=Counter)
    ticks: int = 0
    months: list[MonthLine] = field(default_factory=list)
    unplayed: int = 0
    """Steps that fell after the last day (their items stay open)."""
    seconds: float = 0.0


class _Year:
    """The simulation's state: the clock, the queue of things to do, the tallies."""

    def __init__(
        self,
        engine: Engine,
        world: World,
        first: dt.date,
        last: dt.date,
        seed: int,
        evening: Callable[[dt.datetime], None] | None,
    ) -> None:
        self.engine = engine
        self.world = world
        self.rng = random.Random(seed)  # noqa: S311 - sample data, not secrets
        calendar = engine.calendar
        if calendar is None or not hasattr(calendar, "is_working_day"):
            raise ValueError("a simulated year needs the engine's business calendar")
        self.calendar: BusinessCalendar = calendar  # type: ignore[assignment]
        self.zone = ZoneInfo(self.calendar.timezone)
        self.first = first
        self.end = dt.datetime.combine(last, dt.time(23, 59), self.zone)
        self.clock = ManualClock(dt.datetime.combine(first, dt.time(0), self.zone))
        engine.clock = self.clock
        self.escalator = Escalator(engine)
        self.evening_hook = evening
        self.report = YearReport(first, last)
        self.queue: list[tuple[dt.datetime, int, Callable[[], None]]] = []
        self.order = itertools.count()
        self.units = sorted(world.units)
        self.month_raised = 0
        self.month_finished = 0
        self.month_levels: Counter[str] = Counter()
        self.month_meetings: list[str] = []
        self.open_items: set[int] = set()

    # -- time ---------------------------------------------------------------------------

    def at(self, when: dt.datetime, action: Callable[[], None]) -> None:
        """Do ``action`` at ``when`` (if that is within the year)."""
        if when > self.end:
            self.report.unplayed += 1
            return
        heapq.heappush(self.queue, (when, next(self.order), action))

    def later(self, after: dt.datetime, days: int) -> dt.datetime:
        """Return a moment in office hours ``days`` working days after ``after``."""
        local = after.astimezone(self.zone)
        if days == 0:
            soon = local + dt.timedelta(minutes=self.rng.randint(20, 150))
            if self._open(soon):
                return soon
            days = 1
        day = local.date()
        counted = 0
        while counted < days:
            day += dt.timedelta(days=1)
            if self.calendar.is_working_day(day):
                counted += 1
        (start_h, start_m), (end_h, end_m) = self.rng.choice((_MORNING, _AFTERNOON))
        span = (end_h * 60 + end_m) - (start_h * 60 + start_m)
        minute = start_h * 60 + start_m + self.rng.randrange(0, span, 5)
        return dt.datetime.combine(day, dt.time(minute // 60, minute % 60), self.zone)

    def _open(self, moment: dt.datetime) -> bool:
        if not self.calendar.is_working_day(moment.date()):
            return False
        minutes = moment.hour * 60 + moment.minute
        return any(
            h1 * 60 + m1 <= minutes <= h2 * 60 + m2 for (h1, m1), (h2, m2) in (_MORNING, _AFTERNOON)
        )

    # -- the cast -------------------------------------------------------------------------

    def office(self) -> Actor:
        """Return someone of the coordinating office."""
        return Actor(self.rng.choice(self.world.office), frozenset({"office"}))

    def unit_actor(self, unit: str, role: str = "unit") -> Actor:
        """Return the person acting for ``unit``."""
        return Actor(self.world.units[unit], frozenset({role}))

    # -- plans ----------------------------------------------------------------------------

    def plan(self, raised: dt.datetime) -> Plan:
        """Draw one problem's life from the seeded generator."""
        rng = self.rng
        seat = rng.choice(self.world.enterprises)
        roll = rng.random()
        fate: Literal["handled", "rejected", "merged", "withdrawn"] = (
            "rejected"
            if roll < 0.04
            else "merged"
            if roll < 0.07
            else "withdrawn"
            if roll < 0.09
            else "handled"
        )
        unit = rng.choice(self.units)
        others = [u for u in self.units if u != unit]
        second_unit = rng.choice(others) if rng.random() < 0.08 else None
        # Co-handling units are never the lead unit, whichever unit ends up leading.
        helpers = [u for u in others if u != second_unit]
        speed = rng.random()
        handling = (
            rng.randint(2, 8)
            if speed < 0.55
            else rng.randint(9, 14)
            if speed < 0.77
            else rng.randint(16, 24)
            if speed < 0.94
            else rng.randint(26, 45)
        )
        co_units: tuple[str, ...] = ()
        if rng.random() < 0.15:
            co_units = tuple(rng.sample(helpers, k=min(len(helpers), rng.randint(1, 2))))
        silent = frozenset(u for u in co_units if rng.random() < 0.2)
        satisfaction = [
            rng.choices(("satisfied", "basically_satisfied", "unsatisfied"), (72, 18, 10))[0]
        ]
        if satisfaction[0] == "unsatisfied":
            satisfaction.append(rng.choices(("satisfied", "basically_satisfied"), (60, 40))[0])
        extension_roll = rng.random()
        return Plan(
            seat=seat,
            raised=raised,
            category=_pick(rng, _CATEGORY_WEIGHTS),
            source=_pick(rng, _SOURCES),
            fate=fate,
            triage=rng.choice((0, 0, 1, 1, 1, 2)) if rng.random() > 0.08 else rng.randint(3, 4),
            unit=unit,
            second_unit=second_unit,
            sign_for=rng.choice((0, 0, 1)) if rng.random() > 0.05 else rng.randint(2, 3),
            handling=handling,
            extension=(
                "approved"
                if extension_roll < 0.06
                else "denied"
                if extension_roll < 0.08
                else "none"
            ),
            suspend=rng.randint(3, 8) if rng.random() < 0.05 else 0,
            co_units=co_units,
            silent_co_units=silent,
            revisit=rng.choice((1, 1, 2, 2, 3, 4)) if rng.random() > 0.07 else rng.randint(6, 8),
            satisfaction=tuple(satisfaction),
            sign_off=rng.choice((0, 1, 1, 2, 3)),
            strike_off=rng.choice((0, 1, 1, 2)),
        )

    def data(self, plan: Plan) -> dict[str, Any]:
        """Return the start data of a planned problem."""
        subject_zh, subject_en = self.rng.choice(_SUBJECTS[plan.category])
        return {
            "title": subject_zh,
            "description": (
                f"{plan.seat.name}反映{subject_zh}問題,請協調解決。 ({plan.seat.id}: {subject_en})"
            ),
            "category": plan.category,
            "source": plan.source,
            "enterprise": plan.seat.id,
            "district": plan.seat.district,
            "sector": plan.seat.sector,
        }

    def starter(self, plan: Plan) -> Actor:
        """Return who records the problem, by its source."""
        if plan.source == "enterprise":
            return Actor(plan.seat.member, frozenset({"enterprise"}))
        if plan.source == "commissioner":
            return Actor(plan.seat.commissioner, frozenset({"commissioner"}))
        return self.office()

    def script(self, item_id: int, plan: Plan) -> Iterator[Step | Wait]:
        """Yield the steps of one problem's life, as its plan says."""
        office = self.office
        enterprise = Actor(plan.seat.member, frozenset({"enterprise"}))
        commissioner = Actor(plan.seat.commissioner, frozenset({"commissioner"}))
        if plan.fate == "rejected":
            yield Step(
                plan.triage, "reject", office(), reason="不屬於服務直通車受理范圍,已告知企業渠道"
            )
            return
        if plan.fate == "merged":
            other = self.rng.choice(self.report.items[:-1] or [item_id])
            yield Step(
                plan.triage,
                "merge_duplicate",
                office(),
                {"duplicate_of": str(other)},
                reason="同一訴求已在辦",
            )
            return
        unit = plan.unit
        yield Step(plan.triage, "accept", office(), {"lead_unit": unit})
        if plan.fate == "withdrawn":
            yield Step(self.rng.randint(1, 5), "withdraw", enterprise, reason="企業已自行解決")
            return
        if plan.second_unit is not None:
            yield Step(0, "return_to_office", self.unit_actor(unit), reason="不屬本單位職責")
            unit = plan.second_unit
            yield Step(1, "redispatch", office(), {"lead_unit": unit})
        for round_number, satisfaction in enumerate(plan.satisfaction):
            first_round = round_number == 0
            yield Step(plan.sign_for, "sign_for", self.unit_actor(unit))
            handling = plan.handling if first_round else max(2, plan.handling // 3)
            if first_round and plan.suspend:
                yield Step(1, "suspend", self.unit_actor(unit), reason="等待上級部門批復")
                yield Step(plan.suspend, "resume", self.unit_actor(unit))
            if first_round and plan.extension != "none":
                yield Step(
                    2,
                    "request_extension",
                    self.unit_actor(unit),
                    {"days": 5},
                    reason="需協調外部單位,申請延期5個工作日",
                )
                if plan.extension == "approved":
                    yield Step(1, "approve_extension", office(), {"days": 5})
                else:
                    yield Step(1, "deny_extension", office(), reason="請按原時限辦結")
            if first_round and plan.co_units:
                yield Step(
                    1, "request_joint", self.unit_actor(unit), {"co_units": list(plan.co_units)}
                )
                for co_unit in plan.co_units:
                    if co_unit in plan.silent_co_units:
                        continue  # no opinion: its branch deadline counts it as consent
                    yield Step(
                        self.rng.randint(0, 4),
                        "give_opinion",
                        self.unit_actor(co_unit, "co_unit"),
                        {"verdict": "agree", "opinion": "同意承辦單位意見,按職責配合辦理。"},
                        branch=co_unit,
                    )
                yield Wait(frozenset({"handling"}))
            yield Step(
                handling,
                "reply",
                self.unit_actor(unit),
                {
                    "result": "已與企業對接,按政策協調辦理,結果已書面答復企業。",
                    "resolution": "solved" if satisfaction != "unsatisfied" else "explained",
                },
            )
            yield Step(
                plan.revisit,
                "record_revisit",
                commissioner,
                {"satisfaction": satisfaction}
                | ({"comment": "企業認為問題未實質解決"} if satisfaction == "unsatisfied" else {}),
            )
        yield Step(plan.sign_off, "sign_off", enterprise)
        yield Step(plan.strike_off, "strike_off", office())

    # -- playing ----------------------------------------------------------------------------

    def raise_plan(self) -> None:
        """Draw a problem's plan and raise it now (plans are drawn in arrival order)."""
        self.raise_problem(self.plan(self.clock.now()))

    def raise_problem(self, plan: Plan) -> None:
        """Start a planned problem and schedule its first step."""
        item = self.engine.start(WORKFLOW_ID, self.starter(plan), self.data(plan))
        self.report.items.append(item.id)
        self.report.transitions += 1
        self.month_raised += 1
        self.open_items.add(item.id)
        self.advance(item.id, self.script(item.id, plan))

    def advance(self, item_id: int, script: Iterator[Step | Wait]) -> None:
        """Schedule the script's next step (after the one just played)."""
        try:
            step = next(script)
        except StopIteration:
            return
        now = self.clock.now()
        when = self.later(now, 1 if isinstance(step, Wait) else step.days)
        self.at(when, lambda: self.play(item_id, script, step))

    def play(self, item_id: int, script: Iterator[Step | Wait], step: Step | Wait) -> None:
        """Play one step of a script (or look again, for a wait)."""
        item = self.engine.get(item_id)
        if not item.is_open:
            return  # closed meanwhile by a meeting's decision: the script ends
        if isinstance(step, Wait):
            if item.state in step.states:
                self.advance(item_id, script)
            else:
                self.at(self.later(self.clock.now(), 1), lambda: self.play(item_id, script, step))
            return
        if step.branch is not None and not any(
            b.unit == step.branch and b.status == "open" for b in self.engine.branches(item_id)
        ):
            self.advance(item_id, script)  # too late: the silence was counted
            return
        try:
            after = self.engine.fire(item_id, step.event, step.actor, step.data, reason=step.reason)
        except Refused:
            self.report.refusals[step.event] += 1
            return
        self.report.transitions += 1
        if not after.is_open:
            self.finished(item_id)
        self.advance(item_id, script)

    def finished(self, item_id: int) -> None:
        """Count an item that reached a final state."""
        self.open_items.discard(item_id)
        self.month_finished += 1

    def evening(self) -> None:
        """Run the escalation pass of one evening (and the host's evening hook)."""
        now = self.clock.now()
        report = self.escalator.tick(now=now)
        self.report.ticks += 1
        for action in report.actions:
            for level in action.fired:
                self.report.levels[level] += 1
                self.month_levels[level] += 1
        for item_id in {a.item_id for a in report.actions} & self.open_items:
            if not self.engine.get(item_id).is_open:
                self.finished(item_id)
        if self.evening_hook is not None:
            self.evening_hook(now)

    def meeting(self, name: str, when: dt.datetime) -> None:
        """Hold one review: decide on each unresolved item of its agenda, carry the rest.

        The decisions follow the meeting a few minutes apart, as queued steps
        (other things may happen in between), and the occurrence is closed
        after the last one.
        """
        review = reviews.review_named(self.engine, name)
        period = reviews.occurrence_periods(review, when, self.calendar.timezone)[0]
        rows = [
            r
            for r in reviews.agenda(self.engine, name, period, now=when)
            if r.is_open and r.resolved_at is None
        ]
        tally = Counter[str]()
        for number, row in enumerate(rows, start=1):
            self.at(
                when + dt.timedelta(minutes=3 * number),
                partial(self.decide, name, review.spec.period, row, tally),
            )
        self.at(
            when + dt.timedelta(minutes=3 * (len(rows) + 1)),
            lambda: self.close_meeting(name, period, when, len(rows), tally),
        )

    def decide(self, name: str, cadence: str, row: reviews.AgendaRow, tally: Counter[str]) -> None:
        """Record the meeting's decision on one agenda item (or none: it is carried)."""
        item = self.engine.get(row.item_id)
        if not item.is_open:
            return
        actor = (
            Actor(self.rng.choice(self.world.leaders), frozenset({"leader"}))
            if cadence == "quarter"
            else self.office()
        )
        roll = self.rng.random()
        try:
            if roll < 0.1:
                self.engine.fire(
                    row.item_id, "close_by_decision", actor, reason="會議研究決定辦結銷號"
                )
                self.report.closed_by_meetings += 1
                self.finished(row.item_id)
                event = "close_by_decision"
            elif roll < 0.55 and item.state in ("handling", "joint_handling", "suspended"):
                self.engine.fire(
                    row.item_id,
                    "set_new_deadline",
                    actor,
                    {"days": 10},
                    reason="會議明確10個工作日內辦結",
                )
                event = "set_new_deadline"
            elif roll < 0.9:
                supervisor = self.rng.choice(self.world.leaders)
                self.engine.fire(
                    row.item_id, "assign_supervisor", actor, {"supervisor": supervisor}
                )
                event = "assign_supervisor"
            else:
                return  # no decision: carried to the next meeting
        except Refused:
            self.report.refusals[f"{name}:decision"] += 1
            return
        self.report.transitions += 1
        self.report.decisions[event] += 1
        tally[event] += 1

    def close_meeting(
        self, name: str, period: str, when: dt.datetime, agenda: int, tally: Counter[str]
    ) -> None:
        """Close the occurrence: what no decision resolved is carried to the next one."""
        closed = reviews.close_occurrence(self.engine, name, when)
        label = reviews.review_named(self.engine, name).spec.label.zh
        self.month_meetings.append(
            f"{label} {period}: {agenda} on the agenda, {sum(tally.values())} decided, "
            f"{closed.carried} carried to {closed.carried_to}"
        )

    def month_end(self, month: dt.date) -> None:
        """Close the month's tallies into a :class:`MonthLine`."""
        self.report.months.append(
            MonthLine(
                month=month.strftime("%Y-%m"),
                raised=self.month_raised,
                finished=self.month_finished,
                open_at_end=len(self.open_items),
                levels=dict(self.month_levels),
                meetings=tuple(self.month_meetings),
            )
        )
        self.month_raised = self.month_finished = 0
        self.month_levels = Counter()
        self.month_meetings = []


def simulate_year(
    engine: Engine,
    world: World,
    *,
    first: dt.date,
    last: dt.date,
    problems: int = 300,
    seed: int = 2026,
    on_month: Callable[[MonthLine], None] | None = None,
    evening: Callable[[dt.datetime], None] | None = None,
) -> YearReport:
    """Play ``problems`` problems raised between ``first`` and ``last`` (inclusive).

    ``engine`` must be over an upgraded database with the shipped
    ``enterprise_issue`` definition and a directory that knows ``world``'s
    people; its clock is replaced by the simulation's. ``on_month`` is told
    each month as it ends; ``evening`` runs after each evening's escalation
    pass (e.g. a notification dispatch pass).
    """
    if last < first:
        raise ValueError("the last day comes before the first")
    started = time.perf_counter()
    year = _Year(engine, world, first, last, seed, evening)
    zone = year.zone
    working = [
        first + dt.timedelta(days=n)
        for n in range((last - first).days + 1)
        if year.calendar.is_working_day(first + dt.timedelta(days=n))
    ]
    # Problems arrive over the year's working days, fewer in the last weeks so
    # most of them are settled, as a real list's would be by the year's end.
    arrivals = sorted(
        year.later(
            dt.datetime.combine(
                working[min(len(working) - 1, int(len(working) * year.rng.random() ** 1.1))]
                - dt.timedelta(days=1),
                dt.time(18),
                zone,
            ),
            1,
        )
        for _ in range(problems)
    )
    for when in arrivals:
        year.at(when, year.raise_plan)
    day = first
    while day <= last:
        year.at(dt.datetime.combine(day, EVENING, zone), year.evening)
        day += dt.timedelta(days=1)
    start = dt.datetime.combine(first, dt.time(0), zone)
    for name, review in reviews.collect_reviews(engine.catalog).items():
        held = next_occurrence(review.cron, start, year.calendar.timezone)
        while held <= year.end:
            year.at(held, partial(year.meeting, name, held))
            held = next_occurrence(review.cron, held, year.calendar.timezone)
    month = first.replace(day=1)
    while year.queue:
        when, _, action = heapq.heappop(year.queue)
        local = when.astimezone(zone)
        while (local.year, local.month) != (month.year, month.month):
            year.month_end(month)
            if on_month is not None:
                on_month(year.report.months[-1])
            month = (month + dt.timedelta(days=32)).replace(day=1)
        year.clock.set(when.astimezone(dt.UTC))
        action()
    while month <= last:
        year.month_end(month)
        if on_month is not None:
            on_month(year.report.months[-1])
        month = (month + dt.timedelta(days=32)).replace(day=1)
    year.report.seconds = time.perf_counter() - started
    return year.report
