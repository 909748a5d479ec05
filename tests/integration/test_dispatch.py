"""The notification dispatcher on SQLite, PostgreSQL and MariaDB.

Intents are written through the store port (as the core writes them) for
items of a small definition; a fake in-memory channel counts every send by
idempotency key, and the time is a :class:`ManualClock` (nothing sleeps).
Proven here: expand → deliver → sent (console and fake channels, each
recipient's language); exponential backoff and its timing; dead letters
after the last attempt or a final error, and ``retry``; quiet hours hold,
urgent bypasses them; thirty items for one unit make ONE digest; an intent
that reaches nobody is recorded as unroutable, never dropped; dispatchers in
threads (and, on the servers, processes posting to a loopback webhook) never
send a message twice; and a dispatcher killed between send and record
leaves a message that is sent again with the same key and recorded once.
"""

from __future__ import annotations

import datetime as dt
import http.server
import io
import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine as SqlEngine

from notifiers.base import DeliveryError, Message
from notifiers.config import NotifierConfig, parse_notifier_config
from notifiers.console import ConsoleChannel
from tests.backends import Backend
from tests.integration import dispatch_worker as world
from workflow.app import Engine
from workflow.core.clock import ManualClock
from workflow.core.values import Actor, NotificationIntent
from workflow.directory.static import StaticDirectory
from workflow.notify.dispatch import Dispatcher, DispatchReport
from workflow.store import outbox
from workflow.store.migrate import upgrade
from workflow.store.outbox import OutboxRow
from workflow.store.sql import create_database_engine

OFFICE = Actor("li", frozenset({"office"}))
REPO = Path(__file__).resolve().parents[2]
# Monday 2 November 2026, 09:00 in Shanghai (a working day).
MONDAY_9 = dt.datetime(2026, 11, 2, 1, 0, tzinfo=dt.UTC)
SHANGHAI = dt.timezone(dt.timedelta(hours=8))


class FakeChannel:
    """Delivers into a list; ``fail`` (if set) may raise for a message instead."""

    def __init__(self, name: str = "fake") -> None:
        self._name = name
        self.sent: list[Message] = []
        self.fail: Callable[[Message], None] | None = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self._name

    def send(self, message: Message) -> None:
        if self.fail is not None:
            self.fail(message)
        with self._lock:
            self.sent.append(message)

    def close(self) -> None:
        pass

    def keys(self) -> Counter[str]:
        with self._lock:
            return Counter(m.key for m in self.sent)


def _config(
    channels: str = "fake: {type: console, recipients: addressed}", **delivery: Any
) -> NotifierConfig:
    policy = {"max_attempts": 3, "initial_backoff": 30, "backoff_factor": 2, "max_backoff": 600}
    policy.update(delivery)
    text = (
        "delivery: "
        + json.dumps(policy)
        + "\nchannels:\n"
        + "".join(f"  {line}\n" for line in channels.splitlines())
    )
    return parse_notifier_config(text, environ={})


