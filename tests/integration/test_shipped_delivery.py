"""Messages of the new shipped workflows, delivered through the dispatcher (SQLite).

On a Friday night in quiet hours, the public-opinion workflow's urgent
notifications go out at once, rendered by the shipped templates in each
recipient's language and marked urgent; a whistle summons blown at the same
moment is not urgent, so its messages wait for Monday morning. The star-list
judges, who asked for digests, get one message a day (template ``digest``).
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

from notifiers.base import Message
from notifiers.config import parse_notifier_config
from tests.integration.shipped_walks import ON_SQLITE, Walk, person, walk
from workflow.notify.dispatch import Dispatcher

__all__ = ["walk"]

SHANGHAI = dt.timezone(dt.timedelta(hours=8))
FRIDAY_22 = dt.datetime(2026, 11, 6, 22, 0, tzinfo=SHANGHAI)
CONFIG = """\
delivery: {max_attempts: 3, initial_backoff: 30, backoff_factor: 2, max_backoff: 600}
channels:
  email:
    type: console
    recipients: addressed
    quiet_hours: {start: '20:00', end: '08:00', non_working_days: true}
"""
ENTERPRISE_DATA: dict[str, Any] = {
    "enterprise": "e_pixel",
    "district": "d_jianghan",
    "sector": "animation_games",
}


class Inbox:
    """A channel that keeps what it is given."""

    name = "email"

    def __init__(self) -> None:
        self.sent: list[Message] = []
        self._lock = threading.Lock()

    def send(self, message: Message) -> None:
        with self._lock:
            self.sent.append(message)

    def close(self) -> None:
        pass


def _dispatcher(walk: Walk, inbox: Inbox) -> Dispatcher:
    config = parse_notifier_config(CONFIG, environ={})
    return Dispatcher(walk.engine, config, {"email": inbox}, None, walk.clock, rand=lambda: 0.0)


@ON_SQLITE
def test_urgent_public_opinion_messages_cross_quiet_hours(walk: Walk) -> None:
    walk.clock.set(FRIDAY_22)
    opinion = walk.start(
        "public_opinion",
        person("monitor.cao", "monitor"),
        {
            **ENTERPRISE_DATA,
            "title": "游戲防沉迷被指失效",
            "summary": "A viral post claims the play-time limits can be bypassed.",
            "platform": "weibo",
        },
    )
    walk.fire(
        opinion,
        "assess",
        person("office.li", "office"),
        {"severity": "major", "lead_unit": "u_cyber"},
    )
    summons = walk.start(
        "whistle_summons",
        person("district.he", "district_office"),
        {**ENTERPRISE_DATA, "title": "園區用電增容", "description": "A bigger power connection."},
    )
    walk.fire(
        summons,
        "blow_whistle",
        person("district.he", "district_office"),
        {"called_units": ["u_culture"]},
    )
    inbox = Inbox()
    dispatcher = _dispatcher(walk, inbox)

    report = dispatcher.run_pass()
    # The department leading the handling and the enterprise's commissioner, at 22:00.
    assert sorted(m.address for m in inbox.sent) == [
        "bai@cyber.example.gov.cn",
        "sun@office.example.gov.cn",
    ]
    assert report.sent == 2
    for message in inbox.sent:
        assert message.urgent
        assert message.locale == "zh"
        assert message.subject.startswith("【緊急】")
        assert "游戲防沉迷被指失效" in message.subject
    # The summons' messages (the culture bureau, the commissioner) wait for Monday 08:00.
    walk.clock.set(dt.datetime(2026, 11, 9, 7, 59, tzinfo=SHANGHAI))
    assert dispatcher.run_pass().sent == 0
    walk.clock.set(dt.datetime(2026, 11, 9, 8, 0, tzinfo=SHANGHAI))
    assert dispatcher.run_pass().sent == 2
    later = inbox.sent[2:]
    assert sorted(m.address for m in later) == [
        "chen@culture.example.gov.cn",
        "sun@office.example.gov.cn",
    ]
    assert not any(m.urgent for m in later)
    assert all("園區用電增容" in m.subject for m in later)


@ON_SQLITE
def test_the_star_judges_get_one_digest_a_day(walk: Walk) -> None:
    # Two nominations admitted on Monday morning: the judges asked for digests (sample
    # directory), so each gets ONE message the next morning at 09:00, in their language.
    walk.clock.set(dt.datetime(2026, 11, 2, 10, 0, tzinfo=SHANGHAI))
    for name in ("像素工坊游戲", "墨動動畫"):
        nomination = walk.start(
            "star_enterprises",
            person("comm.sun", "commissioner"),
            {
                **ENTERPRISE_DATA,
                "title": f"{name} 2026年下半年",
                "round": "2026-H2",
                "recommendation": "Strong growth and original titles.",
            },
        )
        walk.fire(nomination, "admit", person("office.li", "office"), {})
    inbox = Inbox()
    dispatcher = _dispatcher(walk, inbox)
    dispatcher.run_pass()
    judges = {
        "fang@judges.example.gov.cn",
        "shi@judges.example.gov.cn",
        "yuan@judges.example.gov.cn",
    }
    # The commissioner (no digest) hears at once, twice; no judge yet.
    assert [m.address for m in inbox.sent] == ["sun@office.example.gov.cn"] * 2
    walk.clock.set(dt.datetime(2026, 11, 3, 8, 59, tzinfo=SHANGHAI))
    dispatcher.run_pass()
    assert len(inbox.sent) == 2
    walk.clock.set(dt.datetime(2026, 11, 3, 9, 0, tzinfo=SHANGHAI))
    dispatcher.run_pass()
    digests = inbox.sent[2:]
    assert sorted(m.address for m in digests) == sorted(judges)
    by_locale = {m.address: m.locale for m in digests}
    assert by_locale["yuan@judges.example.gov.cn"] == "en"
    assert by_locale["fang@judges.example.gov.cn"] == "zh"
    for message in digests:
        assert "像素工坊游戲" in message.body
        assert "墨動動畫" in message.body
