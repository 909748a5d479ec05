"""Every channel against a real peer on loopback: what arrives, and how each failure is classed.

The peers are real protocol servers in the test process: an aiosmtpd SMTP
server (plain, STARTTLS and implicit TLS with a certificate made here, with
AUTH), and a threaded ``http.server`` playing a generic webhook receiver and
the WeCom, DingTalk and Feishu robots. The robot fakes check the signature
and timestamp with their own implementation of each vendor's documented
algorithm and answer the way the vendor does (HTTP 200 with an error code).
Failures are injected (error codes, 5xx, 429, a peer that does not answer,
a closed port) to prove which are retryable and that no secret leaks.
"""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import hmac
import io
import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from notifiers import (
    ConsoleChannel,
    DeliveryError,
    DingTalkChannel,
    FeishuChannel,
    Message,
    SmtpChannel,
    WebhookChannel,
    WeComChannel,
    parse_notifier_config,
)

NOW = 1_710_000_000.0  # a fixed clock for the signers: 2024-03-09T16:00:00Z
PASSWORD = "pa55-w0rd-smtp"
HOOK_SECRET = "hook-secret-0007"
DING_TOKEN = "ding-token-0002"
DING_SECRET = "SECding-secret-0003"
FEISHU_TOKEN = "feishu-hook-token-0004"
FEISHU_SECRET = "feishu-secret-0005"
WECOM_KEY = "wecom-key-0001"
SECRETS = [PASSWORD, HOOK_SECRET, DING_TOKEN, DING_SECRET, FEISHU_TOKEN, FEISHU_SECRET, WECOM_KEY]

MESSAGE = Message(
    key="event:42:3:commissioner/comm.sun/email",
    address="comm.sun@example.gov.cn",
    subject="事项 42 已交办:请在 3 个工作日内处理",
    body="企业「像素科技」反映的用地问题已交办给您。\n请及时处理。",
    recipient_name="孙专员",
    urgent=True,
    locale="zh",
    link="https://office.example.gov.cn/items/42",
    metadata={"workflow": "enterprise_issue", "item": "42", "kind": "event"},
)


def _assert_no_secret(error: DeliveryError) -> None:
    for secret in SECRETS:
        assert secret not in str(error)
        assert secret not in repr(error)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# -- an HTTP peer whose answers each test scripts ----------------------------------------------


@dataclass(frozen=True)
class Seen:
    """One request the peer received."""

    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))


HANG = (0, {}, b"")
Answer = tuple[int, dict[str, str], bytes]


@dataclass
class HttpPeer:
    """A threaded loopback HTTP server; ``answer`` decides each reply (``HANG``: none)."""

    port: int = 0
    seen: list[Seen] = field(default_factory=list)
    answer: Callable[[Seen], Answer] = lambda _seen: (200, {}, b"{}")
    release: threading.Event = field(default_factory=threading.Event)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def _ok(data: object) -> Answer:
    return 200, {"Content-Type": "application/json"}, json.dumps(data).encode()


@pytest.fixture
def peer() -> Iterator[HttpPeer]:
    state = HttpPeer()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            size = int(self.headers.get("Content-Length", "0"))
            parts = urlsplit(self.path)
            seen = Seen(
                parts.path,
                {k: v[0] for k, v in parse_qs(parts.query).items()},
                {k.lower(): v for k, v in self.headers.items()},
                self.rfile.read(size),
            )
            state.seen.append(seen)
            answer = state.answer(seen)
            if answer is HANG:
                # Held until the test has seen the client give up; then the socket is closed.
                state.release.wait(10)
                return
            status, headers, body = answer
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Keep the test output quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


def _fail(channel: Any, message: Message = MESSAGE) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        channel.send(message)
    _assert_no_secret(caught.value)
    return caught.value


# -- generic webhook -----------------------------------------------------------------------------


def _hook(peer: HttpPeer, timeout: float = 5.0) -> WebhookChannel:
    return WebhookChannel(
        "hooks",
        url=f"{peer.base}/in?token=hook-token-0006",
        secret=HOOK_SECRET,
        timeout=timeout,
        clock=lambda: NOW,
    )