@dataclass
class Scene:
    """An upgraded database with the test definition, a fake channel and a manual clock."""

    backend: Backend
    sa: SqlEngine
    engine: Engine
    clock: ManualClock
    folder: Path
    fake: FakeChannel = field(default_factory=FakeChannel)
    counter: int = 0

    def item(self, unit: str | None = "u_culture") -> int:
        data: dict[str, Any] = {"title": "Need a venue"}
        if unit is not None:
            data["lead_unit"] = unit
        return self.engine.start("notice_test", OFFICE, data).id

    def intent(
        self, item_id: int, role: str = "unit", *, urgent: bool = False, template: str = "note"
    ) -> str:
        """Write one intent as the core does (same port), with a payload like the core's."""
        self.counter += 1
        key = f"test:{item_id}:{self.counter}:{role}"
        payload = {
            "kind": "event",
            "workflow": {
                "id": "notice_test",
                "version": 1,
                "title": {"zh": "通知測試", "en": "Notice test"},
            },
            "item": {
                "id": item_id,
                "state": "handling",
                "state_label": {"zh": "辦理", "en": "Handling"},
                "created_at": self.clock.now().isoformat(),
                "data": {},
            },
            "event": None,
            "level": None,
            "deadline": None,
            "review": None,
            "urgent": urgent,
        }
        with self.engine.store.write() as tx:
            tx.add_notification_intents(
                [NotificationIntent(item_id, 1, role, template, key, payload)], self.clock.now()
            )
        return key

    def dispatcher(
        self,
        config: NotifierConfig | None = None,
        *,
        directory: StaticDirectory | None = None,
        channels: dict[str, Any] | None = None,
        rand: Callable[[], float] = lambda: 0.0,
    ) -> Dispatcher:
        engine = self.engine
        if directory is not None:
            engine = Engine.from_engine(
                self.sa,
                definitions=engine.catalog,
                directory=directory,
                clock=self.clock,
                prefix=self.backend.prefix,
            )
        return Dispatcher(
            engine,
            config or _config(),
            channels if channels is not None else {"fake": self.fake},
            world.templates(self.folder),
            self.clock,
            rand=rand,
        )

    def rows(self, **filters: Any) -> list[OutboxRow]:
        with self.engine.store.read() as tx:
            return outbox.list_rows(tx.connection, tx.t, limit=10_000, **filters)

    def attempts(self, row_id: int) -> list[outbox.Attempt]:
        with self.engine.store.read() as tx:
            return outbox.attempts_of(tx.connection, tx.t, row_id)


@pytest.fixture
def scene(backend: Backend, tmp_path: Path) -> Iterator[Scene]:
    """The test world on ``backend``, at Monday 09:00 in Shanghai."""
    world.write_world(tmp_path)
    sa = create_database_engine(backend.url)
    try:
        upgrade(sa, prefix=backend.prefix)
        clock = ManualClock(MONDAY_9)
        engine = Engine.from_engine(
            sa,
            definitions=world.catalog(tmp_path),
            directory=world.directory(),
            clock=clock,
            prefix=backend.prefix,
        )
        yield Scene(backend, sa, engine, clock, tmp_path)
    finally:
        sa.dispose()


def _messages(scene: Scene) -> list[OutboxRow]:
    return [r for r in scene.rows() if r.kind == "message"]


# --- expand, deliver, sent -----------------------------------------------------------------------


def test_an_intent_is_expanded_rendered_per_language_and_sent_once(scene: Scene) -> None:
    stream = io.StringIO()
    config = _config(
        "fake: {type: console, recipients: addressed}\nconsole: {type: console}",
    )
    channels = {"fake": scene.fake, "console": ConsoleChannel("console", stream=stream)}
    item = scene.item()
    unit_key = scene.intent(item, "unit")
    office_key = scene.intent(item, "office")

    report = scene.dispatcher(config, channels=channels).run_pass()

    assert (report.expanded, report.created, report.sent) == (2, 6, 6)
    assert report.unroutable == report.dead == report.failures == ()
    by_key = {m.key: m for m in scene.fake.sent}
    assert scene.fake.keys() == Counter(
        {f"{unit_key}/chen/fake": 1, f"{office_key}/li/fake": 1, f"{office_key}/wang/fake": 1}
    )
    chen = by_key[f"{unit_key}/chen/fake"]
    assert chen.address == "chen@culture.example.gov.cn"
    assert chen.recipient_name == "陳科長"
    assert chen.subject == f"事項 {item}:辦理"
    assert chen.body == "陳科長,您好。通知測試"
    assert chen.metadata["item"] == str(item)
    wang = by_key[f"{office_key}/wang/fake"]
    assert (wang.locale, wang.subject) == ("en", f"Item {item}: Handling")
    # The console reaches everyone (recipients: all), addressed by person id.
    printed = stream.getvalue()
    assert printed.count("── notification via console") == 3
    assert f"(key {unit_key}/chen/console)" in printed

    intents = scene.rows(kind="intent")
    assert {r.status for r in intents} == {"expanded"}
    messages = _messages(scene)
    assert {r.status for r in messages} == {"sent"}
    assert all(r.attempts == 1 and r.lease_token is None for r in messages)
    assert {r.parent_id for r in messages} == {r.id for r in intents}
    assert [a.outcome for a in scene.attempts(messages[0].id)] == ["sent"]

    again = scene.dispatcher(config, channels=channels).run_pass()
    assert (again.expanded, again.sent) == (0, 0)
    assert len(scene.fake.sent) == 3


