"""Report periods, statistics, assessment weights and scores, and the report rules."""

from __future__ import annotations

import datetime as dt

import pytest

from workflow.cli import reports as report_command
from workflow.reports import FORMATS, REPORTS, RULES, BadReportPeriod, ReportError
from workflow.reports.assessment import AssessmentWeights, parse_weights, score
from workflow.reports.facts import median, p90, ratio
from workflow.reports.figures import GroupFigures
from workflow.reports.periods import parse_period
from workflow.reports.rules import GROUPINGS, rules_for

ZONE = "Asia/Shanghai"


@pytest.mark.parametrize(
    ("text", "label", "start", "end", "previous"),
    [
        ("2026-11", "2026-11", (2026, 11, 1), (2026, 12, 1), "2026-10"),
        ("2026-01", "2026-01", (2026, 1, 1), (2026, 2, 1), "2025-12"),
        ("2026-Q3", "2026-Q3", (2026, 7, 1), (2026, 10, 1), "2026-Q2"),
        ("2026-Q1", "2026-Q1", (2026, 1, 1), (2026, 4, 1), "2025-Q4"),
        ("2026-H2", "2026-H2", (2026, 7, 1), (2027, 1, 1), "2026-H1"),
        ("2026-H1", "2026-H1", (2026, 1, 1), (2026, 7, 1), "2025-H2"),
        (" 2026 ", "2026", (2026, 1, 1), (2027, 1, 1), "2025"),
    ],
)
def test_a_period_runs_from_local_midnight_to_local_midnight(
    text: str,
    label: str,
    start: tuple[int, int, int],
    end: tuple[int, int, int],
    previous: str,
) -> None:
    period = parse_period(text, ZONE)
    eight = dt.timedelta(hours=8)  # Shanghai is UTC+8 all year
    assert period.label == label
    assert period.start == dt.datetime(*start, tzinfo=dt.UTC) - eight
    assert period.end == dt.datetime(*end, tzinfo=dt.UTC) - eight
    assert period.previous().label == previous
    assert period.previous().end == period.start
    assert period.contains(period.start)
    assert not period.contains(period.end)


def test_the_quarters_of_a_period() -> None:
    assert parse_period("2026", ZONE).quarters() == ("2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4")
    assert parse_period("2026-H2", ZONE).quarters() == ("2026-Q3", "2026-Q4")
    assert parse_period("2026-Q2", ZONE).quarters() == ("2026-Q2",)
    assert parse_period("2026-05", ZONE).quarters() == ("2026-Q2",)


@pytest.mark.parametrize("text", ["2026-13", "2026-Q5", "2026-H3", "26", "2026/11", "Nov 2026", ""])
def test_a_misnamed_period_is_refused_with_the_forms(text: str) -> None:
    with pytest.raises(BadReportPeriod, match=r"2026-11.*2026-Q3.*2026-H2.*2026") as caught:
        parse_period(text, ZONE)
    assert caught.value.exit_code == 2


def test_median_and_nearest_rank_p90() -> None:
    assert median([]) is None
    assert p90([]) is None
    assert (median([5]), p90([5])) == (5.0, 5)
    assert (median([3, 1]), p90([3, 1])) == (2.0, 3)
    assert (median([1, 1, 1, 2, 3]), p90([1, 1, 1, 2, 3])) == (1.0, 3)
    ten = list(range(1, 11))
    assert (median(ten), p90(ten)) == (5.5, 9)  # ceil(0.9 x 10) = 9th
    assert p90(list(range(1, 12))) == 10  # ceil(9.9) = 10th of 11
    assert ratio(1, 0) is None
    assert ratio(1, 4) == 0.25


def _figures(**rates: float | None) -> GroupFigures:
    base: dict[str, float | None] = {
        "on_time_rate": None,
        "satisfaction_rate": None,
        "reopen_rate": None,
        "prompt_sign_for_rate": None,
    }
    base.update(rates)
    return GroupFigures(
        received=1,
        closed=1,
        closed_on_time=0,
        on_time_rate=base["on_time_rate"],
        sign_for_median=None,
        sign_for_p90=None,
        closure_median=None,
        closure_p90=None,
        reopened=0,
        reopen_rate=base["reopen_rate"],
        revisits=0,
        satisfied=0,
        satisfaction_rate=base["satisfaction_rate"],
        overdue=(),
        sign_fors=0,
        prompt_sign_fors=0,
        prompt_sign_for_rate=base["prompt_sign_for_rate"],
    )