def test_webhook_posts_signed_json_with_the_idempotency_key(peer: HttpPeer) -> None:
    peer.answer = lambda seen: (204, {}, b"")
    channel = _hook(peer)
    channel.send(MESSAGE)
    (seen,) = peer.seen
    assert seen.path == "/in"
    assert seen.headers["content-type"] == "application/json; charset=utf-8"
    assert seen.headers["idempotency-key"] == MESSAGE.key
    assert seen.headers["x-workflow-timestamp"] == "1710000000"
    # The receiver's check: HMAC-SHA256 over "<timestamp>.<exact body bytes>".
    expected = hmac.new(HOOK_SECRET.encode(), b"1710000000." + seen.body, hashlib.sha256)
    assert hmac.compare_digest(
        seen.headers["x-workflow-signature"], "sha256=" + expected.hexdigest()
    )
    assert seen.json() == {
        "key": MESSAGE.key,
        "subject": MESSAGE.subject,
        "body": MESSAGE.body,
        "urgent": True,
        "link": MESSAGE.link,
        "locale": "zh",
        "recipient": {"address": MESSAGE.address, "name": "孙专员"},
        "metadata": {"workflow": "enterprise_issue", "item": "42", "kind": "event"},
    }
    # A resend (after a crash, say) carries the same key, so the receiver can drop it.
    channel.send(MESSAGE)
    assert peer.seen[1].headers["idempotency-key"] == MESSAGE.key
    channel.close()


def test_webhook_key_that_is_not_ascii_is_percent_encoded(peer: HttpPeer) -> None:
    peer.answer = lambda seen: (200, {}, b"")
    _hook(peer).send(Message(key="event:1:1:办理人/张三/hooks", address="", subject="s", body="b"))
    assert peer.seen[0].headers["idempotency-key"] == (
        "event:1:1:%E5%8A%9E%E7%90%86%E4%BA%BA/%E5%BC%A0%E4%B8%89/hooks"
    )


@pytest.mark.parametrize(
    ("status", "headers", "retryable", "retry_after"),
    [
        (500, {}, True, None),
        (503, {"Retry-After": "120"}, True, 120.0),
        (429, {"Retry-After": "7"}, True, 7.0),
        (408, {}, True, None),
        (400, {}, False, None),
        (401, {}, False, None),
        (404, {}, False, None),
        (302, {"Location": "/elsewhere"}, False, None),
    ],
)
def test_webhook_http_failures_are_classified(
    peer: HttpPeer, status: int, headers: dict[str, str], retryable: bool, retry_after: float | None
) -> None:
    peer.answer = lambda seen: (status, headers, b"nope")
    error = _fail(_hook(peer))
    assert error.retryable is retryable
    assert error.retry_after == retry_after
    assert f"HTTP {status}" in str(error)
    assert str(error).startswith(f"hooks: {peer.base}: ")
    assert "/in" not in str(error)


def test_a_peer_that_does_not_answer_in_time_is_retryable(peer: HttpPeer) -> None:
    peer.answer = lambda seen: HANG
    error = _fail(_hook(peer, timeout=0.3))
    assert error.retryable
    assert "no answer within 0.3 s" in str(error)


def test_a_closed_port_is_retryable() -> None:
    channel = WebhookChannel("hooks", url=f"http://127.0.0.1:{_free_port()}/in", secret=HOOK_SECRET)
    error = _fail(channel)
    assert error.retryable
    assert "cannot connect" in str(error)


# -- WeCom -----------------------------------------------------------------------------------


def _wecom_robot(code: int = 0, message: str = "ok") -> Callable[[Seen], Answer]:
    def answer(seen: Seen) -> Answer:
        if seen.query.get("key") != WECOM_KEY:
            return _ok({"errcode": 93000, "errmsg": "invalid webhook url"})
        if seen.json().get("msgtype") not in ("markdown", "text"):
            return _ok({"errcode": 40008, "errmsg": "invalid message type"})
        return _ok({"errcode": code, "errmsg": message})

    return answer


def _wecom(peer: HttpPeer, key: str = WECOM_KEY) -> WeComChannel:
    return WeComChannel("office_robot", url=f"{peer.base}/cgi-bin/webhook/send?key={key}")