def test_a_replayed_intent_adds_nothing(scene: Scene) -> None:
    item = scene.item()
    key = scene.intent(item)
    scene.dispatcher().run_pass()
    # The core writes intents with insert-ignore on the key: the same cause twice is one row.
    with scene.engine.store.write() as tx:
        tx.add_notification_intents(
            [NotificationIntent(item, 1, "unit", "note", key, {"urgent": False})],
            scene.clock.now(),
        )
    assert scene.dispatcher().run_pass().sent == 0
    assert scene.fake.keys() == Counter({f"{key}/chen/fake": 1})


# --- retries, backoff, dead letters --------------------------------------------------------------


def _failing(times: int, *, retryable: bool = True) -> Callable[[Message], None]:
    left = [times]

    def fail(message: Message) -> None:
        if left[0] > 0:
            left[0] -= 1
            raise DeliveryError(
                "HTTP 503 from https://hook.example.gov.cn/?token=abc", retryable=retryable
            )

    return fail


def test_failures_are_retried_after_an_exponential_backoff(scene: Scene) -> None:
    scene.fake.fail = _failing(2)
    scene.intent(scene.item())
    dispatcher = scene.dispatcher(_config(max_attempts=5))
    start = scene.clock.now()

    first = dispatcher.run_pass()
    assert (first.sent, first.retried) == (0, 1)
    (message,) = _messages(scene)
    assert message.status == "pending"
    assert message.attempts == 1
    assert message.next_attempt_at == start + dt.timedelta(seconds=30)
    assert message.last_error is not None
    assert "token=***" in message.last_error
    assert "abc" not in message.last_error

    scene.clock.advance(dt.timedelta(seconds=29))
    assert dispatcher.run_pass().retried == 0  # not due yet
    scene.clock.advance(dt.timedelta(seconds=1))
    assert dispatcher.run_pass().retried == 1
    (message,) = _messages(scene)
    assert message.next_attempt_at == scene.clock.now() + dt.timedelta(seconds=60)

    scene.clock.advance(dt.timedelta(seconds=60))
    assert dispatcher.run_pass().sent == 1
    (message,) = _messages(scene)
    assert (message.status, message.attempts, message.last_error) == ("sent", 3, None)
    attempts = scene.attempts(message.id)
    assert [a.outcome for a in attempts] == ["failed", "failed", "sent"]
    assert all(a.error is None or "abc" not in a.error for a in attempts)
    assert len(scene.fake.sent) == 1


def test_backoff_jitter_takes_off_at_most_its_share(scene: Scene) -> None:
    scene.fake.fail = _failing(1)
    scene.intent(scene.item())
    scene.dispatcher(_config(jitter=0.2), rand=lambda: 0.999).run_pass()
    (message,) = _messages(scene)
    assert message.next_attempt_at is not None
    wait = (message.next_attempt_at - scene.clock.now()).total_seconds()
    assert 24.0 <= wait < 24.1  # 30 s less up to 20 %


def test_after_the_last_attempt_a_message_is_dead_until_retried(scene: Scene) -> None:
    scene.fake.fail = _failing(3)
    key = scene.intent(scene.item())
    dispatcher = scene.dispatcher(_config(max_attempts=3))
    for _ in range(3):
        dispatcher.run_pass()
        scene.clock.advance(dt.timedelta(hours=1))
    (message,) = _messages(scene)
    assert (message.status, message.attempts) == ("dead", 3)
    assert dispatcher.run_pass().sent == 0  # dead letters are not retried by themselves

    with scene.engine.store.write() as tx:
        result = outbox.retry(tx.connection, tx.t, None, scene.clock.now())
    assert result.requeued == (message.id,)
    (message,) = _messages(scene)
    assert (message.status, message.attempts) == ("pending", 0)
    assert message.last_error is not None
    assert message.last_error.startswith("requeued by hand")

    assert dispatcher.run_pass().sent == 1
    assert scene.fake.keys() == Counter({f"{key}/chen/fake": 1})
    assert [a.outcome for a in scene.attempts(message.id)] == ["failed", "failed", "dead", "sent"]


