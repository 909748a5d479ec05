"""Taking secrets out of text before it reaches an error, a log or the outbox history.

A :class:`Redactor` knows a set of secret values (passwords, signing keys,
robot URLs that embed an access token) and replaces each occurrence (of a
value at least :data:`MIN_SECRET` characters long) with ``***``, in the
forms a secret is likely to take in an error message: as is,
percent-encoded, and, for a URL, its query values and long path segments
(a Feishu hook URL carries its token in the path). Independently of what it
was told, it also blanks every query value and user:password part of any
``http(s)://`` URL it sees, so a token in a URL nobody declared still does
not get through.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, quote, quote_plus, urlsplit

__all__ = ["MASK", "MIN_SECRET", "Redactor"]

MASK = "***"
"""What a redacted secret is replaced with."""

_URL = re.compile(r"""(?i)\bhttps?://[^\s"'<>`]+""")
_USERINFO = re.compile(r"(?i)^(https?://)[^/@\s]*@")
_QUERY_VALUE = re.compile(r"(^|[&;])([^=&;]*)=([^&;]*)")
MIN_SECRET = 4
"""Shorter values are not masked: replacing every "ab" would wreck the text and
hide nothing (the configuration refuses such short secrets)."""
_LONG_SEGMENT = 16
"""Path segments at least this long in a secret URL are treated as tokens."""


def _scrub_url(match: re.Match[str]) -> str:
    url = _USERINFO.sub(r"\1" + MASK + "@", match.group(0))
    head, question, rest = url.partition("?")
    if not question:
        return url
    query, hash_sign, fragment = rest.partition("#")
    query = _QUERY_VALUE.sub(lambda m: f"{m[1]}{m[2]}={MASK}", query)
    return head + question + query + hash_sign + fragment


def _forms(secret: str) -> set[str]:
    """Return the spellings under which ``secret`` may show up in a message."""
    forms = {secret, quote(secret, safe=""), quote_plus(secret)}
    if secret.lower().startswith(("http://", "https://")):
        parts = urlsplit(secret)
        forms.update(value for _name, value in parse_qsl(parts.query) if value)
        forms.update(seg for seg in parts.path.split("/") if len(seg) >= _LONG_SEGMENT)
        if parts.password:
            forms.add(parts.password)
    return {form for form in forms if len(form) >= MIN_SECRET}


class Redactor:
    """Replaces known secret values, and every URL query value, with ``***``."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        found: set[str] = set()
        for secret in secrets:
            if len(secret) >= MIN_SECRET:
                found |= _forms(secret)
        # Longest first, so a URL is masked whole before a token inside it is.
        self._secrets = tuple(sorted(found, key=len, reverse=True))

    def __call__(self, text: str) -> str:
        """Return ``text`` with every secret and URL query value masked."""
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return _URL.sub(_scrub_url, text)

    def __repr__(self) -> str:
        return f"Redactor({len(self._secrets)} secret forms)"

    def merged(self, other: Redactor) -> Redactor:
        """Return a redactor that masks what this one and ``other`` mask."""
        combined = Redactor()
        combined._secrets = tuple(
            sorted(set(self._secrets) | set(other._secrets), key=len, reverse=True)
        )
        return combined
