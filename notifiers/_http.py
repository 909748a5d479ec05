"""The one module that talks HTTP (through ``httpx``) for the webhook and robot channels.

It posts a JSON body, reads a bounded answer, and turns every ``httpx``
failure into a :class:`~notifiers.base.DeliveryError` whose ``retryable``
flag follows one rule for all channels:

- no answer at all (refused connection, DNS failure, timeout, a dropped
  connection): retryable;
- HTTP 408, 409, 425, 429 and 5xx: retryable (with ``Retry-After`` if given);
- any other status outside 2xx (3xx included: configure the final URL): not.

Error messages name the channel and the endpoint as ``scheme://host:port``
only: the path and query of a robot URL hold its token, so they never appear.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from notifiers._text import fit_utf8
from notifiers.base import DeliveryError
from notifiers.redaction import Redactor

__all__ = ["JsonPoster", "Reply", "check_robot_reply", "endpoint_of", "json_bytes"]

MAX_REPLY_BYTES = 64 * 1024
"""Most of an answer read; robots answer with a few dozen bytes of JSON."""
_RETRYABLE_STATUS = frozenset({408, 409, 425, 429})
_USER_AGENT = "service-workflow-notifier/1"


def json_bytes(data: object) -> bytes:
    """Encode ``data`` as compact UTF-8 JSON (Chinese text stays readable)."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def endpoint_of(url: str) -> str:
    """Return ``scheme://host[:port]`` of ``url``: what an error may show of it."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


@dataclass(frozen=True)
class Reply:
    """An HTTP answer: its status, headers and (bounded) body."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def json_object(self) -> dict[str, Any] | None:
        """Return the body as a JSON object, or None if it is not one."""
        try:
            data = json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def retry_after(self) -> float | None:
        """Return the ``Retry-After`` seconds the peer gave, if it gave a number."""
        value = self.headers.get("retry-after", "").strip()
        return float(value) if value.isdigit() else None


class JsonPoster:
    """Posts JSON to one configured URL with a reused connection pool."""

    def __init__(
        self,
        channel: str,
        url: str,
        *,
        timeout: float,
        redactor: Redactor,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._channel = channel
        self._url = url
        self._timeout = timeout
        self._redact = redactor
        self._transport = transport
        self._client: httpx.Client | None = None
        self.endpoint = endpoint_of(url)
        """``scheme://host:port`` of the URL, safe to show."""

    def __repr__(self) -> str:
        return f"JsonPoster({self._channel!r}, {self.endpoint!r})"

    def _fail(
        self, what: str, *, retryable: bool, retry_after: float | None = None
    ) -> DeliveryError:
        text = self._redact(f"{self._channel}: {self.endpoint}: {what}")
        return DeliveryError(text, retryable=retryable, retry_after=retry_after)

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(
                timeout=httpx.Timeout(self._timeout),
                follow_redirects=False,
                transport=self._transport,
                headers={"User-Agent": _USER_AGENT},
            )
        return self._client

    def post(
        self,
        body: bytes,
        headers: Mapping[str, str] | None = None,
        *,
        query: str = "",
    ) -> Reply:
        """POST ``body`` (JSON) to the URL, with ``query`` appended; return the answer.

        Raises :class:`DeliveryError` when no answer came; the caller judges the
        answer itself (see :meth:`status_error` and :func:`check_robot_reply`).
        """
        url = self._url
        if query:
            url += ("&" if "?" in url else "?") + query
        sent = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
        try:
            with self._http().stream("POST", url, content=body, headers=sent) as response:
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > MAX_REPLY_BYTES:
                        break
                return Reply(response.status_code, dict(response.headers), b"".join(chunks))
        except httpx.TimeoutException:
            raise self._fail(f"no answer within {self._timeout:g} s", retryable=True) from None
        except (httpx.UnsupportedProtocol, httpx.InvalidURL):
            raise self._fail(
                "the URL cannot be used: check the configuration", retryable=False
            ) from None
        except httpx.ConnectError as error:
            raise self._fail(f"cannot connect ({error})", retryable=True) from None
        except httpx.HTTPError as error:
            raise self._fail(f"{type(error).__name__} ({error})", retryable=True) from None
        except OSError as error:
            raise self._fail(f"{type(error).__name__} ({error})", retryable=True) from None
        except ValueError as error:
            # httpx refuses what it cannot put on the wire (a header it cannot encode):
            # the same message would be refused again.
            raise self._fail(f"cannot send ({error})", retryable=False) from None

    def status_error(self, reply: Reply, detail: str = "") -> DeliveryError | None:
        """Return the error an HTTP status means, or None for a 2xx."""
        if 200 <= reply.status < 300:
            return None
        said = f": {detail}" if detail else ""
        if reply.status >= 500 or reply.status in _RETRYABLE_STATUS:
            return self._fail(
                f"HTTP {reply.status}{said}", retryable=True, retry_after=reply.retry_after()
            )
        if 300 <= reply.status < 400:
            return self._fail(
                f"HTTP {reply.status} redirect: configure the final URL", retryable=False
            )
        return self._fail(f"HTTP {reply.status}{said}", retryable=False)

    def robot_error(self, what: str, *, retryable: bool) -> DeliveryError:
        """Return a channel error about what a robot answered."""
        return self._fail(what, retryable=retryable)

    def close(self) -> None:
        """Close the connection pool."""
        if self._client is not None:
            self._client.close()
            self._client = None


def check_robot_reply(
    poster: JsonPoster,
    reply: Reply,
    *,
    code_keys: tuple[str, ...],
    message_keys: tuple[str, ...],
    retryable_codes: Collection[int],
    explain: Callable[[int], str] = lambda code: "",
) -> None:
    """Raise unless a group robot's answer says the message was accepted.

    Robots answer HTTP 200 with ``{"<code>": 0, ...}`` on success and a
    non-zero code on failure; rate-limit and "system busy" codes are
    retryable, every other code (bad token, bad signature, keyword or IP
    filter) needs a configuration change and is not.
    """
    data = reply.json_object()
    code: int | None = None
    message = ""
    if data is not None:
        for key in code_keys:
            if isinstance(data.get(key), int) and not isinstance(data.get(key), bool):
                code = int(data[key])
                break
        for key in message_keys:
            if isinstance(data.get(key), str):
                message = fit_utf8(str(data[key]), 200)
                break
    if code is not None and code != 0 and code in retryable_codes:
        raise poster.robot_error(f"the robot answered code {code} {message!r}", retryable=True)
    failed = poster.status_error(reply, f"code {code} {message!r}" if code is not None else "")
    if failed is not None:
        raise failed
    if code is None:
        raise poster.robot_error(
            "the answer is not a robot's JSON reply: check the URL", retryable=False
        )
    if code != 0:
        hint = explain(code)
        raise poster.robot_error(
            f"the robot refused the message: code {code} {message!r}"
            + (f" ({hint})" if hint else ""),
            retryable=False,
        )
