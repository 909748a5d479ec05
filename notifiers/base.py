"""The channel interface: what the outbox dispatcher hands a channel, and how a channel fails.

A channel delivers one already-rendered :class:`Message` to one address.
It knows nothing of workflows, items or the database: the dispatcher
renders, resolves recipients, retries and records attempts. A channel only
has to say, when it fails, whether trying again later could help.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from workflow.errors import WorkflowError

__all__ = ["Channel", "DeliveryError", "Message"]


@dataclass(frozen=True)
class Message:
    """One rendered notification for one recipient on one channel."""

    key: str
    """The idempotency key: the same message always carries the same key, so a
    resend after a crash can be recognised (sent as a header where the channel
    has one, and as the e-mail Message-ID)."""
    address: str
    """Where to: an e-mail address, or for a group robot the person to mention
    (an empty address posts to the group without a mention)."""
    subject: str
    body: str
    recipient_name: str = ""
    """The person's display name, for a greeting or a mention."""
    urgent: bool = False
    locale: str = "zh"
    link: str | None = None
    """A link to the item in the office system, if a base URL is configured."""
    metadata: Mapping[str, str] = field(default_factory=dict)
    """Plain identifiers (workflow, item id, kind) a webhook receiver may route on."""


class DeliveryError(WorkflowError):
    """A channel could not deliver a message.

    ``retryable`` says whether the same message may succeed later (a timeout,
    a refused connection, an HTTP 5xx or 429) or never will (a rejected
    address, a 4xx, a robot that answers "invalid token"). Messages never
    contain a secret: channels build them from redacted text. ``retry_after``
    is the peer's own hint, when it gave one; the dispatcher may wait at least
    that long instead of its computed backoff.
    """

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        """Seconds the peer asked us to wait (an HTTP ``Retry-After``), if it said."""


@runtime_checkable
class Channel(Protocol):
    """Something that delivers messages: e-mail, a webhook, a group robot, the console."""

    @property
    def name(self) -> str:
        """The configured name (``email``, ``office_robot``); addresses are keyed by it."""
        ...

    def send(self, message: Message) -> None:
        """Deliver ``message`` or raise :class:`DeliveryError`; must not raise anything else."""
        ...

    def close(self) -> None:
        """Release connections (called when the dispatcher stops)."""
        ...
