"""`workflow diff` through the command line, on a real version change of a shipped definition."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.conftest import DEFINITIONS, REPO
from tests.e2e.test_cli_items import (
    CULTURE,
    OFFICE,
    PIXEL,
    VENUE,
    assert_one_line_error,
    database_at,
    ok,
    ok_json,
    run,
    run_all,
)

V2_FIXTURE = REPO / "tests" / "fixtures" / "enterprise_issue_v2.yaml"

EXPECTED_TEXT = """\
enterprise_issue v1 → enterprise_issue v2  ({old} → {new})
Workflow:
  ~ workflow: version 1 → 2
Fields:
  + field 'info_request' added: 'Information requested', text
States:
  ~ state 'processing': deadline amount 15 → 10
  + state 'awaiting_info' added: 'Awaiting more information', in open, deadline 5 working_days
Events:
  - event 'amend' removed (was 'Amend the description', from collected, by enterprise, \
commissioner)
  + event 'ask_for_info' added: 'Ask for more information', from collected, to awaiting_info, \
by office
  + event 'provide_info' added: 'Provide the information', from awaiting_info, to collected, \
by enterprise, commissioner
Escalation ladder:
  ~ workflow ladder level 'monthly_review': after 3 → 2
Looks like a rename:
  ? event 'amend' removed and 'provide_info' added look like a rename (same roles, input, \
reason, effects, label)
8 changes
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped definitions with enterprise_issue versions 2 and 3 (3 is 1 again)."""
    target = tmp_path_factory.mktemp("diff") / "definitions"
    shutil.copytree(DEFINITIONS, target, ignore=shutil.ignore_patterns("*.json"))
    shutil.copy(V2_FIXTURE, target / "enterprise_issue_v2.yaml")
    v1 = (DEFINITIONS / "enterprise_issue.yaml").read_text(encoding="utf-8")
    (target / "enterprise_issue_v3.yaml").write_text(
        v1.replace("version: 1\n", "version: 3\n", 1), encoding="utf-8"
    )
    return target


def hashes(stdout: str) -> tuple[str, str]:
    found = re.search(r"\((\w{12}) → (\w{12})\)", stdout)
    assert found, stdout
    return found.group(1), found.group(2)


def test_diff_of_two_files_lists_the_changes(folder: Path) -> None:
    [text] = run_all([("diff", "enterprise_issue.yaml", "enterprise_issue_v2.yaml")], cwd=folder)
    not_here, same, same_exit_code = run_all(
        [
            ("diff", "--exit-code", "enterprise_issue.yaml", "enterprise_issue_v2.yaml"),
            ("diff", "enterprise_issue@1", str(DEFINITIONS / "enterprise_issue.yaml")),
            ("diff", "--exit-code", "enterprise_issue@1", "enterprise_issue@1"),
        ],
    )
    stdout = ok(text)
    old, new = hashes(stdout)
    assert stdout == EXPECTED_TEXT.format(old=old, new=new)
    # Names ending in .yaml are files, never workflow ids: these are not in the current folder.
    assert_one_line_error(not_here, 3, "no such file: enterprise_issue.yaml")
    assert ok(same).splitlines()[1] == "no differences"
    assert same_exit_code.returncode == 0


def test_exit_code_flag_and_catalog_versions(folder: Path) -> None:
    differ, markdown, as_json = run_all(
        [
            (
                "--definitions",
                str(folder),
                "diff",
                "--exit-code",
                "enterprise_issue@1",
                "enterprise_issue@2",
            ),
            (
                "--definitions",
                str(folder),
                "diff",
                "--format",
                "markdown",
                "enterprise_issue@1",
                "enterprise_issue",
            ),
            (
                "--definitions",
                str(folder),
                "diff",
                "--format",
                "json",
                "enterprise_issue@1",
                "enterprise_issue@2",
            ),
        ]
    )
    assert differ.returncode == 1, differ.stderr
    assert "8 changes" in differ.stdout
    # Without a version: the newest one (3, which is version 1 again but for its number).
    text = ok(markdown)
    assert text.startswith("## `enterprise_issue` v1 → v3\n\n### Workflow\n\n")
    assert "- **changed** `version`: workflow: version 1 → 3\n" in text
    data = ok_json(as_json)
    assert [c["path"] for c in data["changes"]] == [
        "version",
        "fields.info_request",
        "states.processing.deadline.amount",
        "states.awaiting_info",
        "events.amend",
        "events.ask_for_info",
        "events.provide_info",
        "escalation.levels.monthly_review.after",
    ]
    assert "database" not in data


def test_diff_with_a_database_counts_running_items_by_state(folder: Path, tmp_path: Path) -> None:
    with database_at(tmp_path / "items.db", folder) as db:
        for _ in range(2):
            db.engine.start("enterprise_issue", PIXEL, VENUE, version=1)
        accepted = db.engine.start("enterprise_issue", PIXEL, VENUE, version=1)
        db.engine.fire(accepted.id, "accept", OFFICE, {"lead_unit": "u_culture"})
        handled = db.engine.start("enterprise_issue", PIXEL, VENUE, version=1)
        db.engine.fire(handled.id, "accept", OFFICE, {"lead_unit": "u_culture"})
        db.engine.fire(handled.id, "sign_for", CULTURE)
        withdrawn = db.engine.start("enterprise_issue", PIXEL, VENUE, version=1)
        db.engine.fire(withdrawn.id, "withdraw", PIXEL, reason="Solved it ourselves.")
        files = (str(folder / "enterprise_issue.yaml"), str(folder / "enterprise_issue_v2.yaml"))
        text, as_json, global_db = run_all(
            [
                ("diff", *files, "--db", db.url),
                ("diff", *files, "--db", db.url, "--format", "json"),
                ("--db", db.url, "diff", *files),
            ]
        )
        stdout = ok(text)
        assert "Running items in sqlite:///" in stdout
        assert "pinned to enterprise_issue v1: 4\n" in stdout
        assert re.search(
            r"^collected\s+2\s+ladder changed; loses amend; gains ask_for_info$", stdout, re.M
        ), stdout
        assert re.search(r"^dispatched\s+1\s+ladder changed$", stdout, re.M), stdout
        assert re.search(r"^handling\s+1\s+time limit changed; ladder changed$", stdout, re.M)
        assert "4 of 4 item(s) in states the change touches" in stdout
        assert stdout.endswith("migrate --dry-run to v2: would move 4 item(s)\n")
        assert ok(global_db) == stdout
        data = ok_json(as_json)["database"]
        assert data["items"] == 4
        assert [(s["state"], s["items"]) for s in data["by_state"]] == [
            ("collected", 2),
            ("dispatched", 1),
            ("handling", 1),
        ]
        assert data["by_state"][0]["events_lost"] == ["amend"]
        assert data["dry_run"]["moves"] == {
            "collected->collected": 2,
            "dispatched->dispatched": 1,
            "handling->handling": 1,
        }
        # It was a dry run.
        assert db.engine.get(handled.id).definition_hash == handled.definition_hash


def test_diff_with_a_database_exits_5_when_items_cannot_migrate(
    folder: Path, tmp_path: Path
) -> None:
    with database_at(tmp_path / "removed.db", folder) as db:
        item = db.engine.start("enterprise_issue", PIXEL, VENUE, version=2)
        db.engine.fire(item.id, "ask_for_info", OFFICE, {"question": "Which hall size?"})
        definitions = ("--definitions", str(folder))
        versions = ("enterprise_issue@2", "enterprise_issue@3", "--db", db.url)
        refused, mapped = run_all(
            [
                (*definitions, "diff", *versions),
                (*definitions, "diff", *versions, "--map", "awaiting_info=collected"),
            ]
        )
        assert refused.returncode == 5, refused.stdout + refused.stderr
        assert re.search(
            r"^awaiting_info\s+1\s+state removed: cannot migrate without --map; loses "
            r"provide_info, withdraw, assign_supervisor, close_by_decision$",
            refused.stdout,
            re.M,
        ), refused.stdout
        assert refused.stdout.endswith(
            "migrate --dry-run to v3: refused, nothing would move:\n"
            "  1 item(s): state 'awaiting_info' does not exist in version 3 "
            "(give a state mapping)\n"
        )
        assert "state removed: mapped to collected" in ok(mapped)
        assert ok(mapped).endswith("would move 1 item(s)\n")
        assert db.engine.get(item.id).state == "awaiting_info"


def test_diff_errors_have_their_exit_codes(folder: Path) -> None:
    missing, bad_version, unknown, bad_map = run_all(
        [
            ("diff", "nowhere/old.yaml", "enterprise_issue@1"),
            ("diff", "enterprise_issue@one", "enterprise_issue@1"),
            ("diff", "enterprise_issue@1", "no_such_workflow"),
            ("diff", "enterprise_issue@1", "enterprise_issue@1", "--db", "sqlite://", "--map", "x"),
        ]
    )
    assert_one_line_error(missing, 3, "no such file: nowhere/old.yaml")
    assert_one_line_error(bad_version, 2, "neither a file nor ID@VERSION")
    assert_one_line_error(unknown, 3, "no_such_workflow")
    assert_one_line_error(bad_map, 2, "--map 'x': expected OLD=NEW")


def test_help_documents_the_exit_codes() -> None:
    assert "--exit-code" in ok(run("diff", "--help"))