def test_wecom_posts_markdown_mentioning_a_user_id(peer: HttpPeer) -> None:
    peer.answer = _wecom_robot()
    _wecom(peer).send(replace(MESSAGE, address="SunZhuanYuan"))
    sent = peer.seen[0].json()
    assert sent["msgtype"] == "markdown"
    content = sent["markdown"]["content"]
    assert content.startswith("<@SunZhuanYuan>\n**")
    assert MESSAGE.subject in content
    assert (
        "[https://office.example.gov.cn/items/42](https://office.example.gov.cn/items/42)"
        in content
    )


def test_wecom_mentions_a_mobile_number_in_a_text_message(peer: HttpPeer) -> None:
    peer.answer = _wecom_robot()
    _wecom(peer).send(replace(MESSAGE, address="13800138000"))
    sent = peer.seen[0].json()
    assert sent["msgtype"] == "text"
    assert sent["text"]["mentioned_mobile_list"] == ["13800138000"]
    assert sent["text"]["content"].startswith(MESSAGE.subject)


def test_wecom_cuts_long_content_to_the_robot_limit(peer: HttpPeer) -> None:
    peer.answer = _wecom_robot()
    _wecom(peer).send(Message(key="k", address="", subject="s", body="长" * 5000))
    content = peer.seen[0].json()["markdown"]["content"]
    assert len(content.encode()) <= 4096
    assert content.endswith("…")


def test_wecom_codes_are_classified(peer: HttpPeer) -> None:
    peer.answer = _wecom_robot(45009, "api freq out of limit")
    error = _fail(_wecom(peer))
    assert error.retryable
    assert "code 45009" in str(error)
    peer.answer = _wecom_robot()
    error = _fail(_wecom(peer, key="wrong-key-0000"))
    assert not error.retryable
    assert "code 93000" in str(error)
    assert "webhook key is invalid" in str(error)
    assert "wrong-key-0000" not in str(error)
    peer.answer = lambda seen: (502, {}, b"<html>bad gateway</html>")
    assert _fail(_wecom(peer)).retryable
    peer.answer = lambda seen: (200, {}, b"<html>captive portal</html>")
    error = _fail(_wecom(peer))
    assert not error.retryable
    assert "not a robot's JSON reply" in str(error)


# -- DingTalk ----------------------------------------------------------------------------------


def _dingtalk_robot(code_after_checks: int = 0, now: float = NOW) -> Callable[[Seen], Answer]:
    """DingTalk's checks: token, then timestamp within an hour, then the HMAC signature."""

    def answer(seen: Seen) -> Answer:
        if seen.query.get("access_token") != DING_TOKEN:
            return _ok({"errcode": 300001, "errmsg": "token is not exist"})
        timestamp = seen.query.get("timestamp", "")
        if not timestamp.isdigit() or abs(int(timestamp) - now * 1000) > 3_600_000:
            return _ok({"errcode": 310000, "errmsg": "timestamp is invalid"})
        string_to_sign = f"{timestamp}\n{DING_SECRET}".encode()
        digest = hmac.new(DING_SECRET.encode(), string_to_sign, hashlib.sha256).digest()
        # parse_qs has already URL-decoded the sign parameter.
        if seen.query.get("sign") != base64.b64encode(digest).decode():
            return _ok({"errcode": 310000, "errmsg": "sign not match"})
        if code_after_checks:
            return _ok({"errcode": code_after_checks, "errmsg": "send too fast"})
        return _ok({"errcode": 0, "errmsg": "ok"})

    return answer


# 125 ms past NOW the signature holds a '+', which must reach DingTalk URL-encoded (%2B):
# sent raw, the server would read it as a space.
DING_CLOCK = NOW + 0.125


def _dingtalk(
    peer: HttpPeer, secret: str = DING_SECRET, clock: float = DING_CLOCK
) -> DingTalkChannel:
    return DingTalkChannel(
        "ding",
        url=f"{peer.base}/robot/send?access_token={DING_TOKEN}",
        secret=secret,
        clock=lambda: clock,
    )