def test_a_final_error_is_dead_at_once(scene: Scene) -> None:
    scene.fake.fail = _failing(1, retryable=False)
    scene.intent(scene.item())
    report = scene.dispatcher(_config(max_attempts=8)).run_pass()
    (message,) = _messages(scene)
    assert report.dead == (message.id,)
    assert (message.status, message.attempts) == ("dead", 1)


def test_retry_refuses_rows_that_are_not_dead(scene: Scene) -> None:
    scene.intent(scene.item())
    scene.dispatcher().run_pass()
    (message,) = _messages(scene)
    with scene.engine.store.write() as tx:
        result = outbox.retry(tx.connection, tx.t, [message.id, 999_999], scene.clock.now())
    assert result.requeued == ()
    assert result.skipped == {
        message.id: "status 'sent': only dead and unroutable rows are retried",
        999_999: "no such outbox row",
    }


# --- quiet hours ---------------------------------------------------------------------------------


QUIET = (
    "fake: {type: console, recipients: addressed, "
    "quiet_hours: {start: '20:00', end: '08:00', non_working_days: true}}"
)


def test_quiet_hours_hold_messages_and_urgent_ones_go_at_once(scene: Scene) -> None:
    # Monday 22:00 in Shanghai.
    scene.clock.set(dt.datetime(2026, 11, 2, 22, 0, tzinfo=SHANGHAI))
    item = scene.item()
    quiet_key = scene.intent(item)
    urgent_key = scene.intent(item, urgent=True)
    dispatcher = scene.dispatcher(_config(QUIET))

    report = dispatcher.run_pass()
    assert report.sent == 1
    assert scene.fake.keys() == Counter({f"{urgent_key}/chen/fake": 1})
    held = next(r for r in _messages(scene) if r.key.startswith(quiet_key))
    assert held.status == "pending"
    assert held.next_attempt_at == dt.datetime(2026, 11, 3, 8, 0, tzinfo=SHANGHAI)

    scene.clock.set(dt.datetime(2026, 11, 3, 7, 59, tzinfo=SHANGHAI))
    assert dispatcher.run_pass().sent == 0
    scene.clock.set(dt.datetime(2026, 11, 3, 8, 0, tzinfo=SHANGHAI))
    assert dispatcher.run_pass().sent == 1
    assert scene.fake.keys()[f"{quiet_key}/chen/fake"] == 1


def test_quiet_non_working_days_wait_for_the_next_working_morning(scene: Scene) -> None:
    # Friday 6 November 2026, 21:00: the weekend is quiet too.
    scene.clock.set(dt.datetime(2026, 11, 6, 21, 0, tzinfo=SHANGHAI))
    scene.intent(scene.item())
    scene.dispatcher(_config(QUIET)).run_pass()
    (message,) = _messages(scene)
    assert message.next_attempt_at == dt.datetime(2026, 11, 9, 8, 0, tzinfo=SHANGHAI)


# --- digests -------------------------------------------------------------------------------------


def test_thirty_items_for_one_unit_make_one_digest(scene: Scene) -> None:
    config = _config("fake: {type: console, recipients: addressed, digest: {at: '09:00'}}")
    scene.clock.set(dt.datetime(2026, 11, 2, 10, 0, tzinfo=SHANGHAI))
    keys = [scene.intent(scene.item()) for _ in range(30)]
    urgent = scene.intent(scene.item(), urgent=True)
    dispatcher = scene.dispatcher(config)

    report = dispatcher.run_pass()
    assert (report.created, report.held, report.sent) == (31, 30, 1)  # urgent: not held
    held = [r for r in _messages(scene) if r.status == "digest"]
    assert len(held) == 30
    assert {r.next_attempt_at for r in held} == {dt.datetime(2026, 11, 3, 9, 0, tzinfo=SHANGHAI)}

    scene.clock.set(dt.datetime(2026, 11, 3, 9, 0, tzinfo=SHANGHAI))
    report = dispatcher.run_pass()
    assert (report.digests, report.sent) == (1, 1)
    digest = scene.fake.sent[-1]
    assert digest.subject == "30 notices"
    assert digest.body.count("- 事項") == 30
    assert digest.key.startswith("digest/fake/chen/")
    assert len(scene.fake.sent) == 2
    assert scene.fake.sent[0].key == f"{urgent}/chen/fake"
    (row,) = scene.rows(kind="digest")
    assert row.status == "sent"
    members = [r for r in _messages(scene) if r.digest_id == row.id]
    assert sorted(m.key for m in members) == sorted(f"{k}/chen/fake" for k in keys)
    assert {m.status for m in members} == {"sent"}
    assert dispatcher.run_pass().sent == 0


