"""The console channel: prints each message as a readable block (the default channel).

With no configuration at all this is the only channel, so the demo and a
fresh installation show their notifications with no set-up. It can also
write to the ``logging`` system instead (``stream: log``), one INFO record
per message on the ``notifiers.console`` logger, for a daemon whose output
goes to a journal. ``style: line`` prints one line per message (who, subject)
instead of the whole block, for a terminal or log that should stay short.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Literal, TextIO

from notifiers._text import text_with_link
from notifiers.base import DeliveryError, Message

__all__ = ["ConsoleChannel"]

_LOG = logging.getLogger("notifiers.console")

ConsoleStream = Literal["stdout", "stderr", "log"]
ConsoleStyle = Literal["block", "line"]


class ConsoleChannel:
    """Writes every message to a text stream (stdout by default) or to the log."""

    def __init__(
        self,
        name: str = "console",
        *,
        stream: ConsoleStream | TextIO = "stdout",
        style: ConsoleStyle = "block",
    ) -> None:
        self._name = name
        self._stream = stream
        self._style = style
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        where = self._stream if isinstance(self._stream, str) else "stream"
        return f"ConsoleChannel({self._name!r}, {where})"

    @property
    def name(self) -> str:
        """The configured channel name."""
        return self._name

    def render(self, message: Message) -> str:
        """Return what is printed for ``message``: the block, or one line with ``style: line``."""
        who = message.address or "(everyone)"
        if message.recipient_name and message.recipient_name != message.address:
            who = f"{message.recipient_name} <{who}>"
        flag = " [URGENT]" if message.urgent else ""
        if self._style == "line":
            subject = " ".join(message.subject.split())
            return f"✉ {self._name}{flag} → {who}: {subject}"
        lines = [
            f"── notification via {self._name}{flag} ──",
            f"To: {who}",
            f"Subject: {message.subject}",
            "",
            text_with_link(message).rstrip(),
            f"(key {message.key})",
            "",
        ]
        return "\n".join(lines)

    def send(self, message: Message) -> None:
        """Print ``message``; a closed or failing stream raises :class:`DeliveryError`."""
        block = self.render(message)
        if self._stream == "log":
            _LOG.info("%s", block)
            return
        if self._stream == "stdout":
            target: TextIO = sys.stdout
        elif self._stream == "stderr":
            target = sys.stderr
        else:
            target = self._stream
        try:
            with self._lock:
                target.write(block + "\n")
                target.flush()
        except ValueError:
            raise DeliveryError(
                f"{self._name}: the output stream is closed", retryable=False
            ) from None
        except OSError as error:
            raise DeliveryError(
                f"{self._name}: cannot write to the output ({error.strerror})", retryable=True
            ) from None

    def close(self) -> None:
        """Nothing to release: the stream belongs to the caller."""
