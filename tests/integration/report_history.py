"""A small fixed history for the report tests, made by driving the real engine.

Seven items of the shipped ``enterprise_issue`` workflow on a manual clock
(all times 10:00 in Shanghai unless said otherwise), two districts, two units:

====  ===========  =========  ================================================================
item  district     unit       story
====  ===========  =========  ================================================================
G     d_jianghan   u_finance  raised 1 Jul, signed for 2 Jul, left late: every level up to the
                              quarterly dispatch fires on 21 Aug (agenda 2026-Q4); the leaders
                              set a new deadline on 13 Oct; replied 20 Oct, closed 22 Oct (late)
A     d_jianghan   u_culture  raised 26 Oct, signed for 27 Oct, closed 30 Oct (on time)
B     d_jianghan   u_culture  raised 2 Nov, signed for 3 Nov, satisfied, closed 9 Nov (on time)
C     d_jianghan   u_culture  raised 2 Nov 11:00, signed for 5 Nov, unsatisfied revisit 11 Nov
                              (reopened), signed again 12 Nov, basically satisfied 16 Nov,
                              closed 17 Nov (on time)
D     d_wuchang    u_finance  raised 3 Nov, signed for 4 Nov, never replied: due 25 Nov 17:30;
                              warning and reminder on 27 Nov, monthly review on 30 Nov
E     d_wuchang    u_finance  raised 4 Nov, signed for 6 Nov: due 27 Nov 17:30; warning and
                              reminder on 27 Nov 18:00; replied 30 Nov, closed 30 Nov (late)
F     d_wuchang    u_culture  raised 20 Nov, signed for 23 Nov, in handling (due 14 Dec)
====  ===========  =========  ================================================================

The hand-computed figures the tests expect are written next to each test.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from tests.integration.engine_fixtures import START_DATA
from workflow.app import Engine
from workflow.core.clock import ManualClock
from workflow.core.values import Actor
from workflow.schedule.scan import Escalator

__all__ = ["NOW", "START", "Story", "local", "make_history"]

SHANGHAI = ZoneInfo("Asia/Shanghai")

OFFICE = Actor("li", frozenset({"office"}))
LEADER = Actor("wu", frozenset({"leader"}))
CULTURE = Actor("chen", frozenset({"unit"}))
FINANCE = Actor("qian", frozenset({"unit"}))
ENTERPRISE = Actor("zhao", frozenset({"enterprise"}))
COMMISSIONER = Actor("sun", frozenset({"commissioner"}))

NOW_LOCAL = dt.datetime(2026, 12, 2, 10, 0, tzinfo=SHANGHAI)
NOW = NOW_LOCAL.astimezone(dt.UTC)
"""When the reports are made: Wednesday 2 December 2026, 10:00 in Shanghai."""


def local(month: int, day: int, hour: int = 10, minute: int = 0) -> dt.datetime:
    """A time of 2026 in Shanghai, as aware UTC."""
    return dt.datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI).astimezone(dt.UTC)


@dataclass(frozen=True)
class Story:
    """The ids of the seven items."""

    a: int
    b: int
    c: int
    d: int
    e: int
    f: int
    g: int


START = dt.datetime(2026, 6, 30, tzinfo=dt.UTC)
"""Where the history's clock starts (:func:`make_history` needs a clock no later)."""


class _Driver:
    def __init__(self, engine: Engine, clock: ManualClock) -> None:
        self.engine = engine
        self.clock = clock

    def start(self, when: dt.datetime, title: str, district: str, **extra: Any) -> int:
        self.clock.set(when)
        data = {**START_DATA, "title": title, "district": district, **extra}
        return self.engine.start("enterprise_issue", ENTERPRISE, data).id

    def fire(
        self,
        item_id: int,
        when: dt.datetime,
        event: str,
        actor: Actor,
        data: dict[str, Any] | None = None,
        reason: str | None = None,
    ) -> None:
        self.clock.set(when)
        self.engine.fire(item_id, event, actor, data, reason=reason)

    def dispatch(self, item_id: int, when: dt.datetime, unit: str) -> None:
        self.fire(item_id, when, "accept", OFFICE, {"lead_unit": unit})

    def reply(self, item_id: int, when: dt.datetime, actor: Actor) -> None:
        result = {"result": "Found a solution with the district.", "resolution": "solved"}
        self.fire(item_id, when, "reply", actor, result)

    def close(self, item_id: int, revisit: dt.datetime, closed: dt.datetime) -> None:
        self.fire(item_id, revisit, "record_revisit", COMMISSIONER, {"satisfaction": "satisfied"})
        self.fire(item_id, revisit + dt.timedelta(hours=1), "sign_off", ENTERPRISE)
        self.fire(item_id, closed, "strike_off", OFFICE)


