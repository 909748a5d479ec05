"""Small text helpers shared by the channels (no third-party imports)."""

from __future__ import annotations

import re
from urllib.parse import quote

from notifiers.base import Message

__all__ = ["MOBILE", "ascii_key", "fit_utf8", "one_line", "text_with_link"]

MOBILE = re.compile(r"^\+?[0-9][0-9 -]{5,18}[0-9]$")
"""An address that looks like a phone number (robots mention people by mobile)."""
_PRINTABLE_ASCII = re.compile(r"^[\x21-\x7e]+$")


def fit_utf8(text: str, limit: int, ellipsis: str = "…") -> str:
    """Cut ``text`` so its UTF-8 form is at most ``limit`` bytes, marking the cut."""
    encoded = text.encode("utf-8")
    if len(encoded) <= limit:
        return text
    room = limit - len(ellipsis.encode("utf-8"))
    return encoded[: max(room, 0)].decode("utf-8", "ignore") + ellipsis


def ascii_key(key: str) -> str:
    """Return the idempotency key as a header-safe value (percent-encoded if need be).

    Keys are built from ids and are normally plain ASCII already; one that is
    not (a person id in Chinese, say) is percent-encoded as UTF-8, which is
    stable, so the same message still carries the same header.
    """
    if _PRINTABLE_ASCII.match(key):
        return key
    return quote(key, safe="!$&'()*+,/:;=?@[]~")


def one_line(text: str) -> str:
    """Fold line breaks to spaces (for a subject or a title)."""
    return " ".join(text.split())


def text_with_link(message: Message, link_label: str = "") -> str:
    """Return the body, followed by the item link on its own line when there is one."""
    if not message.link:
        return message.body
    label = link_label or ("查看" if message.locale.startswith("zh") else "Open")
    return f"{message.body.rstrip()}\n\n{label}: {message.link}"
