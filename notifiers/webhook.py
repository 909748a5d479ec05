"""A generic JSON webhook, signed with HMAC-SHA256, for systems of the office's own.

Each message is one ``POST`` of this JSON object (UTF-8)::

    {"key": "<idempotency key>", "subject": "...", "body": "...", "urgent": false,
     "link": "https://..." | null, "locale": "zh",
     "recipient": {"address": "...", "name": "..."}, "metadata": {"item": "42", ...}}

with the headers

- ``Idempotency-Key``: the message key (percent-encoded if not plain ASCII);
  a receiver that stores it can drop the resend that follows a crash;
- ``X-Workflow-Timestamp``: Unix seconds when the request was signed;
- ``X-Workflow-Signature``: ``sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">``
  keyed with the configured secret (absent when no secret is configured).

A receiver verifies by recomputing the HMAC over the exact body bytes, comparing
in constant time, and refusing timestamps more than a few minutes old (which
stops a captured request being replayed later). Any 2xx answer means
delivered; see :mod:`notifiers._http` for how other answers are classified.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable

import httpx

from notifiers._http import JsonPoster, json_bytes
from notifiers._text import ascii_key
from notifiers.base import Message
from notifiers.redaction import Redactor

__all__ = ["WebhookChannel", "webhook_signature"]


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """Return the ``X-Workflow-Signature`` value for a body signed at ``timestamp``."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, "sha256")
    return "sha256=" + mac.hexdigest()


class WebhookChannel:
    """Posts each message as signed JSON to one URL."""

    def __init__(
        self,
        name: str,
        *,
        url: str,
        secret: str | None = None,
        timeout: float = 10.0,
        redactor: Redactor | None = None,
        clock: Callable[[], float] = time.time,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._name = name
        self._secret = secret
        self._clock = clock
        own = Redactor([s for s in (url, secret) if s])
        redact = own if redactor is None else redactor.merged(own)
        self._poster = JsonPoster(name, url, timeout=timeout, redactor=redact, transport=transport)

    def __repr__(self) -> str:
        return f"WebhookChannel({self._name!r}, {self._poster.endpoint!r})"

    @property
    def name(self) -> str:
        """The configured channel name."""
        return self._name

    def payload(self, message: Message) -> bytes:
        """Return the JSON body sent for ``message``."""
        return json_bytes(
            {
                "key": message.key,
                "subject": message.subject,
                "body": message.body,
                "urgent": message.urgent,
                "link": message.link,
                "locale": message.locale,
                "recipient": {"address": message.address, "name": message.recipient_name},
                "metadata": dict(message.metadata),
            }
        )

    def send(self, message: Message) -> None:
        """Post ``message`` or raise :class:`~notifiers.base.DeliveryError`."""
        body = self.payload(message)
        timestamp = str(int(self._clock()))
        headers = {"Idempotency-Key": ascii_key(message.key), "X-Workflow-Timestamp": timestamp}
        if self._secret:
            headers["X-Workflow-Signature"] = webhook_signature(self._secret, timestamp, body)
        reply = self._poster.post(body, headers)
        failed = self._poster.status_error(reply)
        if failed is not None:
            raise failed

    def close(self) -> None:
        """Close the connection pool."""
        self._poster.close()