def test_a_person_may_ask_for_digests_or_refuse_them(scene: Scene) -> None:
    scene.clock.set(dt.datetime(2026, 11, 2, 10, 0, tzinfo=SHANGHAI))
    scene.intent(scene.item())
    # chen wants digests on a channel that has none: the default time, 09:00.
    scene.dispatcher(directory=world.directory(chen_digest=True)).run_pass()
    (message,) = _messages(scene)
    assert message.status == "digest"
    assert message.next_attempt_at == dt.datetime(2026, 11, 3, 9, 0, tzinfo=SHANGHAI)

    config = _config("fake: {type: console, recipients: addressed, digest: {at: '09:00'}}")
    scene.intent(scene.item())
    scene.dispatcher(config, directory=world.directory(chen_digest=False)).run_pass()
    assert len(scene.fake.sent) == 1  # refused digests: sent at once


def test_a_failing_digest_is_retried_and_its_messages_follow_it(scene: Scene) -> None:
    config = _config(
        "fake: {type: console, recipients: addressed, digest: {at: '09:00'}}", max_attempts=1
    )
    scene.clock.set(dt.datetime(2026, 11, 2, 10, 0, tzinfo=SHANGHAI))
    for _ in range(3):
        scene.intent(scene.item())
    dispatcher = scene.dispatcher(config)
    dispatcher.run_pass()
    scene.fake.fail = _failing(1)
    scene.clock.set(dt.datetime(2026, 11, 3, 9, 0, tzinfo=SHANGHAI))
    report = dispatcher.run_pass()
    (digest,) = scene.rows(kind="digest")
    assert report.dead == (digest.id,)
    assert {m.status for m in _messages(scene)} == {"dead"}

    with scene.engine.store.write() as tx:
        result = outbox.retry(tx.connection, tx.t, None, scene.clock.now())
    assert result.requeued == (digest.id,)  # its messages go again inside it
    assert dispatcher.run_pass().sent == 1
    assert {m.status for m in _messages(scene)} == {"sent"}
    assert len(scene.fake.sent) == 1


# --- unroutable ----------------------------------------------------------------------------------


def test_an_intent_that_reaches_nobody_is_kept_as_unroutable(scene: Scene) -> None:
    nobody = scene.intent(scene.item("u_nobody"))
    ghost = scene.intent(scene.item("u_ghost"))
    empty = scene.intent(scene.item(None))
    broken = scene.intent(scene.item(), template="broken")

    report = scene.dispatcher().run_pass()

    assert len(report.unroutable) == 4
    assert report.sent == 0
    rows = {r.key: r for r in scene.rows(kind="intent")}
    assert {r.status for r in rows.values()} == {"unroutable"}
    assert "no one acts for the item's lead_unit" in str(rows[nobody].last_error)
    assert "no channel reaches ghost" in str(rows[ghost].last_error)
    assert "no one acts for the item's lead_unit" in str(rows[empty].last_error)
    assert "template 'broken'" in str(rows[broken].last_error)
    assert _messages(scene) == []

    # The directory is fixed: retried, the ghost's intent reaches its person.
    with scene.engine.store.write() as tx:
        outbox.retry(tx.connection, tx.t, [rows[ghost].id], scene.clock.now())
    report = scene.dispatcher(directory=world.directory(extra=True)).run_pass()
    assert (report.expanded, report.sent) == (1, 1)
    assert scene.fake.sent[0].address == "ghost@example.gov.cn"