def test_the_score_is_a_weighted_mean_of_the_rates_the_group_has() -> None:
    weights = AssessmentWeights()
    full = _figures(
        on_time_rate=0.5, satisfaction_rate=1.0, reopen_rate=0.25, prompt_sign_for_rate=0.0
    )
    # 100 x (0.4 x 0.5 + 0.3 x 1 + 0.15 x 0.75 + 0.15 x 0) = 61.25 -> 61.2 or 61.3 (binary)
    assert score(full, weights) == pytest.approx(61.25, abs=0.051)
    # No closure and no sign-for: only satisfaction counts, in full.
    assert score(_figures(satisfaction_rate=0.8), weights) == 80.0
    assert score(_figures(), weights) is None
    only_on_time = AssessmentWeights(on_time=1, satisfaction=0, no_reopen=0, prompt_sign_for=0)
    assert score(full, only_on_time) == 50.0


def test_weights_are_read_from_the_command_line_form() -> None:
    assert parse_weights("on_time=0.5, satisfaction=0.5") == AssessmentWeights(
        on_time=0.5, satisfaction=0.5, no_reopen=0.15, prompt_sign_for=0.15
    )
    for bad in ("speed=1", "on_time", "on_time=x", "on_time=-1"):
        with pytest.raises(ReportError, match="NAME=NUMBER"):
            parse_weights(bad)
    with pytest.raises(ReportError, match="not all zero"):
        parse_weights("on_time=0,satisfaction=0,no_reopen=0,prompt_sign_for=0")


def test_the_shipped_workflow_has_rules_and_others_are_named_when_missing() -> None:
    rules = rules_for("enterprise_issue")
    assert rules is RULES["enterprise_issue"]
    assert rules.sign_for_events == ("sign_for",)
    assert set(rules.fields) >= set(GROUPINGS)
    with pytest.raises(ReportError, match="'whistle_summons' has no report rules"):
        rules_for("whistle_summons")


def test_the_command_offers_exactly_the_reports_formats_and_groupings() -> None:
    # The command keeps its own lists so that `workflow --help` does not import the reports.
    assert report_command._NAMES == REPORTS
    assert report_command._FORMATS == FORMATS
    assert report_command._GROUPINGS == GROUPINGS


def test_the_rules_name_events_states_and_a_review_of_the_shipped_definition() -> None:
    from workflow.app import load_definitions

    definition = load_definitions(None).get("enterprise_issue")
    rules = rules_for("enterprise_issue")
    events = {spec.name for spec in definition.spec.events}
    named = {*rules.sign_for_events, *rules.reopen_events, rules.revisit_event}
    assert named <= events
    assert {*rules.closed_states, *rules.on_time_scopes, *rules.reopen_states} <= set(
        definition.states
    )
    assert all(definition.states[s].final for s in rules.closed_states)
    assert rules.dispatch_review in definition.spec.reviews
    assert set(rules.fields.values()) <= set(definition.spec.fields)
    revisit = next(spec for spec in definition.spec.events if spec.name == rules.revisit_event)
    verdicts = revisit.input[rules.satisfaction_input].options or {}
    assert set(rules.satisfied_values) < set(verdicts)


def test_the_day_counter_agrees_with_the_calendar_in_any_order_of_questions() -> None:
    import random

    from workflow.reports.days import DayCounter
    from workflow.schedule.calendar import BusinessCalendar

    calendar = BusinessCalendar()
    counter = DayCounter(calendar)
    pick = random.Random(7)
    base = dt.datetime(2025, 9, 1, tzinfo=dt.UTC)
    for _ in range(300):  # across National Day, New Year and Spring Festival with 調休
        start = base + dt.timedelta(hours=pick.randrange(0, 24 * 240))
        end = start + dt.timedelta(hours=pick.randrange(-48, 24 * 60))
        assert counter.working_days_between(start, end) == calendar.working_days_between(
            start, end
        ), (start, end)