def test_dingtalk_signs_and_posts_markdown_with_an_at_mobile(peer: HttpPeer) -> None:
    peer.answer = _dingtalk_robot()
    _dingtalk(peer).send(replace(MESSAGE, address="13800138000"))
    (seen,) = peer.seen
    assert seen.query["timestamp"] == "1710000000125"
    assert "+" in seen.query["sign"]
    sent = seen.json()
    assert sent["msgtype"] == "markdown"
    assert sent["markdown"]["title"] == MESSAGE.subject
    assert sent["markdown"]["text"].startswith(f"### ❗ {MESSAGE.subject}\n\n")
    assert sent["markdown"]["text"].endswith("@13800138000")
    assert sent["at"] == {"isAtAll": False, "atMobiles": ["13800138000"]}


def test_dingtalk_mentions_a_user_id(peer: HttpPeer) -> None:
    peer.answer = _dingtalk_robot()
    _dingtalk(peer).send(replace(MESSAGE, address="manager4321"))
    assert peer.seen[0].json()["at"] == {"isAtAll": False, "atUserIds": ["manager4321"]}


def test_dingtalk_refusals_are_classified(peer: HttpPeer) -> None:
    peer.answer = _dingtalk_robot()
    wrong_secret = _fail(_dingtalk(peer, secret="SECnot-the-secret"))
    assert not wrong_secret.retryable
    assert "code 310000 'sign not match'" in str(wrong_secret)
    assert "SECnot-the-secret" not in str(wrong_secret)
    stale = _fail(_dingtalk(peer, clock=NOW - 7200))
    assert not stale.retryable
    assert "timestamp is invalid" in str(stale)
    peer.answer = _dingtalk_robot(code_after_checks=130101)
    assert _fail(_dingtalk(peer)).retryable
    peer.answer = lambda seen: (500, {}, b"")
    assert _fail(_dingtalk(peer)).retryable


# -- Feishu ------------------------------------------------------------------------------------


def _feishu_robot(
    code_after_checks: int = 0, old_style: bool = False, now: float = NOW
) -> Callable[[Seen], Answer]:
    """Feishu's checks: hook token in the path, then timestamp and signature in the body."""

    def answer(seen: Seen) -> Answer:
        if seen.path != f"/open-apis/bot/v2/hook/{FEISHU_TOKEN}":
            return _ok(
                {"code": 19001, "msg": "param invalid: incoming webhook access token invalid"}
            )
        sent = seen.json()
        timestamp = sent.get("timestamp", "")
        key = f"{timestamp}\n{FEISHU_SECRET}".encode()
        expected = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
        fresh = timestamp.isdigit() and abs(int(timestamp) - now) <= 3600
        if not fresh or sent.get("sign") != expected:
            return _ok(
                {"code": 19021, "msg": "sign match fail or timestamp is not within one hour"}
            )
        if code_after_checks:
            return _ok({"code": code_after_checks, "msg": "frequency limited"})
        if old_style:
            return _ok({"StatusCode": 0, "StatusMessage": "success"})
        return _ok({"code": 0, "msg": "success", "data": {}})

    return answer


def _feishu(peer: HttpPeer, secret: str = FEISHU_SECRET) -> FeishuChannel:
    return FeishuChannel(
        "lark",
        url=f"{peer.base}/open-apis/bot/v2/hook/{FEISHU_TOKEN}",
        secret=secret,
        clock=lambda: NOW,
    )


def test_feishu_signs_and_posts_a_rich_text_message(peer: HttpPeer) -> None:
    peer.answer = _feishu_robot()
    _feishu(peer).send(replace(MESSAGE, address="ou_7d8a6e6df7621556"))
    sent = peer.seen[0].json()
    assert sent["timestamp"] == "1710000000"
    assert sent["msg_type"] == "post"
    post = sent["content"]["post"]["zh_cn"]
    assert post["title"] == f"❗ {MESSAGE.subject}"
    assert post["content"] == [
        [{"tag": "text", "text": "企业「像素科技」反映的用地问题已交办给您。"}],
        [{"tag": "text", "text": "请及时处理。"}],
        [{"tag": "a", "text": "查看", "href": MESSAGE.link}],
        [{"tag": "at", "user_id": "ou_7d8a6e6df7621556", "user_name": "孙专员"}],
    ]