def make_history(engine: Engine, clock: ManualClock) -> Story:
    """Drive the seven items through their stories; leave the clock at :data:`NOW`.

    ``clock`` is the engine's, at :data:`START` or earlier.
    """
    run = _Driver(engine, clock)
    escalator = Escalator(engine)

    g = run.start(local(7, 1), "Studio lease subsidy", "d_jianghan")
    run.dispatch(g, local(7, 1, 11), "u_finance")
    run.fire(g, local(7, 2), "sign_for", FINANCE)
    escalator.tick(local(8, 21))
    run.fire(g, local(10, 13), "set_new_deadline", LEADER, {"days": 10}, "Leaders: 10 more days")
    run.reply(g, local(10, 20), FINANCE)
    run.close(g, local(10, 21), local(10, 22))

    a = run.start(local(10, 26), "Talent apartment", "d_jianghan")
    run.dispatch(a, local(10, 26, 11), "u_culture")
    run.fire(a, local(10, 27), "sign_for", CULTURE)
    run.reply(a, local(10, 28), CULTURE)
    run.close(a, local(10, 29), local(10, 30))

    b = run.start(local(11, 2), "Shooting venue", "d_jianghan")
    run.dispatch(b, local(11, 2, 10, 30), "u_culture")
    c = run.start(local(11, 2, 11), "Game licence", "d_jianghan", sector="online_audiovisual")
    run.dispatch(c, local(11, 2, 12), "u_culture")
    run.fire(b, local(11, 3), "sign_for", CULTURE)
    d = run.start(local(11, 3), "Financing match", "d_wuchang", sector="digital_services")
    run.dispatch(d, local(11, 3, 11), "u_finance")
    run.fire(d, local(11, 4), "sign_for", FINANCE)
    e = run.start(local(11, 4), "Export credit", "d_wuchang", sector="digital_services")
    run.dispatch(e, local(11, 4, 11), "u_finance")
    run.fire(c, local(11, 5), "sign_for", CULTURE)
    run.reply(b, local(11, 5), CULTURE)
    run.fire(e, local(11, 6), "sign_for", FINANCE)
    run.close(b, local(11, 6), local(11, 9))
    run.reply(c, local(11, 10), CULTURE)
    unsatisfied = {"satisfaction": "unsatisfied", "comment": "The licence is still missing."}
    run.fire(c, local(11, 11), "record_revisit", COMMISSIONER, unsatisfied)
    run.fire(c, local(11, 12), "sign_for", CULTURE)
    run.reply(c, local(11, 13), CULTURE)
    basically = {"satisfaction": "basically_satisfied"}
    run.fire(c, local(11, 16), "record_revisit", COMMISSIONER, basically)
    run.fire(c, local(11, 16, 11), "sign_off", ENTERPRISE)
    run.fire(c, local(11, 17), "strike_off", OFFICE)
    f = run.start(local(11, 20), "Publicity slot", "d_wuchang")
    run.dispatch(f, local(11, 20, 11), "u_culture")
    run.fire(f, local(11, 23), "sign_for", CULTURE)
    escalator.tick(local(11, 27, 18))
    run.reply(e, local(11, 30), FINANCE)
    run.close(e, local(11, 30, 11), local(11, 30, 14))
    escalator.tick(local(11, 30, 20))
    clock.set(NOW)
    return Story(a=a, b=b, c=c, d=d, e=e, f=f, g=g)
