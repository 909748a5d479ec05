"""E-mail over SMTP with the standard library (``smtplib`` and ``email``).

One connection per message: notifications are few (digests make them fewer)
and a fresh connection never inherits a half-broken session. Security is
``tls`` (implicit TLS, usually port 465), ``starttls`` (usually 587) or
``none`` (a relay on a trusted network, usually 25; no password is ever sent
over it). Certificates are verified against the system store, or against
``ca_file`` for an office's own authority.

Each mail carries the idempotency key twice: as ``X-Idempotency-Key`` and
folded into the ``Message-ID`` (``<sha256(key)@sender-domain>``), so a mail
resent after a crash has the same Message-ID and mail clients and archives
can recognise the duplicate.

Failures follow SMTP's own rule: a 4xx reply is temporary (retryable), a 5xx
reply is permanent (not retryable), a connection that fails or times out is
retryable, and a TLS or authentication set-up the server does not offer
needs a configuration change (not retryable).
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formataddr, formatdate, parseaddr
from typing import Literal

from notifiers._text import ascii_key, one_line, text_with_link
from notifiers.base import DeliveryError, Message
from notifiers.redaction import Redactor

__all__ = ["DEFAULT_PORTS", "SmtpChannel", "SmtpSecurity"]

SmtpSecurity = Literal["none", "starttls", "tls"]
DEFAULT_PORTS: dict[str, int] = {"none": 25, "starttls": 587, "tls": 465}
"""The usual port for each security mode."""


def _looks_like_address(address: str) -> bool:
    name, parsed = parseaddr(address)
    local, at, domain = parsed.rpartition("@")
    return bool(at and local and "." in domain and parsed == address.strip() and not name)


class SmtpChannel:
    """Sends each message as one plain-text e-mail to the recipient's address."""

    def __init__(
        self,
        name: str,
        *,
        host: str,
        sender: str,
        port: int | None = None,
        security: SmtpSecurity = "starttls",
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
        ssl_context: ssl.SSLContext | None = None,
        redactor: Redactor | None = None,
    ) -> None:
        self._name = name
        self._host = host
        self._port = port or DEFAULT_PORTS[security]
        self._security = security
        self._sender = sender
        self._envelope_from = parseaddr(sender)[1]
        self._domain = self._envelope_from.rpartition("@")[2] or "localhost"
        self._username = username
        self._password = password
        self._timeout = timeout
        self._context = ssl_context or ssl.create_default_context()
        own = Redactor([password] if password else [])
        self._redact = own if redactor is None else redactor.merged(own)

    def __repr__(self) -> str:
        return f"SmtpChannel({self._name!r}, {self._host}:{self._port}, {self._security})"

    @property
    def name(self) -> str:
        """The configured channel name."""
        return self._name

    def message_id(self, key: str) -> str:
        """Return the Message-ID header derived from an idempotency key."""
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]
        return f"<{digest}@{self._domain}>"

    def compose(self, message: Message) -> EmailMessage:
        """Build the e-mail for ``message`` (headers, plain-text UTF-8 body)."""
        mail = EmailMessage(policy=SMTP_POLICY)
        mail["From"] = self._sender
        mail["To"] = formataddr((one_line(message.recipient_name), message.address.strip()))
        mail["Subject"] = one_line(message.subject)
        mail["Date"] = formatdate(localtime=True)
        mail["Message-ID"] = self.message_id(message.key)
        mail["X-Idempotency-Key"] = ascii_key(message.key)
        mail["Auto-Submitted"] = "auto-generated"
        if message.urgent:
            mail["Importance"] = "high"
            mail["X-Priority"] = "1"
        mail["Content-Language"] = message.locale
        mail.set_content(text_with_link(message), charset="utf-8")
        return mail

    def _fail(self, what: str, *, retryable: bool) -> DeliveryError:
        text = self._redact(f"{self._name}: {self._host}:{self._port}: {what}")
        return DeliveryError(text, retryable=retryable)

    def _reply_error(self, code: int, reply: bytes | str, what: str) -> DeliveryError:
        said = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
        # RFC 5321: 4yz replies are transient, 5yz replies are permanent.
        return self._fail(f"{what}: {code} {one_line(said)}", retryable=400 <= code < 500)

    def _connect(self) -> smtplib.SMTP:
        if self._security == "tls":
            return smtplib.SMTP_SSL(
                self._host, self._port, timeout=self._timeout, context=self._context
            )
        client = smtplib.SMTP(self._host, self._port, timeout=self._timeout)
        try:
            if self._security == "starttls":
                client.ehlo()
                client.starttls(context=self._context)
                client.ehlo()
        except BaseException:
            client.close()
            raise
        return client

    def send(self, message: Message) -> None:
        """Deliver ``message`` to ``message.address`` or raise :class:`DeliveryError`."""
        if not _looks_like_address(message.address):
            raise self._fail("the recipient address is not an e-mail address", retryable=False)
        try:
            mail = self.compose(message)
        except (ValueError, TypeError) as error:
            raise self._fail(f"cannot compose the mail ({error})", retryable=False) from None
        try:
            client = self._connect()
            try:
                if self._username is not None:
                    client.login(self._username, self._password or "")
                client.send_message(
                    mail, from_addr=self._envelope_from, to_addrs=[message.address.strip()]
                )
            finally:
                try:
                    client.quit()
                except (smtplib.SMTPException, OSError):
                    client.close()
        except smtplib.SMTPRecipientsRefused as error:
            code, reply = next(iter(error.recipients.values()))
            raise self._reply_error(code, reply, "the recipient was refused") from None
        except smtplib.SMTPNotSupportedError as error:
            raise self._fail(
                f"the server does not offer what the configuration needs ({error})",
                retryable=False,
            ) from None
        except smtplib.SMTPAuthenticationError as error:
            raise self._reply_error(
                error.smtp_code, error.smtp_error, "the login was refused"
            ) from None
        except smtplib.SMTPResponseException as error:
            raise self._reply_error(
                error.smtp_code, error.smtp_error, "the server refused the mail"
            ) from None
        except smtplib.SMTPServerDisconnected as error:
            raise self._fail(
                f"the server closed the connection ({error})", retryable=True
            ) from None
        except smtplib.SMTPException as error:
            # What is left (no usable AUTH mechanism, every recipient refused) needs a fix.
            raise self._fail(f"{type(error).__name__} ({error})", retryable=False) from None
        except ssl.SSLError as error:
            # A certificate that does not verify or a TLS mismatch will not fix itself.
            reason = error.reason or type(error).__name__
            raise self._fail(f"TLS failed ({reason})", retryable=False) from None
        except TimeoutError:
            raise self._fail(f"no answer within {self._timeout:g} s", retryable=True) from None
        except OSError as error:
            reason = error.strerror or type(error).__name__
            raise self._fail(f"cannot connect ({reason})", retryable=True) from None

    def close(self) -> None:
        """Nothing to release: each message uses its own connection."""