def test_feishu_accepts_the_older_answer_form(peer: HttpPeer) -> None:
    peer.answer = _feishu_robot(old_style=True)
    _feishu(peer).send(MESSAGE)


def test_feishu_refusals_are_classified(peer: HttpPeer) -> None:
    peer.answer = _feishu_robot()
    wrong = _fail(_feishu(peer, secret="not-the-secret"))
    assert not wrong.retryable
    assert "code 19021" in str(wrong)
    assert "check the secret and the clock" in str(wrong)
    peer.answer = _feishu_robot(code_after_checks=11232)
    assert _fail(_feishu(peer)).retryable
    peer.answer = lambda seen: HANG
    slow = FeishuChannel(
        "lark", url=f"{peer.base}/open-apis/bot/v2/hook/{FEISHU_TOKEN}", timeout=0.3
    )
    error = _fail(slow)
    assert error.retryable
    assert error.args[0].startswith(f"lark: {peer.base}: no answer")


# -- configured end to end ---------------------------------------------------------------------


def test_channels_built_from_the_configuration_reach_their_peers(peer: HttpPeer) -> None:
    def route(seen: Seen) -> Answer:
        if seen.path.startswith("/robot/"):
            return _dingtalk_robot(now=time.time())(seen)
        if seen.path.startswith("/open-apis/"):
            return _feishu_robot(now=time.time())(seen)
        if seen.path.startswith("/cgi-bin/"):
            return _wecom_robot()(seen)
        return 204, {}, b""

    peer.answer = route
    environ = {
        "WECOM_URL": f"{peer.base}/cgi-bin/webhook/send?key={WECOM_KEY}",
        "DINGTALK_URL": f"{peer.base}/robot/send?access_token={DING_TOKEN}",
        "DINGTALK_SECRET": DING_SECRET,
        "FEISHU_URL": f"{peer.base}/open-apis/bot/v2/hook/{FEISHU_TOKEN}",
        "FEISHU_SECRET": FEISHU_SECRET,
        "HOOK_URL": f"{peer.base}/in",
        "HOOK_SECRET": HOOK_SECRET,
    }
    config = parse_notifier_config(
        "channels:\n"
        "  office_robot: {type: wecom, url: '${WECOM_URL}'}\n"
        "  ding: {type: dingtalk, url: '${DINGTALK_URL}', secret: '${DINGTALK_SECRET}'}\n"
        "  lark: {type: feishu, url: '${FEISHU_URL}', secret: '${FEISHU_SECRET}'}\n"
        "  hooks: {type: webhook, url: '${HOOK_URL}', secret: '${HOOK_SECRET}'}\n",
        environ=environ,
    )
    channels = config.build_channels()
    for channel in channels.values():
        channel.send(MESSAGE)
        channel.close()
    assert [s.path for s in peer.seen] == [
        "/cgi-bin/webhook/send",
        "/robot/send",
        f"/open-apis/bot/v2/hook/{FEISHU_TOKEN}",
        "/in",
    ]
    # An error from a configured channel is redacted with every configured secret.
    peer.answer = lambda seen: (400, {}, f"bad token {WECOM_KEY}".encode())
    error = _fail(channels["office_robot"])
    assert config.redact(str(error)) == str(error)


# -- SMTP --------------------------------------------------------------------------------------


@dataclass
class Inbox:
    """An aiosmtpd handler that keeps what it receives; ``refuse`` scripts RCPT replies."""

    mails: list[tuple[str, list[str], EmailMessage, bool, bool]] = field(default_factory=list)
    refuse: str | None = None

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.refuse:
            return self.refuse
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        mail = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(mail, EmailMessage)
        self.mails.append(
            (
                envelope.mail_from,
                list(envelope.rcpt_tos),
                mail,
                bool(session.authenticated),
                server.transport.get_extra_info("ssl_object") is not None,
            )
        )
        return "250 Message accepted"


def _authenticator(
    server: Any, session: Any, envelope: Any, mechanism: str, data: Any
) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        b"mailer",
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)


