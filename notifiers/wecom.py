"""The WeCom (企业微信) group robot.

The robot's webhook URL carries its key in the query string, so the URL is a
secret: it is configured from the environment and never shown (errors name
only ``scheme://host``).

What is sent: a ``markdown`` message (bold subject, the body, the item link)
whose content is cut to the robot's 4096-byte limit. A markdown message can
mention a person only by WeCom user id (``<@userid>``), not by mobile number,
so when the recipient's address looks like a mobile number the message is
sent as ``text`` (2048-byte limit) with ``mentioned_mobile_list`` instead;
any other non-empty address is taken as a user id and mentioned in the
markdown; an empty address posts to the group with no mention.

The robot answers HTTP 200 with ``{"errcode": 0, "errmsg": "ok"}``; a
non-zero ``errcode`` is a refusal. Rate limits (45009, 45033) and "system
busy" (-1) are retryable; any other code (invalid key 93000, bad content) is
not. The robot API has no idempotency field: a resend after a crash shows
twice in the group (the documented at-least-once guarantee).
"""

from __future__ import annotations

from typing import Any

import httpx

from notifiers._http import JsonPoster, check_robot_reply, json_bytes
from notifiers._text import MOBILE, fit_utf8, one_line, text_with_link
from notifiers.base import Message
from notifiers.redaction import Redactor

__all__ = ["WeComChannel"]

MARKDOWN_LIMIT = 4096
TEXT_LIMIT = 2048
RETRYABLE_CODES = frozenset({-1, 45009, 45033})
_HINTS = {93000: "the webhook key is invalid or the robot was removed"}


class WeComChannel:
    """Posts each message to a WeCom group through its robot webhook."""

    def __init__(
        self,
        name: str,
        *,
        url: str,
        timeout: float = 10.0,
        redactor: Redactor | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._name = name
        own = Redactor([url])
        redact = own if redactor is None else redactor.merged(own)
        self._poster = JsonPoster(name, url, timeout=timeout, redactor=redact, transport=transport)

    def __repr__(self) -> str:
        return f"WeComChannel({self._name!r}, {self._poster.endpoint!r})"

    @property
    def name(self) -> str:
        """The configured channel name."""
        return self._name

    def payload(self, message: Message) -> dict[str, Any]:
        """Return the robot message (``markdown``, or ``text`` to mention a mobile)."""
        address = message.address.strip()
        subject = one_line(message.subject)
        if address and MOBILE.match(address):
            content = f"{subject}\n{text_with_link(message)}"
            return {
                "msgtype": "text",
                "text": {
                    "content": fit_utf8(content, TEXT_LIMIT),
                    "mentioned_mobile_list": [address],
                },
            }
        body = text_with_link(message)
        if message.link:
            body = body.replace(message.link, f"[{message.link}]({message.link})")
        mention = f"<@{address}>\n" if address else ""
        urgent = '<font color="warning">!</font> ' if message.urgent else ""
        content = f"{mention}**{urgent}{subject}**\n{body}"
        return {"msgtype": "markdown", "markdown": {"content": fit_utf8(content, MARKDOWN_LIMIT)}}

    def send(self, message: Message) -> None:
        """Post ``message`` or raise :class:`~notifiers.base.DeliveryError`."""
        reply = self._poster.post(json_bytes(self.payload(message)))
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
