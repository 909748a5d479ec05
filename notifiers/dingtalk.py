r"""The DingTalk (钉钉) custom group robot, with its optional signing secret.

The webhook URL carries ``access_token`` in its query string and is a secret.
When the robot's security setting is "加签" (signing), each request adds two
query parameters computed from the secret (the one starting with ``SEC``)::

    timestamp = current Unix time in milliseconds
    sign      = urlencode(base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\n{secret}")))

DingTalk refuses a timestamp more than an hour from its own clock.

What is sent: a ``markdown`` message (``title`` = the subject, ``text`` =
heading, body and item link). When the recipient's address looks like a
mobile number it goes in ``at.atMobiles`` (and ``@<mobile>`` is written into
the text, where DingTalk renders the mention); any other non-empty address
is taken as a DingTalk user id (``at.atUserIds``).

The robot answers HTTP 200 with ``{"errcode": 0, "errmsg": "ok"}``. "Send
too fast" (130101; the robot takes 20 messages a minute) and "system busy"
(-1) are retryable; bad token, signature, keyword or IP allow-list (310000
and others) are not. The robot API has no idempotency field.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote_plus

import httpx

from notifiers._http import JsonPoster, check_robot_reply, json_bytes
from notifiers._text import MOBILE, fit_utf8, one_line, text_with_link
from notifiers.base import Message
from notifiers.redaction import Redactor

__all__ = ["DingTalkChannel", "dingtalk_sign"]

TEXT_LIMIT = 18000
RETRYABLE_CODES = frozenset({-1, 130101})
_HINTS = {
    310000: "signature, keyword or IP allow-list does not match the robot's security settings",
    300001: "the access token is invalid",
}


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """Return the base64 signature (before URL encoding) for ``timestamp_ms``."""
    text = f"{timestamp_ms}\n{secret}".encode()
    mac = hmac.new(secret.encode("utf-8"), text, hashlib.sha256).digest()
    return base64.b64encode(mac).decode("ascii")


class DingTalkChannel:
    """Posts each message to a DingTalk group through its custom robot."""

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
        return f"DingTalkChannel({self._name!r}, {self._poster.endpoint!r})"

    @property
    def name(self) -> str:
        """The configured channel name."""
        return self._name

    def payload(self, message: Message) -> dict[str, Any]:
        """Return the robot's ``markdown`` message for ``message``."""
        address = message.address.strip()
        subject = one_line(message.subject)
        body = text_with_link(message)
        if message.link:
            body = body.replace(message.link, f"[{message.link}]({message.link})")
        at: dict[str, Any] = {"isAtAll": False}
        mention = ""
        if address and MOBILE.match(address):
            at["atMobiles"] = [address]
            mention = f"\n\n@{address}"
        elif address:
            at["atUserIds"] = [address]
            mention = f"\n\n@{address}"
        marker = "❗ " if message.urgent else ""
        text = fit_utf8(f"### {marker}{subject}\n\n{body}", TEXT_LIMIT - 64) + mention
        return {"msgtype": "markdown", "markdown": {"title": subject, "text": text}, "at": at}

    def send(self, message: Message) -> None:
        """Post ``message`` or raise :class:`~notifiers.base.DeliveryError`."""
        query = ""
        if self._secret:
            timestamp = int(self._clock() * 1000)
            sign = quote_plus(dingtalk_sign(self._secret, timestamp))
            query = f"timestamp={timestamp}&sign={sign}"
        reply = self._poster.post(json_bytes(self.payload(message)), query=query)
        check_robot_reply(
            self._poster,
            reply,
            code_keys=("errcode",),
            message_keys=("errmsg",),
            retryable_codes=RETRYABLE_CODES,
            explain=lambda code: _HINTS.get(code, ""),
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._poster.close()