def test_people_missed_by_an_expanded_intent_are_noted(scene: Scene) -> None:
    # The office: li and wang; wang has no address for this channel.
    config = _config("fake: {type: console, recipients: addressed}")
    directory = StaticDirectory(
        groups={"coordinating_office": ["li", "wang"]},
        contacts=[world.directory().contact("li")],  # type: ignore[list-item]
    )
    scene.intent(scene.item(), "office")
    report = scene.dispatcher(config, directory=directory).run_pass()
    assert (report.expanded, report.sent) == (1, 1)
    (intent,) = scene.rows(kind="intent")
    assert intent.status == "expanded"
    assert intent.last_error == "no channel reaches wang (role 'office')"


# --- several dispatchers -------------------------------------------------------------------------


def test_dispatchers_in_threads_never_send_a_message_twice(scene: Scene) -> None:
    items = [scene.item() for _ in range(20)]
    for item in items:
        scene.intent(item, "unit")
        scene.intent(item, "office")
    reports: list[DispatchReport] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)
    lock = threading.Lock()
    by_thread: Counter[int] = Counter()
    # A send takes a moment, so that the dispatchers overlap.
    scene.fake.fail = lambda message: time.sleep(0.002)

    def work(number: int) -> None:
        try:
            dispatcher = scene.dispatcher()
            barrier.wait()
            for _ in range(5):
                report = dispatcher.run_pass(limit=3)
                with lock:
                    reports.append(report)
                    by_thread[number] += report.sent
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    counts = scene.fake.keys()
    assert len(counts) == 60  # 20 items x (chen + li + wang)
    assert set(counts.values()) == {1}
    assert sum(r.sent for r in reports) == 60
    assert sum(r.expanded for r in reports) == 40
    assert not any(r.failures for r in reports)
    assert sum(1 for sent in by_thread.values() if sent) >= 2, by_thread  # they shared it
    assert {r.status for r in _messages(scene)} == {"sent"}


class _Hook(http.server.BaseHTTPRequestHandler):
    """A webhook receiver that counts each Idempotency-Key it is posted."""

    counts: Counter[str]
    lock: threading.Lock
    delay: float

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length))
        key = self.headers["Idempotency-Key"]
        assert body["key"] == key
        with self.lock:
            self.counts[key] += 1
        # A receiver that takes a moment, so that concurrent dispatchers overlap.
        time.sleep(self.delay)
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[tuple[str, Counter[str]]]:
    """A loopback webhook server; yields its URL and the count of posts per key."""
    counts: Counter[str] = Counter()
    handler = type("Hook", (_Hook,), {"counts": counts, "lock": threading.Lock(), "delay": 0.02})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", counts
    finally:
        server.shutdown()
        server.server_close()


