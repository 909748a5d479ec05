"""The demo's notifications: the outbox delivered through the console channel.

Every step of the demo writes its notification intents into the outbox in the
same transaction as the transition (the engine does that, not the demo); the
demo then runs one dispatch pass at the simulated time, as the daemon's
dispatch job would, and the console channel prints each message as one line
under the step that caused it. ``workflow outbox list`` shows the same rows
afterwards.
"""

from __future__ import annotations

import datetime as dt
import io
from collections import Counter
from collections.abc import Callable

import click

from notifiers.base import Message
from notifiers.config import NotifierConfig
from notifiers.console import ConsoleChannel
from workflow.app import Engine
from workflow.notify.dispatch import Dispatcher, DispatchReport

__all__ = ["DemoPost"]

CHANNEL = "console"


class _Counting:
    """The console channel, counting whom it reached."""

    def __init__(self, channel: ConsoleChannel) -> None:
        self._channel = channel
        self.people: Counter[str] = Counter()

    @property
    def name(self) -> str:
        """The channel's name."""
        return self._channel.name

    def send(self, message: Message) -> None:
        """Print the message and count its recipient."""
        self._channel.send(message)
        self.people[message.address or ""] += 1

    def close(self) -> None:
        """Close the console channel."""
        self._channel.close()


class DemoPost:
    """Runs dispatch passes for the demo and prints what the console channel delivers."""

    def __init__(self, engine: Engine) -> None:
        # The default configuration is the console channel alone (no file, no
        # environment): exactly what a fresh installation's daemon delivers through.
        self._buffer = io.StringIO()
        self._config = NotifierConfig()
        self._channel = _Counting(ConsoleChannel(CHANNEL, stream=self._buffer, style="line"))
        self._dispatcher = Dispatcher(
            engine, self._config, {CHANNEL: self._channel}, rand=lambda: 0.0
        )
        self.sent = 0
        self.digests = 0
        self.unroutable = 0

    def deliver(
        self, now: dt.datetime, indent: int, heading: Callable[[], None] | None = None
    ) -> DispatchReport:
        """Run one pass at ``now`` and print each delivered message, indented.

        ``heading`` prints a line first, when the pass delivers anything (a
        digest falling due in a pass where nothing else happened).
        """
        report = self._dispatcher.run_pass(now)
        if heading is not None and (self._buffer.getvalue() or report.unroutable):
            heading()
        if report.failures or report.dead:
            raise click.ClickException(f"notifications: {report.summary()}")
        self.sent += report.sent
        self.digests += report.digests
        self.unroutable += len(report.unroutable)
        for line in self._buffer.getvalue().splitlines():
            click.echo(f"{' ' * indent}{line}")
        for row_id in report.unroutable:
            click.echo(f"{' ' * indent}✉ outbox row {row_id} reached nobody; kept as unroutable")
        self._buffer.seek(0)
        self._buffer.truncate()
        return report

    def close(self) -> None:
        """Release the channel."""
        self._dispatcher.close()

    def summary(self) -> str:
        """One paragraph: how many messages went to how many people, and how."""
        text = (
            f"{self.sent} message(s) to {len(self._channel.people)} people through the console "
            "channel"
        )
        if self.digests:
            text += f", {self.digests} of them a daily digest (people who asked for one)"
        if self.unroutable:
            text += f"; {self.unroutable} intent(s) reached nobody and stay in the outbox"
        return text
