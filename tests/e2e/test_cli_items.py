"""The item and database commands, through the `workflow` command line.

The commands run in-process (``tests/e2e/cli.py``: the command line's
``main()`` with its output and exit code captured), and set-up that is not
under test (items in a given state) is done through the engine. One test runs
the error cases as processes of their own (``python -m workflow``), with the
database named by ``WORKFLOW_DATABASE_URL``: the exit codes reach the shell,
stderr holds the one line and nothing else.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tests.conftest import DEFINITIONS
from tests.e2e.cli import run, run_all, run_processes
from workflow.app import Engine
from workflow.core.values import Actor
from workflow.directory.static import StaticDirectory
from workflow.store.migrate import HEAD_REVISION, upgrade
from workflow.store.sql import create_database_engine

__all__ = ["run", "run_all"]

SAMPLE_DIRECTORY = DEFINITIONS / "_directory" / "sample.yaml"

VENUE = {
    "enterprise": "e_pixel",
    "district": "d_donghu",
    "sector": "animation_games",
    "category": "venues",
    "title": "Venue for an esports final",
    "description": "We need a hall for 2,000 spectators in December.",
}

OFFICE = Actor.parse("office:office.li")
CULTURE = Actor.parse("unit:unit.chen")
PIXEL = Actor.parse("enterprise:ent.zhao")


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"{result.args}: {result.stdout}{result.stderr}"
    assert "Traceback" not in result.stderr
    return result.stdout


def ok_json(result: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(ok(result))


def assert_one_line_error(
    result: subprocess.CompletedProcess[str], code: int, *fragments: str
) -> None:
    """The error is one `workflow: ...` line on stderr, with a distinct exit code."""
    where = f"{result.args}: exit {result.returncode}\n{result.stderr}"
    assert result.returncode == code, where
    assert "Traceback" not in result.stderr, where
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, where
    assert lines[0].startswith("workflow: "), where
    for fragment in fragments:
        assert fragment in lines[0], where


def pairs(stdout: str) -> dict[str, str]:
    """Parse a key/value block (`key  value` lines); repeated keys keep the first value."""
    found: dict[str, str] = {}
    for line in stdout.splitlines():
        key, _, value = line.partition("  ")
        if key and value:
            found.setdefault(key, value.strip())
    return found


@dataclass
class Database:
    """A migrated SQLite file, its URL, and an in-process engine for set-up."""

    path: Path
    url: str
    engine: Engine

    def cli(self, *args: str) -> tuple[str, ...]:
        return ("--db", self.url, *args)


@contextmanager
def database_at(path: Path, definitions: Path | None = None) -> Iterator[Database]:
    """Create and migrate a SQLite database in-process (set-up is not what is under test)."""
    url = f"sqlite:///{path}"
    bind = create_database_engine(url)
    upgrade(bind)
    engine = Engine.from_engine(
        bind,
        definitions=str(definitions) if definitions else None,
        directory=StaticDirectory.from_file(str(SAMPLE_DIRECTORY)),
    )
    try:
        yield Database(path, url, engine)
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    with database_at(tmp_path_factory.mktemp("items") / "workflow.db") as db:
        yield db


# -- db ---------------------------------------------------------------------------------


def test_db_check_upgrade_and_current(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    empty = tmp_path / "empty.db"
    empty.touch()
    missing, not_initialised = run_all(
        [("--db", url, "db", "check"), ("--db", f"sqlite:///{empty}", "db", "check")]
    )
    assert_one_line_error(missing, 8, "does not exist", "run `workflow db upgrade`")
    assert_one_line_error(not_initialised, 8, "not initialised", "run `workflow db upgrade`")
    assert not (tmp_path / "new.db").exists(), "only `db upgrade` may create the database"

    upgraded = ok(run("--db", url, "db", "upgrade"))
    assert f"upgraded from nothing to revision {HEAD_REVISION}" in upgraded

    again, check, current = run_all(
        [
            ("--db", url, "db", "upgrade", "--json"),
            ("--db", url, "db", "check"),
            ("--db", url, "db", "current", "--json"),
        ]
    )
    assert ok_json(again) == {
        "database": url,
        "prefix": "wf_",
        "before": HEAD_REVISION,
        "after": HEAD_REVISION,
        "head": HEAD_REVISION,
        "changed": False,
    }
    assert f"at revision {HEAD_REVISION}" in ok(check)
    assert ok_json(current)["at_head"] is True


# -- an item's life through the CLI -----------------------------------------------------


def test_start_fire_and_read_an_item_in_tables_and_json(database: Database) -> None:
    data = json.dumps(VENUE)
    started, started_json = run_all(
        [
            database.cli(
                "start", "enterprise_issue", "--as", "enterprise:ent.zhao", "--data", data
            ),
            database.cli(
                "start",
                "enterprise_issue",
                "--as",
                "commissioner:comm.sun",
                "--data",
                data,
                "--json",
            ),
        ]
    )
    block = pairs(ok(started))
    item = int(block["item"])
    assert block["state"] == "Collected, awaiting triage (collected)"
    assert block["version"] == "1"
    other = ok_json(started_json)
    assert other["item"]["state"] == "collected"
    assert other["item"]["version"] == 1
    assert [s["event"] for s in other["steps"]] == ["start"]
    assert other["steps"][0]["actor_role"] == "commissioner"

    accepted, other_accepted = run_all(
        [
            database.cli(
                "fire",
                str(item),
                "accept",
                "--as",
                "office:office.li",
                "--data",
                '{"lead_unit": "u_culture"}',
            ),
            database.cli(
                "fire",
                str(other["item"]["id"]),
                "accept",
                "--as",
                "office:office.li",
                "--data",
                '{"lead_unit": "u_hr"}',
                "--expect-version",
                "1",
                "--json",
            ),
        ]
    )
    block = pairs(ok(accepted))
    assert block["state"] == "Dispatched, awaiting sign-for (dispatched)"
    assert block["version"] == "2"
    assert block["step"] == "#2 Accept and dispatch: collected → dispatched by office.li (office)"
    fired = ok_json(other_accepted)
    assert (fired["item"]["state"], fired["item"]["version"]) == ("dispatched", 2)
    assert fired["item"]["data"]["lead_unit"] == "u_hr"
    assert [(s["seq"], s["event"], s["changes"]) for s in fired["steps"]] == [
        (2, "accept", {"lead_unit": "u_hr"})
    ]

    # Into joint handling in-process; the last answer through the CLI.
    engine = database.engine
    engine.fire(item, "sign_for", CULTURE)
    engine.fire(item, "request_joint", CULTURE, {"co_units": ["u_finance", "u_bank"]})
    engine.fire(
        item,
        "give_opinion",
        Actor.parse("co_unit:unit.qian"),
        {"verdict": "agree", "opinion": "guarantee fund applies"},
    )
    last = ok_json(
        run(
            *database.cli(
                "fire",
                str(item),
                "give_opinion",
                "--as",
                "co_unit:unit.feng",
                "--data",
                '{"verdict": "agree", "opinion": "two banks will lend"}',
                "--json",
            )
        )
    )
    # The last answer completes the joint handling: the engine moves the item itself.
    assert [(s["seq"], s["kind"], s["event"]) for s in last["steps"]] == [
        (6, "answer", "give_opinion"),
        (7, "auto", "@joint_complete"),
    ]
    assert (last["item"]["state"], last["item"]["version"]) == ("handling", 7)

    # Another item, half-way through its joint handling.
    halfway = engine.start("enterprise_issue", PIXEL, VENUE).id
    engine.fire(halfway, "accept", OFFICE, {"lead_unit": "u_culture"})
    engine.fire(halfway, "sign_for", CULTURE)
    engine.fire(halfway, "request_joint", CULTURE, {"co_units": ["u_finance", "u_bank"]})
    engine.fire(
        halfway,
        "give_opinion",
        Actor.parse("co_unit:unit.qian"),
        {"verdict": "agree", "opinion": "ok"},
    )

    (
        show,
        show_halfway,
        show_json,
        history,
        history_json,
        events,
        events_json,
        listing,
        listing_json,
        verify,
        verify_json,
    ) = run_all(
        [
            database.cli("show", str(item)),
            database.cli("show", str(halfway), "--lang", "zh"),
            database.cli("show", str(item), "--json"),
            database.cli("history", str(item)),
            database.cli("history", str(item), "--json"),
            database.cli("events", str(item), "--as", "unit:unit.chen"),
            database.cli("events", str(item), "--as", "unit:unit.chen", "--json"),
            database.cli("list", "--workflow", "enterprise_issue", "--open"),
            database.cli("list", "--state", "handling", "--json"),
            database.cli("verify"),
            database.cli("verify", str(item), "--json"),
        ]
    )
    shown = pairs(ok(show))
    assert shown["state"] == "Handling (handling)"
    assert shown["version"] == "7"
    assert shown["Co-handling units"] == "u_finance, u_bank"
    assert shown["Category"] == "Venues and scene resources (venues)"
    assert "會辦分支  u_finance: answered (agree) by unit.qian" in ok(show_halfway)
    assert "u_bank: open" in ok(show_halfway)
    found = ok_json(show_json)
    assert found["data"]["lead_unit"] == "u_culture"
    assert [(b["unit"], b["status"]) for b in found["branches"]] == [
        ("u_finance", "answered"),
        ("u_bank", "answered"),
    ]
    zh = pairs(ok(show_halfway))
    assert zh["state"] == "會辦中 (joint_handling)"
    assert zh["承辦單位"] == "u_culture"
    assert zh["問題類別"] == "場景與場地資源 (venues)"

    lines = ok(history).splitlines()
    assert lines[0].split() == [
        "seq",
        "time",
        "event",
        "from",
        "→",
        "to",
        "actor",
        "(role)",
        "reason",
        "changes",
    ]
    assert "Accept and dispatch" in lines[3]
    assert "collected → dispatched" in lines[3]
    assert "office.li (office)" in lines[3]
    assert "Joint handling complete" in lines[-1]
    assert "joint_handling → handling" in lines[-1]
    rows = ok_json(history_json)
    assert [r["seq"] for r in rows] == list(range(1, 8))
    assert rows[4]["input"] == {
        "unit": "u_finance",
        "verdict": "agree",
        "opinion": "guarantee fund applies",
    }

    table = ok(events)
    assert re.search(
        r"^reply\s+Reply with the result\s+unit\s+no\s+result\*, resolution\*", table, re.MULTILINE
    ), table
    names = {e["name"]: e for e in ok_json(events_json)}
    assert set(names) == {"request_extension", "suspend", "request_joint", "reply"}
    assert names["suspend"]["reason"] == "required"

    listed = ok(listing)
    assert re.search(
        rf"^{item}\s+enterprise_issue\s+Handling\s+7\s+yes\s+Venue", listed, re.MULTILINE
    ), listed
    assert [i["id"] for i in ok_json(listing_json)] == [item]  # the other one is collected

    assert f"item {item}: verified (7 history rows)" in ok(verify)
    assert ok_json(verify_json) == [{"id": item, "version": 7, "problems": [], "ok": True}]


# -- errors: one line and a distinct exit code ------------------------------------------


def test_each_error_has_its_exit_code_and_one_line(database: Database, tmp_path: Path) -> None:
    engine = database.engine
    item = engine.start("enterprise_issue", PIXEL, VENUE).id
    engine.fire(item, "accept", OFFICE, {"lead_unit": "u_culture"})
    engine.fire(item, "sign_for", CULTURE)
    engine.fire(item, "request_extension", CULTURE, {"days": 3}, reason="calendar")
    at = str(item)
    empty = tmp_path / "empty.db"
    empty.touch()
    cases: list[tuple[tuple[str, ...], int, tuple[str, ...]]] = [
        # 1: invalid input
        (
            database.cli("fire", at, "deny_extension", "--as", "office:office.li"),
            1,
            ("invalid input for 'deny_extension'", "reason: is required"),
        ),
        (
            database.cli("fire", at, "reply", "--as", "unit:unit.chen", "--data", "{oops"),
            1,
            ("--data", "not valid JSON"),
        ),
        # 2: the command line
        (database.cli("events", at, "--as", "unit.chen"), 2, ("--as", "expected ROLE:ID")),
        # 3: not found
        (database.cli("show", "99999"), 3, ("no item 99999",)),
        (
            database.cli("fire", at, "sing_for", "--as", "unit:unit.chen"),
            3,
            ("no event 'sing_for'",),
        ),
        (
            database.cli("start", "no_such_flow", "--as", "office:office.li"),
            3,
            ("no workflow definition 'no_such_flow'",),
        ),
        (
            database.cli("fire", at, "reply", "--as", "unit:unit.chen", "--data", "@missing.json"),
            3,
            ("no such file missing.json",),
        ),
        # 5: refused by the lifecycle
        (
            database.cli(
                "fire", at, "accept", "--as", "office:office.li", "--data", '{"lead_unit": "u_hr"}'
            ),
            5,
            ("'accept' is not allowed in state 'handling'",),
        ),
        (
            database.cli(
                "fire",
                at,
                "request_extension",
                "--as",
                "unit:unit.chen",
                "--data",
                '{"days": 2}',
                "--reason",
                "more",
            ),
            5,
            ("guard", "An extension request is already pending."),
        ),
        # 6: not authorized
        (
            database.cli(
                "fire", at, "close_by_decision", "--as", "enterprise:ent.zhao", "--reason", "done"
            ),
            6,
            ("'ent.zhao' may not fire 'close_by_decision'", "the actor acts as enterprise"),
        ),
        # 7: conflict
        (
            database.cli(
                "fire",
                at,
                "approve_extension",
                "--as",
                "office:office.li",
                "--data",
                '{"days": 3}',
                "--expect-version",
                "3",
            ),
            7,
            ("expected version 3, but it is at version 4",),
        ),
        # 8: the database is not ready
        (("--db", f"sqlite:///{empty}", "list"), 8, ("not initialised", "workflow db upgrade")),
        (("--db", "postgresql://nobody:secret@127.0.0.1:1/none", "list"), 8, ("database error",)),
    ]
    results = run_all([args for args, _, _ in cases], cwd=tmp_path)
    for (_, code, fragments), result in zip(cases, results, strict=True):
        assert_one_line_error(result, code, *fragments)
    assert "secret" not in results[-1].stderr
    # Nothing refused changed the item.
    assert engine.get(item).version == 4


def test_exit_codes_reach_the_shell_from_a_process(database: Database, tmp_path: Path) -> None:
    """Errors of each kind, each a `python -m workflow` process of its own.

    The database is named by ``WORKFLOW_DATABASE_URL`` (the processes get no
    ``--db``): stderr holds the one error line and nothing else (no warning,
    no traceback from the interpreter's exit), and the exit code is the
    process's.
    """
    engine = database.engine
    item = engine.start("enterprise_issue", PIXEL, VENUE).id
    engine.fire(item, "accept", OFFICE, {"lead_unit": "u_culture"})
    at = str(item)
    cases: list[tuple[tuple[str, ...], int, tuple[str, ...]]] = [
        (("fire", at, "sign_for", "--as", "unit:unit.chen", "--data", "{oops"), 1, ("--data",)),
        (("events", at, "--as", "unit.chen"), 2, ("--as", "expected ROLE:ID")),
        (("show", "99999"), 3, ("no item 99999",)),
        (("fire", at, "accept", "--as", "office:office.li"), 5, ("not allowed",)),
        (
            ("fire", at, "close_by_decision", "--as", "enterprise:ent.zhao", "--reason", "x"),
            6,
            ("'ent.zhao' may not fire 'close_by_decision'",),
        ),
        (
            ("fire", at, "sign_for", "--as", "unit:unit.chen", "--expect-version", "1"),
            7,
            ("expected version 1, but it is at version 2",),
        ),
        (
            ("--db", "postgresql://nobody:secret@127.0.0.1:1/none", "list"),
            8,
            ("database error",),
        ),
    ]
    results = run_processes(
        [args for args, _, _ in cases],
        cwd=tmp_path,
        env={"WORKFLOW_DATABASE_URL": database.url},
    )
    for (_, code, fragments), result in zip(cases, results, strict=True):
        assert_one_line_error(result, code, *fragments)
    assert "secret" not in results[-1].stderr
    assert engine.get(item).version == 2


def test_exit_codes_are_documented_in_the_cli_module() -> None:
    from workflow.cli import main as cli

    doc = cli.__doc__ or ""
    for code, meaning in [
        (5, "refused"),
        (6, "not authorized"),
        (7, "conflict"),
        (8, "the database is not ready"),
    ]:
        assert re.search(rf"^{code}\s+{meaning}", doc, re.MULTILINE), (code, doc)
    assert (cli.EXIT_REFUSED, cli.EXIT_NOT_AUTHORIZED, cli.EXIT_CONFLICT, cli.EXIT_DATABASE) == (
        5,
        6,
        7,
        8,
    )


# -- verify and migrate -----------------------------------------------------------------


def test_verify_reports_a_tampered_item(tmp_path: Path) -> None:
    with database_at(tmp_path / "tampered.db") as db:
        good = db.engine.start("enterprise_issue", PIXEL, VENUE).id
        bad = db.engine.start("enterprise_issue", PIXEL, VENUE).id
        assert db.engine.store.engine is not None
        with db.engine.store.engine.begin() as connection:
            connection.execute(
                text("UPDATE wf_items SET state = 'closed' WHERE id = :id"), {"id": bad}
            )
        table = run(*db.cli("verify"))
    assert table.returncode == 1
    assert f"item {good}: verified" in table.stdout
    assert f"item {bad}: DISCREPANCY: replayed state 'collected' != stored state 'closed'" in (
        table.stdout
    )
    assert "2 item(s) verified, 1 with discrepancies" in table.stderr


def test_migrate_dry_run_and_refusal(tmp_path: Path) -> None:
    # Version 2 of the shipped workflow: same lifecycle, one more optional field.
    newer = tmp_path / "defs"
    shutil.copytree(DEFINITIONS, newer, ignore=shutil.ignore_patterns("*.json"))
    source = (newer / "enterprise_issue.yaml").read_text(encoding="utf-8")
    source = source.replace("\nversion: 1\n", "\nversion: 2\n").replace(
        "\nfields:\n",
        "\nfields:\n  hotline_ticket:\n    type: string\n"
        "    label: {zh: 熱線工單號, en: Hotline ticket}\n",
        1,
    )
    (newer / "enterprise_issue.yaml").write_text(source, encoding="utf-8")
    with database_at(tmp_path / "migrate.db") as db:
        first = db.engine.start("enterprise_issue", PIXEL, VENUE)
        second = db.engine.start("enterprise_issue", PIXEL, VENUE)
        db.engine.fire(second.id, "accept", OFFICE, {"lead_unit": "u_culture"})
        v2 = ("--definitions", str(newer))
        dry, refused = run_all(
            [
                (*v2, *db.cli("migrate", "enterprise_issue", "--dry-run", "--json")),
                (*v2, *db.cli("migrate", "enterprise_issue", "--map", "dispatched=nowhere")),
            ]
        )
        assert ok_json(dry) == {
            "workflow": "enterprise_issue",
            "to_version": 2,
            "dry_run": True,
            "items": 2,
            "moves": {"collected->collected": 1, "dispatched->dispatched": 1},
        }
        assert_one_line_error(refused, 5, "cannot migrate", "'nowhere' does not exist")
        # Neither the dry run nor the refusal moved anything.
        assert db.engine.get(first.id).definition_hash == first.definition_hash
        assert db.engine.get(second.id).version == 2

        moved = ok(run(*v2, *db.cli("migrate", "enterprise_issue", "--as", "office:office.li")))
        assert re.search(r"^collected → collected\s+1$", moved, re.MULTILINE), moved
        assert "moved 2 item(s) to enterprise_issue v2" in moved
        assert db.engine.get(first.id).definition_hash != first.definition_hash
        assert db.engine.history(first.id)[-1].event == "@migrate"
        assert db.engine.verify(first.id) == []