def _workers(
    scene: Scene, url: str, now: dt.datetime, count: int, env: dict[str, str] | None = None
) -> list[subprocess.CompletedProcess[str]]:
    command = [
        sys.executable,
        "-m",
        "tests.integration.dispatch_worker",
        scene.backend.url,
        scene.backend.prefix,
        str(scene.folder),
        url,
        now.isoformat(),
    ]
    go = scene.folder / "go"
    processes = [
        subprocess.Popen(
            command,
            cwd=REPO,
            env={**os.environ, world.GO_ENV: str(go), **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    # Let them go together once all are loaded (a worker that died early never gets ready).
    while len(list(scene.folder.glob("go.*"))) < count and all(p.poll() is None for p in processes):
        time.sleep(0.01)
    go.touch()
    done = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        done.append(subprocess.CompletedProcess(command, process.returncode, out, err))
    return done


@pytest.mark.parametrize("backend", ["postgresql", "mariadb"], indirect=True)
def test_dispatcher_processes_never_post_a_message_twice(
    scene: Scene, hook: tuple[str, Counter[str]]
) -> None:
    url, counts = hook
    for _ in range(40):
        scene.intent(scene.item())
    finished = _workers(scene, url, scene.clock.now(), 3)
    for process in finished:
        assert process.returncode == 0, process.stderr
    totals = [json.loads(p.stdout.strip().splitlines()[-1]) for p in finished]
    assert sum(t["sent"] for t in totals) == 40
    assert sum(t["failures"] for t in totals) == 0
    # They really shared the work (each claim takes 5, each post takes 20 ms)...
    assert sum(1 for t in totals if t["sent"]) >= 2, totals
    # ...and the receiver saw each key once.
    assert len(counts) == 40
    assert set(counts.values()) == {1}
    assert {r.status for r in _messages(scene)} == {"sent"}


def test_a_dispatcher_killed_between_send_and_record_resends_with_the_same_key(
    scene: Scene, hook: tuple[str, Counter[str]]
) -> None:
    url, counts = hook
    scene.intent(scene.item())
    start = scene.clock.now()

    (killed,) = _workers(scene, url, start, 1, {world.KILL_ENV: "after-send"})
    assert killed.returncode == -9, killed.stderr  # SIGKILL, right after the send
    (message,) = _messages(scene)
    assert (message.status, message.attempts) == ("pending", 0)  # sent, but not recorded
    assert message.lease_token is not None
    assert sum(counts.values()) == 1

    # While the dead process's lease runs, nobody touches the message...
    assert scene.dispatcher().run_pass(start + dt.timedelta(seconds=59)).sent == 0
    # ...then the next dispatcher sends it again, with the same key, and records it once.
    (later,) = _workers(scene, url, start + dt.timedelta(seconds=61), 1)
    assert json.loads(later.stdout)["sent"] == 1
    assert counts == Counter({message.key: 2})
    (message,) = _messages(scene)
    assert (message.status, message.attempts) == ("sent", 1)
    assert [a.outcome for a in scene.attempts(message.id)] == ["sent"]


# --- the claim index -----------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_claims_use_the_partial_index(scene: Scene) -> None:
    # The servers rightly prefer a full scan of a small table; SQLite shows the choice.
    t = scene.engine.store.tables
    with scene.sa.connect() as connection:
        for status in ("intent", "pending", "digest"):
            query = outbox._claim_query(connection, t, status, scene.clock.now(), 10, None)
            sql = str(query.compile(connection, compile_kwargs={"literal_binds": True}))
            plan = " ".join(
                str(row[-1]) for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")
            )
            assert f"{t.prefix}outbox_due" in plan, plan


# --- languages ------------------------------------------------------------------------------------


def test_labels_follow_the_language_the_template_is_written_in(scene: Scene) -> None:
    # Only a Chinese file: wang (who reads English) gets it in Chinese, and its
    # labels must be Chinese too, not English words inside a Chinese message.
    (scene.folder / "_templates" / "zh_only.zh.j2").write_text(
        "{% block subject %}事項 {{ item.id }}:{{ item.state_label }}{% endblock %}"
        "{% block body %}{{ workflow.title }}{% endblock %}",
        encoding="utf-8",
    )
    item = scene.item()
    scene.intent(item, "office", template="zh_only")

    scene.dispatcher().run_pass()

    by_person = {m.recipient_name: m for m in scene.fake.sent}
    wang = by_person["Wang Wei"]
    assert (wang.locale, wang.subject, wang.body) == ("zh", f"事項 {item}:辦理", "通知測試")


def test_the_configured_default_locale_is_the_fallback(scene: Scene) -> None:
    english = parse_notifier_config(
        "default_locale: en\nchannels: {fake: {type: console, recipients: addressed}}",
        environ={},
    )
    chinese = parse_notifier_config(
        "channels: {fake: {type: console, recipients: addressed}}", environ={}
    )
    # Without templates given, the dispatcher takes the catalog's, falling back
    # to the configuration's language for a reader whose language has no file.
    for config, expected in ((english, "en"), (chinese, "zh")):
        dispatcher = Dispatcher(scene.engine, config, {"fake": scene.fake}, clock=scene.clock)
        assert dispatcher.templates.locale_for("event", "fr") == expected
    assert scene.engine.catalog.templates.default_locale == "zh"  # shared set left alone
