"""The outbox commands through the command line: `workflow outbox list|dispatch|retry`.

An item of the shipped workflow is accepted in-process (its ``accept`` event
notifies the unit: one intent). The commands then dispatch it through the
console and through a webhook named ``office_robot`` (the sample directory's
contacts have an address for it) to a loopback server whose answers the
test sets: a 400 makes the message dead at once, and after ``retry --dead``
the next dispatch delivers it. Secrets in the webhook URL never show.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_cli_items import (
    OFFICE,
    PIXEL,
    SAMPLE_DIRECTORY,
    VENUE,
    assert_one_line_error,
    ok,
    ok_json,
    run,
)
from workflow.app import Engine
from workflow.core.clock import ManualClock
from workflow.directory.static import StaticDirectory
from workflow.store.migrate import upgrade
from workflow.store.sql import create_database_engine

SECRET = "s3cr3t-robot-token"


@dataclass
class Robot:
    """A loopback webhook: answers ``status``, and records the keys it accepted."""

    status: int = 400
    keys: list[str] = field(default_factory=list)


@dataclass
class Db:
    """A migrated SQLite file with one accepted item, a notifier file, and the robot."""

    url: str
    item: int
    notifiers: Path
    robot: Robot

    def cli(self, *args: str) -> tuple[str, ...]:
        return ("--db", self.url, "--notifiers", str(self.notifiers), *args)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Db]:
    folder = tmp_path_factory.mktemp("outbox")
    robot = Robot()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if robot.status == 200:
                robot.keys.append(json.loads(body)["key"])
            self.send_response(robot.status)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    notifiers = folder / "notifiers.yaml"
    notifiers.write_text(
        "channels:\n"
        "  console: {type: console}\n"
        "  office_robot:\n"
        "    type: webhook\n"
        f'    url: "http://127.0.0.1:{server.server_address[1]}/hook?token={SECRET}"\n'
        "    timeout: 5\n",
        encoding="utf-8",
    )
    url = f"sqlite:///{folder / 'workflow.db'}"
    bind = create_database_engine(url)
    upgrade(bind)
    engine = Engine.from_engine(
        bind, directory=StaticDirectory.from_file(str(SAMPLE_DIRECTORY)), clock=ManualClock()
    )
    item = engine.start("enterprise_issue", PIXEL, VENUE)
    engine.fire(item.id, "accept", OFFICE, {"lead_unit": "u_culture"})
    try:
        yield Db(url, item.id, notifiers, robot)
    finally:
        engine.dispose()
        server.shutdown()
        server.server_close()


def test_dispatch_dead_letter_retry_and_delivery(db: Db) -> None:
    (intent,) = ok_json(run(*db.cli("outbox", "list", "--json")))
    assert (intent["kind"], intent["status"], intent["recipient"]) == (
        "intent",
        "intent",
        "role:unit",
    )

    result = run(*db.cli("outbox", "dispatch", "--json"))
    report = json.loads(ok(result))  # stdout: the JSON alone
    assert (report["expanded"], report["created"], report["sent"]) == (1, 2, 1)
    assert len(report["dead"]) == 1
    assert "To: 陳科長 <unit.chen>" in result.stderr  # the console block, moved to stderr

    rows = ok_json(run(*db.cli("outbox", "list", "--item", str(db.item), "--json")))
    by_channel = {r["channel"]: r for r in rows if r["kind"] == "message"}
    assert by_channel["console"]["status"] == "sent"
    robot = by_channel["office_robot"]
    assert robot["status"] == "dead"  # HTTP 400: final
    assert robot["address"] == "13800000201"
    assert robot["attempts"] == 1
    assert "400" in robot["last_error"]

    dead = run(*db.cli("outbox", "list", "--status", "dead", "--attempts"))
    text = ok(dead)
    assert str(robot["id"]) in text
    assert SECRET not in text + dead.stderr
    assert SECRET not in json.dumps(rows)

    db.robot.status = 200
    assert ok(run(*db.cli("outbox", "retry", "--dead"))).startswith("requeued 1:")
    ok(run(*db.cli("outbox", "dispatch")))
    assert db.robot.keys == [robot["key"]]
    (row,) = [
        r
        for r in ok_json(run(*db.cli("outbox", "list", "--status", "sent", "--json")))
        if r["id"] == robot["id"]
    ]
    assert row["attempts"] == 1  # a fresh set of attempts after the retry


def test_retry_and_dispatch_errors_are_one_line(db: Db, tmp_path: Path) -> None:
    assert_one_line_error(run(*db.cli("outbox", "retry")), 2, "give outbox ids")
    missing = run(*db.cli("outbox", "retry", "999999"))
    assert missing.returncode == 1
    assert "outbox 999999: not retried: no such outbox row" in missing.stderr
    assert_one_line_error(
        run(*db.cli("outbox", "dispatch", "--now", "tomorrow")), 2, "--now", "ISO 8601"
    )
    broken = tmp_path / "broken.yaml"
    broken.write_text("channels:\n  email: {type: smtp}\n", encoding="utf-8")
    assert_one_line_error(
        run("--db", db.url, "--notifiers", str(broken), "outbox", "dispatch"),
        1,
        "broken.yaml:2:",
    )
