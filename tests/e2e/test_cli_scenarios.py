"""``workflow test``: the shipped scenarios pass with full coverage; failures say exactly where.

Through the `workflow` command line, in-process (``tests/e2e/cli.py``). A
deliberately broken scenario fails with its file, line and column, the
scenario, the step, the expected and the actual value.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.e2e.cli import run

SHIPPED = ("enterprise_issue", "policy_application", "public_opinion", "star_enterprises")

BROKEN = """\
workflow: enterprise_issue
scenarios:
  - name: accepted
    start:
      as: enterprise:ent.zhao
      data:
        enterprise: e_pixel
        district: d_jianghan
        sector: animation_games
        title: Need a shooting venue
        description: We need a venue for a motion-capture shoot.
        category: venues
    steps:
      - fire: accept
        as: office:office.li
        input: {lead_unit: u_culture}
        expect: {state: handling, fields: {lead_unit: u_culture}}
      - fire: sign_for
        as: unit:unit.qian
        expect_refused: {error: EventNotAllowed}
  - name: withdrawn
    start:
      as: enterprise:ent.zhao
      data: {enterprise: e_pixel, district: d_jianghan, sector: animation_games,
             title: t, description: d, category: venues}
    steps:
      - fire: withdraw
        as: enterprise:ent.zhao
        expect: {state: withdrawn}
"""


def write(folder: Path, text: str, name: str = "broken.yaml") -> Path:
    (folder / "_scenarios").mkdir(exist_ok=True)
    path = folder / "_scenarios" / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_scenarios_pass_and_cover_every_state_event_and_level() -> None:
    result = run("test", "definitions/", "--coverage", "--fail-under", "100")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    for workflow in (*SHIPPED, "whistle_summons"):
        assert f"definitions/_scenarios/{workflow}.yaml" in result.stdout
        [covered] = [line for line in lines if line.startswith(f"{workflow}: ")]
        assert covered.endswith("(100%)"), covered
    summary = next(line for line in lines if " passed" in line)
    assert re.match(r"^\d+ passed in [\d.]+s \(per scenario: mean [\d.]+s, slowest", summary)
    assert "failed" not in summary
    assert "states never reached" not in result.stdout
    assert "events never fired" not in result.stdout
    assert "ladder levels never fired" not in result.stdout
    assert "refusal kinds never exercised" not in result.stdout


def test_a_broken_scenario_fails_with_its_position_and_both_values(tmp_path: Path) -> None:
    write(tmp_path, BROKEN)
    result = run("test", "_scenarios/broken.yaml", cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "_scenarios/broken.yaml F."
    failures = [line for line in lines if line.startswith("_scenarios/broken.yaml:")]
    assert failures == [
        "_scenarios/broken.yaml:17:18: scenario accepted, step 1: "
        "expected state 'handling', got 'dispatched'",
        # The refusal expected is at its `error:` key.
        "_scenarios/broken.yaml:20:26: scenario accepted, step 2: "
        "expected EventNotAllowed, got NotAuthorized: item 1: 'unit.qian' may not fire "
        "'sign_for': does not act for the item's lead_unit (role 'unit')",
    ]
    assert lines[-1].startswith("1 passed, 1 failed in ")
    assert "Traceback" not in result.stderr


def test_json_carries_the_expected_and_actual_values(tmp_path: Path) -> None:
    write(tmp_path, BROKEN)
    result = run("test", str(tmp_path), "--json", "-k", "accept*", "--coverage", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    document = json.loads(result.stdout)
    assert document["passed"] is False
    [scenario] = document["scenarios"]
    assert scenario["name"] == "accepted"
    first = scenario["failures"][0]
    assert (first["line"], first["column"], first["step"]) == (17, 18, "step 1")
    assert (first["expected"], first["actual"]) == ("handling", "dispatched")
    [coverage] = document["coverage"]
    assert coverage["workflow"] == "enterprise_issue"
    assert coverage["percent"] < 100
    assert "closed" in coverage["missed"]["states"]


def test_a_bad_file_is_reported_with_positions_and_nothing_runs(tmp_path: Path) -> None:
    bad = BROKEN.replace("expect: {state: withdrawn}", "expect: {state: withdrawn, colour: red}")
    bad = bad.replace("workflow: enterprise_issue", "workflow: enterprise_isue")
    write(tmp_path, bad)
    write(tmp_path, "scenarios: [\n", name="unclosed.yaml")
    result = run("test", ".", cwd=tmp_path)
    assert result.returncode == 1
    assert "_scenarios/broken.yaml:29:36: unknown key 'colour'" in result.stdout
    assert "_scenarios/unclosed.yaml:2:1: YAML syntax error" in result.stdout
    assert "0 passed, 2 file(s) with problems" in result.stdout
    assert "Traceback" not in result.stderr
    validated = run("validate", ".", cwd=tmp_path)
    assert validated.returncode == 1
    assert "_scenarios/broken.yaml:29:36: unknown key 'colour'" in validated.stdout


def test_a_missing_path_and_coverage_under_the_bar(tmp_path: Path) -> None:
    assert run("test", "nowhere", cwd=tmp_path).returncode == 3
    result = run(
        "test",
        "definitions/_scenarios/public_opinion.yaml",
        "-k",
        "dismissed",
        "--fail-under",
        "90",
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 passed in" in result.stdout
    assert "public_opinion coverage" in result.stderr
    assert "is under 90%" in result.stderr
