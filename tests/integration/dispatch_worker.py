"""The dispatcher's test world, and a worker that runs dispatch passes in a process of its own.

Shared by ``tests/integration/test_dispatch.py`` and its worker processes:
a small definition (an office group role, a unit role bound to a field), a
directory with contacts, message templates, and a notifier configuration
whose one channel is a signed webhook to the test's loopback HTTP server.

Run as ``python -m tests.integration.dispatch_worker URL PREFIX FOLDER HOOK
NOW`` (from the repository root) it opens its own engine on the test's
tables and runs dispatch passes at the simulated time ``NOW`` until one does
nothing, then prints the totals as one JSON line. With the environment
variable ``WORKFLOW_DISPATCH_KILL=after-send`` the channel sends the first
message and then the process sends itself SIGKILL, before the dispatcher
can record the send: a crash at the worst moment. With
``WORKFLOW_DISPATCH_GO=NAME`` it first touches ``NAME.<pid>`` and waits for
``NAME`` to exist, so that several workers start their passes together.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import sys
import time
from pathlib import Path

from notifiers.base import Channel, Message
from notifiers.config import NotifierConfig, parse_notifier_config
from workflow.app import Engine
from workflow.core.clock import ManualClock
from workflow.definition.loader import Catalog, load_definition
from workflow.definition.templates.templateset import TemplateSet
from workflow.directory.static import StaticDirectory
from workflow.notify.dispatch import Dispatcher
from workflow.notify.recipients import Contact
from workflow.store.sql import create_database_engine

__all__ = [
    "DEFINITION_YAML",
    "GO_ENV",
    "KILL_ENV",
    "catalog",
    "directory",
    "hook_config",
    "templates",
    "write_world",
]

KILL_ENV = "WORKFLOW_DISPATCH_KILL"
GO_ENV = "WORKFLOW_DISPATCH_GO"
"""A file name: the worker says it is ready in ``<name>.<pid>``, then waits for ``<name>``."""

DEFINITION_YAML = """\
id: notice_test
version: 1
title: {zh: 通知測試, en: Notice test}
initial: handling
started_by: office
fields:
  title:
    type: string
  lead_unit:
    type: ref
    ref: unit
roles:
  office:
    group: coordinating_office
  unit:
    field: lead_unit
states:
  handling:
    label: {zh: 辦理, en: Handling}
  done:
    label: {zh: 完成, en: Done}
    final: true
events:
  - name: finish
    label: {zh: 完成, en: Finish}
    from: handling
    to: done
    roles: [office, unit]
"""

TEMPLATES = {
    "note.zh.j2": (
        "{% block subject %}事項 {{ item.id }}:{{ item.state_label }}{% endblock %}"
        "{% block body %}{{ recipient.name }},您好。{{ workflow.title }}{% endblock %}"
    ),
    "note.en.j2": (
        "{% block subject %}Item {{ item.id }}: {{ item.state_label }}{% endblock %}"
        "{% block body %}Dear {{ recipient.name }}, {{ workflow.title }}{% endblock %}"
    ),
    "broken.j2": (
        "{% block subject %}{{ item.id }}{% endblock %}{% block body %}{{ 1 // 0 }}{% endblock %}"
    ),
    "digest.j2": (
        "{% block subject %}{{ count }} notices{% endblock %}"
        "{% block body %}{% for m in messages %}- {{ m.subject }}\n{% endfor %}{% endblock %}"
    ),
}


def directory(*, chen_digest: bool | None = None, extra: bool = False) -> StaticDirectory:
    """Who is who: the office (li in Chinese, wang in English), chen for u_culture.

    ``u_nobody`` has no one; ``u_ghost`` has someone without any contact.
    With ``extra``, ``u_ghost``'s person gets an address (the directory fixed).
    """
    contacts = [
        Contact("li", "李主任", "zh", {"fake": "li@office.example.gov.cn"}),
        Contact("wang", "Wang Wei", "en", {"fake": "wang@office.example.gov.cn"}),
        Contact(
            "chen",
            "陳科長",
            "zh",
            {"fake": "chen@culture.example.gov.cn", "hooks": "13800000201"},
            chen_digest,
        ),
    ]
    if extra:
        contacts.append(Contact("ghost", "Ghost", "en", {"fake": "ghost@example.gov.cn"}))
    return StaticDirectory(
        groups={"coordinating_office": ["li", "wang"]},
        members={("unit", "u_culture"): ["chen"], ("unit", "u_ghost"): ["ghost"]},
        contacts=contacts,
    )


def write_world(folder: Path) -> None:
    """Write the definition and the templates under ``folder``."""
    (folder / "notice_test.yaml").write_text(DEFINITION_YAML, encoding="utf-8")
    (folder / "_templates").mkdir(exist_ok=True)
    for name, text in TEMPLATES.items():
        (folder / "_templates" / name).write_text(text, encoding="utf-8")


def catalog(folder: Path) -> Catalog:
    """Load the definition written by :func:`write_world`."""
    return Catalog([load_definition(str(folder / "notice_test.yaml"))])


def templates(folder: Path) -> TemplateSet:
    """The test's templates alone (not the shipped ones)."""
    return TemplateSet.from_folders([folder / "_templates"], shipped=False)


def hook_config(url: str, *, lease: float = 60) -> NotifierConfig:
    """A configuration whose one channel is a webhook to ``url`` (addressed by mobile)."""
    return parse_notifier_config(
        f"""
delivery: {{max_attempts: 5, initial_backoff: 30, lease: {lease}}}
channels:
  hooks: {{type: webhook, url: "{url}", timeout: 5}}
""",
        environ={},
    )


class _KillAfterSend:
    """A channel that sends, then kills its own process before the send can be recorded."""

    def __init__(self, inner: Channel) -> None:
        self.inner = inner

    @property
    def name(self) -> str:
        return self.inner.name

    def send(self, message: Message) -> None:
        self.inner.send(message)
        os.kill(os.getpid(), signal.SIGKILL)

    def close(self) -> None:
        self.inner.close()


def main(argv: list[str]) -> int:
    """Run dispatch passes at a fixed simulated time until one finds nothing to do."""
    url, prefix, folder, hook, now_text = argv
    now = dt.datetime.fromisoformat(now_text)
    sa = create_database_engine(url)
    engine = Engine.from_engine(
        sa,
        definitions=catalog(Path(folder)),
        directory=directory(),
        clock=ManualClock(now),
        prefix=prefix,
    )
    config = hook_config(hook)
    channels = config.build_channels()
    if os.environ.get(KILL_ENV) == "after-send":
        channels = {name: _KillAfterSend(channel) for name, channel in channels.items()}
    dispatcher = Dispatcher(engine, config, channels, templates(Path(folder)))
    go = os.environ.get(GO_ENV)
    if go:
        # Start together: every worker is loaded and connected before any claims.
        Path(f"{go}.{os.getpid()}").touch()
        deadline = time.monotonic() + 60
        while not Path(go).exists() and time.monotonic() < deadline:
            time.sleep(0.005)
    totals = {"sent": 0, "expanded": 0, "lost": 0, "failures": 0, "passes": 0}
    try:
        while True:
            report = dispatcher.run_pass(now, limit=5)
            totals["passes"] += 1
            totals["sent"] += report.sent
            totals["expanded"] += report.expanded
            totals["lost"] += len(report.lost_leases)
            totals["failures"] += len(report.failures)
            if not (report.sent or report.expanded or report.retried or report.lost_leases):
                break
    finally:
        dispatcher.close()
        sa.dispose()
    print(json.dumps(totals), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
