"""Scenario files: the format, positioned problems for bad files, durations and waits.

A bad scenario file is reported at its file, line and column with what is
wrong, like a bad definition; no content makes the loader raise anything
else (a hypothesis test feeds it garbage).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workflow.app import load_definitions
from workflow.scenarios.loader import (
    ScenarioFileError,
    check_names,
    definitions_folder,
    find_scenario_files,
    load_scenario_file,
)
from workflow.scenarios.model import Duration, Step, parse_duration
from workflow.scenarios.runner import later
from workflow.schedule.calendar import BusinessCalendar

GOOD = """\
workflow: public_opinion
scenarios:
  - name: dismissed
    start:
      as: office:office.li
      data: {title: t}
    steps:
      - fire: dismiss
        as: office:office.li
        reason: Not about the enterprise.
        expect: {state: dismissed}
      - wait: 2 working days
      - tick
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ScenarioFileError) as caught:
        load_scenario_file("s.yaml", text)
    return [str(p) for p in caught.value.problems]


def test_a_good_file_is_read_with_positions() -> None:
    loaded = load_scenario_file("s.yaml", GOOD)
    scenario = loaded.spec.scenarios[0]
    assert [step.action for step in scenario.steps] == ["fire", "wait", "tick"]
    assert scenario.steps[0].expect is not None
    assert scenario.steps[0].expect.state == "dismissed"
    assert loaded.where(("scenarios", 0, "steps", 0, "expect", "state")) == "s.yaml:11:18"


def test_an_unknown_key_is_named_where_it_stands_with_a_suggestion() -> None:
    text = GOOD.replace("expect: {state: dismissed}", "expcet: {state: dismissed}")
    assert problems(text) == ["s.yaml:11:9: unknown key 'expcet'; did you mean 'expect'?"]


def test_an_unknown_expectation_key_is_named_too() -> None:
    text = GOOD.replace("{state: dismissed}", "{stat: dismissed}")
    assert problems(text) == ["s.yaml:11:18: unknown key 'stat'; did you mean 'state'?"]


def test_a_wait_that_is_no_duration() -> None:
    [problem] = problems(GOOD.replace("2 working days", "two weeks"))
    assert problem.startswith("s.yaml:12:9: ")
    assert "'two weeks' is not a duration" in problem


def test_a_fire_step_needs_an_actor() -> None:
    [problem] = problems(
        GOOD.replace("        as: office:office.li\n        reason", "        reason")
    )
    assert problem.startswith("s.yaml:8:9: ")
    assert "a fire step needs `as: ROLE:PERSON`" in problem


def test_a_step_does_one_thing() -> None:
    [problem] = problems(GOOD.replace("      - tick\n", "      - {tick: true, wait: 1 hour}\n"))
    assert problem.startswith("s.yaml:13:9: ")
    assert "a step does one thing; this one has wait and tick" in problem


def test_refusal_kinds_are_the_engines() -> None:
    text = GOOD.replace("expect: {state: dismissed}", "expect_refused: {error: Forbidden}")
    [problem] = problems(text)
    assert problem.startswith("s.yaml:11:33: ")
    assert "NotAuthorized" in problem


def test_every_problem_is_reported_at_once() -> None:
    text = GOOD.replace("wait: 2 working days", "wait: soon").replace(
        "as: office:office.li\n      data", "as: nobody\n      data"
    )
    found = problems(text)
    assert [p.split(": ")[0] for p in found] == ["s.yaml:5:11", "s.yaml:12:9"]


def test_two_scenarios_with_one_name() -> None:
    second = GOOD.split("scenarios:\n")[1]
    assert problems(GOOD + second) == [
        "s.yaml:14:11: another scenario is named 'dismissed' (at line 3); "
        "names must be unique in a file"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- just a list\n", "s.yaml:1:1: a scenario file is a mapping: workflow, scenarios"),
        ("workflow: [unclosed\n", "s.yaml:2:1: YAML syntax error"),
        ("workflow: x\nworkflow: y\nscenarios: []\n", "s.yaml:2:1: duplicate key 'workflow'"),
        ("workflow: x\nscenarios: []\n", "s.yaml:2:12: scenarios: List should have at least 1"),
    ],
)
def test_unreadable_files(text: str, expected: str) -> None:
    [problem] = problems(text)
    assert problem.startswith(expected)


