r"""The Feishu / Lark (飞书) custom group robot, with its optional signing secret.

The webhook URL carries the robot's token in its path and is a secret. When
the robot has "签名校验" (signature verification) enabled, the JSON body
carries two more fields computed from the secret::

    timestamp = current Unix time in seconds (sent as a string)
    sign      = base64(HMAC-SHA256(key=f"{timestamp}\n{secret}", msg=b""))

(note that, unlike DingTalk, the string is the HMAC *key* and the message is
empty). Feishu refuses a timestamp more than an hour from its own clock.

What is sent: a rich-text ``post`` message, titled with the subject, one
paragraph per line of the body, the item link as a hyperlink, and a mention
of the recipient when the address is a Feishu user id or open id (``ou_...``);
custom robots cannot mention by mobile number, so such an address is written
as plain text instead.

The robot answers HTTP 200 with ``{"code": 0, "msg": "success"}`` (older
deployments: ``{"StatusCode": 0}``). Frequency limits (11232; the robot takes
100 messages a minute, 5 a second; 99991400) are retryable; signature,
keyword and IP failures (19021, 19024, 19022) and bad requests (9499) are
not. The robot API has no idempotency field.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any

import httpx

from notifiers._http import JsonPoster, check_robot_reply, json_bytes
from notifiers._text import MOBILE, fit_utf8, one_line
from notifiers.base import Message
from notifiers.redaction import Redactor

__all__ = ["FeishuChannel", "feishu_sign"]

BODY_LIMIT = 18000
RETRYABLE_CODES = frozenset({11232, 99991400})
_HINTS = {
    19021: "the signature or timestamp is wrong: check the secret and the clock",
    19022: "this server's IP address is not on the robot's allow-list",
    19024: "the message lacks the robot's required keyword",
}


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """Return the base64 signature Feishu expects for ``timestamp_s``."""
    key = f"{timestamp_s}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode("ascii")


class FeishuChannel:
    """Posts each message to a Feishu group through its custom robot."""

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
        return f"FeishuChannel({self._name!r}, {self._poster.endpoint!r})"

    @property
    def name(self) -> str:
        """The configured channel name."""
        return self._name

    def payload(self, message: Message) -> dict[str, Any]:
        """Return the robot's ``post`` message for ``message`` (unsigned)."""
        address = message.address.strip()
        body = fit_utf8(message.body.rstrip(), BODY_LIMIT)
        paragraphs: list[list[dict[str, str]]] = [
            [{"tag": "text", "text": line}] for line in body.split("\n")
        ]
        if message.link:
            label = "查看" if message.locale.startswith("zh") else "Open"
            paragraphs.append([{"tag": "a", "text": label, "href": message.link}])
        if address and MOBILE.match(address):
            paragraphs.append([{"tag": "text", "text": f"@{message.recipient_name or address}"}])
        elif address:
            at = {"tag": "at", "user_id": address}
            if message.recipient_name:
                at["user_name"] = message.recipient_name
            paragraphs.append([at])
        language = "zh_cn" if message.locale.startswith("zh") else "en_us"
        title = ("❗ " if message.urgent else "") + one_line(message.subject)
        post = {language: {"title": title, "content": paragraphs}}
        return {"msg_type": "post", "content": {"post": post}}

    def send(self, message: Message) -> None:
        """Post ``message`` or raise :class:`~notifiers.base.DeliveryError`."""
        data = self.payload(message)
        if self._secret:
            timestamp = int(self._clock())
            data = {
                "timestamp": str(timestamp),
                "sign": feishu_sign(self._secret, timestamp),
            } | data
        reply = self._poster.post(json_bytes(data))
        check_robot_reply(
            self._poster,
            reply,
            code_keys=("code", "StatusCode"),
            message_keys=("msg", "StatusMessage"),
            retryable_codes=RETRYABLE_CODES,
            explain=lambda code: _HINTS.get(code, ""),
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._poster.close()
