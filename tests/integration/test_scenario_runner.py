"""The scenario runner, in process: each kind of expectation fails with the expected and actual.

One file of deliberately failing scenarios runs once (against the shipped
definitions, since its folder holds none); each test reads the failures of
one scenario. Failures point at the expectation's key, and a step that
cannot go on stops its scenario.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from workflow import RunResults, run_scenarios
from workflow.scenarios.coverage import coverage

FILE = """\
workflow: enterprise_issue
x-problem: &problem
  enterprise: e_pixel
  district: d_jianghan
  sector: animation_games
  title: Need a shooting venue
  description: We need a venue for a motion-capture shoot next month.
  category: venues
scenarios:
  - name: every expectation of a fire step
    start: {as: "enterprise:ent.zhao", data: *problem}
    steps:
      - fire: accept
        as: office:office.li
        input: {lead_unit: u_culture}
        expect:
          state: dispatched
          fields: {lead_unit: u_hr, reopen_count: 0}
          deadlines: [{scope: dispatched, due: 2026-11-03 17:00}]
          notifications: [{to: office}]
          history: [{event: accept, to: handling}]
          branches: []
          open: false
  - name: a refusal that does not come stops the scenario
    start: {as: "enterprise:ent.zhao", data: *problem}
    steps:
      - fire: accept
        as: office:office.li
        input: {lead_unit: u_culture}
        expect_refused: {error: NotAuthorized}
      - expect: {state: closed}
  - name: the wrong guard and the wrong field
    start: {as: "enterprise:ent.zhao", data: *problem}
    steps:
      - fire: accept
        as: office:office.li
        input: {}
        expect_refused: {error: InvalidInput, field: title}
      - fire: accept
        as: office:office.li
        input: {lead_unit: u_culture}
      - fire: return_to_office
        as: unit:unit.chen
        reason: Not ours.
      - fire: redispatch
        as: office:office.li
        input: {lead_unit: u_culture}
        expect_refused: {error: GuardFailed, guard: item.extension_pending, message_contains: xyz}
  - name: a refused fire stops the scenario
    start: {as: "enterprise:ent.zhao", data: *problem}
    steps:
      - fire: sign_for
        as: unit:unit.chen
      - expect: {state: closed}
  - name: time does not go back
    start: {as: "enterprise:ent.zhao", data: *problem}
    steps:
      - until: 2026-11-01 09:00
  - name: a start that is refused
    start: {as: "unit:unit.chen", data: *problem}
  - name: ladders and agendas
    start: {as: "enterprise:ent.zhao", data: *problem}
    steps:
      - wait: 3 working days
      - tick: true
        expect:
          escalations: [reminder]
          agenda: [{review: quarterly}]
  - name: a passing one with a dispatch
    start: {as: "enterprise:ent.zhao", data: *problem}
    steps:
      - fire: withdraw
        as: enterprise:ent.zhao
        reason: Solved it ourselves.
      - dispatch: true
        expect: {notifications: []}
"""


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> RunResults:
    folder = tmp_path_factory.mktemp("scenarios") / "_scenarios"
    folder.mkdir()
    (folder / "issue.yaml").write_text(FILE, encoding="utf-8")
    return run_scenarios([str(folder.parent)])


def failures(results: RunResults, name: str) -> list[str]:
    [result] = [r for r in results.results if r.name == name]
    return [f"{f.line}:{f.column} {f.step}: {f.message}" for f in result.failures]


def test_every_expectation_of_a_step_is_checked(results: RunResults) -> None:
    assert failures(results, "every expectation of a fire step") == [
        "23:11 step 1: expected open false, got true",
        "18:20 step 1: expected lead_unit 'u_hr', got 'u_culture'",
        "19:23 step 1: expected an open deadline {'scope': 'dispatched', "
        "'due': '2026-11-03 17:00'}, got dispatched due 2026-11-03 17:30",
        "20:27 step 1: expected a notification {'to': 'office'}, got intent event to unit",
        "21:21 step 1: expected history row {'event': 'accept', 'to': 'handling'}, "
        "got event accept collected -> dispatched by office.li",
    ]


def test_an_expected_refusal_that_does_not_come(results: RunResults) -> None:
    # The item moved on: the next step's expectation is not judged.
    assert failures(results, "a refusal that does not come stops the scenario") == [
        "30:9 step 1: expected NotAuthorized, got 'accept' fired (state now 'dispatched')"
    ]


def test_the_refusal_details_are_checked(results: RunResults) -> None:
    found = failures(results, "the wrong guard and the wrong field")
    assert found[0] == "38:47 step 1: expected invalid field 'title', got 'lead_unit'"
    assert found[1] == (
        "48:46 step 4: expected guard 'item.extension_pending' to fail, "
        "got 'input.lead_unit != item.lead_unit'"
    )
    assert found[2].startswith("48:77 step 4: expected the message to contain 'xyz', got ")
    assert len(found) == 3


def test_a_refused_fire_stops_its_scenario(results: RunResults) -> None:
    [found] = failures(results, "a refused fire stops the scenario")
    assert found.startswith(
        "52:9 step 1: expected 'sign_for' to fire, got EventNotAllowed: item 1: event "
        "'sign_for' is not allowed in state 'collected'"
    )


def test_time_does_not_go_back(results: RunResults) -> None:
    assert failures(results, "time does not go back") == [
        "58:9 step 1: until 2026-11-01 09:00 is before the scenario's clock"
    ]


def test_a_refused_start(results: RunResults) -> None:
    [found] = failures(results, "a start that is refused")
    assert found.startswith("60:5 start: the item could not be started: NotAuthorized: ")


def test_ladders_and_agendas(results: RunResults) -> None:
    assert failures(results, "ladders and agendas") == [
        "67:11 step 2: expected escalations ['reminder'], got ['warning', 'reminder']",
        "68:20 step 2: expected on the agenda {'review': 'quarterly'}, got none",
    ]


def test_the_run_as_a_whole(results: RunResults) -> None:
    assert not results.passed
    assert [r.name for r in results.results if r.passed] == ["a passing one with a dispatch"]
    assert all(r.seconds < 5 for r in results.results)
    [issue] = coverage(results)
    assert issue.workflow == "enterprise_issue"
    assert "withdrawn" not in issue.missed_states
    assert "closed" in issue.missed_states
    assert {"accept", "return_to_office", "withdraw"}.isdisjoint(issue.missed_events)
    assert "warning" not in issue.missed_levels
    assert "quarterly_dispatch" in issue.missed_levels
    assert "redispatch: input.lead_unit != item.lead_unit" not in issue.guards_never_false
    # Refusals that happened in fire steps (a refused start is a failure, not a refusal).
    assert set(issue.refusals) == {
        "InvalidInput",
        "GuardFailed",
        "EventNotAllowed",
    }


def test_a_bad_file_is_a_problem_not_an_exception(tmp_path: Path) -> None:
    (tmp_path / "_scenarios").mkdir()
    (tmp_path / "_scenarios" / "bad.yaml").write_text("workflow: x\nscenarios: 3\n", "utf-8")
    found = run_scenarios([str(tmp_path)])
    assert not found.passed
    assert found.results == ()
    assert [(p.line, p.column) for p in found.problems] == [(2, 12)]