@dataclass
class SmtpPeer:
    inbox: Inbox
    port: int
    ca_file: Path


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, Path]:
    ca = trustme.CA()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server)
    ca_file = tmp_path_factory.mktemp("tls") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return server, ca_file


def _smtp_server(certificates: tuple[ssl.SSLContext, Path], mode: str) -> Iterator[SmtpPeer]:
    server_context, ca_file = certificates
    inbox = Inbox()
    port = _free_port()
    options: dict[str, Any] = {}
    if mode == "starttls":
        options = {
            "tls_context": server_context,
            "require_starttls": True,
            "authenticator": _authenticator,
            "auth_required": True,
        }
    elif mode == "tls":
        options = {
            "ssl_context": server_context,
            "authenticator": _authenticator,
            "auth_required": True,
            # aiosmtpd only counts STARTTLS as TLS; this whole connection is TLS.
            "auth_require_tls": False,
        }
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **options)
    controller.start()
    try:
        yield SmtpPeer(inbox, port, ca_file)
    finally:
        controller.stop()


@pytest.fixture
def plain_smtp(certificates: tuple[ssl.SSLContext, Path]) -> Iterator[SmtpPeer]:
    yield from _smtp_server(certificates, "none")


@pytest.fixture
def starttls_smtp(certificates: tuple[ssl.SSLContext, Path]) -> Iterator[SmtpPeer]:
    yield from _smtp_server(certificates, "starttls")


@pytest.fixture
def tls_smtp(certificates: tuple[ssl.SSLContext, Path]) -> Iterator[SmtpPeer]:
    yield from _smtp_server(certificates, "tls")


def _configured_mail(peer: SmtpPeer, security: str, password: str = PASSWORD) -> Any:
    login = "    username: mailer\n    password: ${SMTP_PASSWORD}\n" if security != "none" else ""
    config = parse_notifier_config(
        "channels:\n"
        "  email:\n"
        "    type: smtp\n"
        "    host: 127.0.0.1\n"
        f"    port: {peer.port}\n"
        f"    security: {security}\n"
        f"{login}"
        "    sender: 'Service Express <noreply@example.gov.cn>'\n"
        f"    ca_file: '{peer.ca_file}'\n"
        "    timeout: 5\n",
        environ={"SMTP_PASSWORD": password},
    )
    return config.build_channels()["email"]


def test_smtp_plain_delivers_a_complete_mail(plain_smtp: SmtpPeer) -> None:
    channel = _configured_mail(plain_smtp, "none")
    channel.send(MESSAGE)
    (sender, recipients, mail, authenticated, encrypted) = plain_smtp.inbox.mails[0]
    assert sender == "noreply@example.gov.cn"
    assert recipients == ["comm.sun@example.gov.cn"]
    assert not authenticated
    assert not encrypted
    assert mail["Subject"] == MESSAGE.subject
    assert mail["To"] == "孙专员 <comm.sun@example.gov.cn>"
    assert mail["From"] == "Service Express <noreply@example.gov.cn>"
    assert mail["X-Idempotency-Key"] == MESSAGE.key
    assert mail["Message-ID"] == SmtpChannel("x", host="h", sender="a@example.gov.cn").message_id(
        MESSAGE.key
    )
    assert mail["Importance"] == "high"
    body = mail.get_content()
    assert body.startswith("企业「像素科技」反映的用地问题已交办给您。")
    assert "https://office.example.gov.cn/items/42" in body
    # The same message sent again has the same Message-ID: a duplicate can be recognised.
    channel.send(MESSAGE)
    assert plain_smtp.inbox.mails[1][2]["Message-ID"] == mail["Message-ID"]


def test_smtp_starttls_with_auth(starttls_smtp: SmtpPeer) -> None:
    _configured_mail(starttls_smtp, "starttls").send(MESSAGE)
    (_sender, _recipients, mail, authenticated, encrypted) = starttls_smtp.inbox.mails[0]
    assert authenticated
    assert encrypted
    assert mail["X-Idempotency-Key"] == MESSAGE.key


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_smtp_implicit_tls_with_auth(tls_smtp: SmtpPeer) -> None:
    _configured_mail(tls_smtp, "tls").send(MESSAGE)
    assert tls_smtp.inbox.mails[0][3:] == (True, True)