def test_names_are_checked_against_the_definitions() -> None:
    catalog = load_definitions(None)
    text = GOOD.replace("fire: dismiss", "fire: dismis").replace(
        "state: dismissed", "state: dismised"
    )
    found = [str(p) for p in check_names(load_scenario_file("s.yaml", text), catalog)]
    assert found == [
        "s.yaml:8:15: public_opinion has no event 'dismis'; did you mean 'dismiss'?",
        "s.yaml:11:25: public_opinion has no state 'dismised'; did you mean 'dismissed'?",
    ]
    levels = GOOD.replace(
        "expect: {state: dismissed}",
        "expect: {escalations: [reminder, task_forse], agenda: [{review: monthly}],\n"
        "                 deadlines: [{scope: verifyng}]}",
    )
    found = [str(p) for p in check_names(load_scenario_file("s.yaml", levels), catalog)]
    assert found == [
        "s.yaml:11:42: public_opinion has no ladder level 'task_forse'; did you mean 'task_force'?",
        "s.yaml:11:73: public_opinion has no review 'monthly'",
        "s.yaml:12:38: public_opinion has no state 'verifyng'; did you mean 'verifying'?",
    ]
    other = GOOD.replace("workflow: public_opinion", "workflow: public_opinon")
    assert [str(p) for p in check_names(load_scenario_file("s.yaml", other), catalog)] == [
        "s.yaml:1:11: no workflow 'public_opinon' in the definitions; "
        "did you mean 'public_opinion'?"
    ]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.text(max_size=300),
        st.lists(
            st.sampled_from(
                [
                    "workflow: x\n",
                    "scenarios:\n",
                    "  - name: a\n",
                    "    start: {as: 'office:li'}\n",
                    "    steps:\n",
                    "      - tick\n",
                    "      - wait: 3 hours\n",
                    "      - fire: go\n",
                    "        expect: {deadlines: [{due: 2026-13-40}]}\n",
                    "        expect_refused: {error: GuardFailed}\n",
                    "  &a [*a, *a]\n",
                    "{[\n",
                    "- !!python/object:os.system\n",
                    "\t\x00",
                ]
            ),
            max_size=12,
        ).map("".join),
    )
)
def test_garbage_never_crashes_the_loader(text: str) -> None:
    found = []
    try:
        load_scenario_file("g.yaml", text)
    except ScenarioFileError as error:
        found = list(error.problems) or [None]
    assert all(
        p is not None and p.file == "g.yaml" and p.line >= 1 and p.column >= 1 for p in found
    )


def test_scenario_files_are_found_in_scenario_folders(tmp_path: Path) -> None:
    (tmp_path / "_scenarios").mkdir()
    (tmp_path / "_scenarios" / "a.yaml").write_text(GOOD, encoding="utf-8")
    (tmp_path / "_scenarios" / "notes.txt").write_text("not a scenario", encoding="utf-8")
    (tmp_path / "a.yaml").write_text("id: a definition", encoding="utf-8")
    found, missing = find_scenario_files([str(tmp_path), str(tmp_path / "nowhere")])
    assert found == [str(tmp_path / "_scenarios" / "a.yaml")]
    assert [p.message for p in missing] == ["no such file or folder"]
    assert definitions_folder(found[0]) == str(tmp_path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3 working days", Duration(amount=3, unit="working_days")),
        ("1 working day", Duration(amount=1, unit="working_days")),
        ("2 days", Duration(amount=2, unit="calendar_days")),
        ("2 calendar days", Duration(amount=2, unit="calendar_days")),
        ("4 hours", Duration(amount=4, unit="hours")),
        ("30 minutes", Duration(amount=30, unit="minutes")),
        ("three days", None),
        ("3 weeks", None),
        ("-1 hours", None),
    ],
)
def test_durations(text: str, expected: Duration | None) -> None:
    assert parse_duration(text) == expected


def test_bare_tick_and_dispatch_steps() -> None:
    assert Step.model_validate("tick").action == "tick"
    assert Step.model_validate("dispatch").action == "dispatch"


SHANGHAI = dt.timezone(dt.timedelta(hours=8))


@pytest.mark.parametrize(
    ("start", "span", "expected"),
    [
        # Friday 10:00 + 3 working days: the weekend does not count.
        ((2026, 11, 6, 10), "3 working days", (2026, 11, 11, 10)),
        # The National Day holiday (1-7 October 2026) does not count.
        ((2026, 9, 30, 10), "1 working day", (2026, 10, 8, 10)),
        # Saturday 10 October 2026 is an adjusted working day (調休).
        ((2026, 9, 30, 10), "3 working days", (2026, 10, 10, 10)),
        ((2026, 9, 30, 10), "2 days", (2026, 10, 2, 10)),
        ((2026, 9, 30, 23), "4 hours", (2026, 10, 1, 3)),
    ],
)
def test_waiting_on_the_business_calendar(
    start: tuple[int, ...], span: str, expected: tuple[int, ...]
) -> None:
    calendar = BusinessCalendar()
    duration = parse_duration(span)
    assert duration is not None
    moved = later(dt.datetime(*start, tzinfo=SHANGHAI), duration, calendar)
    assert moved == dt.datetime(*expected, tzinfo=SHANGHAI)