def test_smtp_wrong_password_is_not_retryable_and_not_shown(starttls_smtp: SmtpPeer) -> None:
    channel = _configured_mail(starttls_smtp, "starttls", password="wrong-pass-9999")
    error = _fail(channel)
    assert not error.retryable
    assert "the login was refused: 535" in str(error)
    assert "wrong-pass-9999" not in str(error)
    assert starttls_smtp.inbox.mails == []


def test_smtp_untrusted_certificate_is_not_retryable(starttls_smtp: SmtpPeer) -> None:
    channel = SmtpChannel(
        "email",
        host="127.0.0.1",
        port=starttls_smtp.port,
        sender="noreply@example.gov.cn",
        username="mailer",
        password=PASSWORD,
        timeout=5,
    )
    error = _fail(channel)
    assert not error.retryable
    assert "TLS failed" in str(error)


def test_smtp_starttls_against_a_server_without_it_is_not_retryable(plain_smtp: SmtpPeer) -> None:
    channel = SmtpChannel(
        "email",
        host="127.0.0.1",
        port=plain_smtp.port,
        sender="noreply@example.gov.cn",
        security="starttls",
        timeout=5,
    )
    error = _fail(channel)
    assert not error.retryable
    assert "does not offer" in str(error)


@pytest.mark.parametrize(
    ("reply", "retryable"),
    [("550 5.1.1 no such mailbox", False), ("450 4.2.1 mailbox busy, try later", True)],
)
def test_smtp_recipient_refusals_follow_the_reply_code(
    plain_smtp: SmtpPeer, reply: str, retryable: bool
) -> None:
    plain_smtp.inbox.refuse = reply
    error = _fail(_configured_mail(plain_smtp, "none"))
    assert error.retryable is retryable
    assert reply in str(error)


def test_smtp_server_down_is_retryable() -> None:
    channel = SmtpChannel(
        "email", host="127.0.0.1", port=_free_port(), sender="a@example.gov.cn", security="none"
    )
    error = _fail(channel)
    assert error.retryable
    assert "cannot connect" in str(error)


def test_smtp_refuses_a_malformed_address_before_connecting() -> None:
    channel = SmtpChannel(
        "email", host="127.0.0.1", port=_free_port(), sender="a@example.gov.cn", security="none"
    )
    for address in ("comm.sun", "a@b.c\r\nBcc: x@y.z", "Sun <a@b.cn>", ""):
        error = _fail(channel, replace(MESSAGE, address=address))
        assert not error.retryable
        assert "not an e-mail address" in str(error)


# -- console -----------------------------------------------------------------------------------


def test_console_prints_a_readable_block() -> None:
    stream = io.StringIO()
    ConsoleChannel("console", stream=stream).send(replace(MESSAGE, address="comm.sun"))
    assert stream.getvalue().splitlines() == [
        "── notification via console [URGENT] ──",
        "To: 孙专员 <comm.sun>",
        f"Subject: {MESSAGE.subject}",
        "",
        "企业「像素科技」反映的用地问题已交办给您。",
        "请及时处理。",
        "",
        "查看: https://office.example.gov.cn/items/42",
        f"(key {MESSAGE.key})",
        "",
    ]


def test_console_can_print_one_line_per_message() -> None:
    config = parse_notifier_config("channels: {screen: {type: console, style: line}}", environ={})
    assert config.channels["screen"].style == "line"  # type: ignore[union-attr]
    stream = io.StringIO()
    channel = ConsoleChannel("screen", stream=stream, style="line")
    channel.send(replace(MESSAGE, address="comm.sun", subject="Line one\n  and two"))
    assert stream.getvalue() == "✉ screen [URGENT] → 孙专员 <comm.sun>: Line one and two\n"


def test_console_can_write_to_the_log(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="notifiers.console"):
        ConsoleChannel("console", stream="log").send(MESSAGE)
    assert MESSAGE.subject in caplog.text


def test_console_on_a_closed_stream_is_not_retryable() -> None:
    stream = io.StringIO()
    stream.close()
    error = _fail(ConsoleChannel("console", stream=stream))
    assert not error.retryable
