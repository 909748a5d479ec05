"""The notifier configuration: file + environment, positioned errors, no secret ever shown."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import trustme

from notifiers import (
    ConsoleChannel,
    DeliveryPolicy,
    DingTalkChannel,
    FeishuChannel,
    NotifierConfigError,
    QuietHours,
    Redactor,
    SmtpChannel,
    WebhookChannel,
    WeComChannel,
    load_notifier_config,
    parse_notifier_config,
)
from tests.conftest import REPO
from workflow.errors import WorkflowError

SECRETS = {
    "SMTP_USER": "mailer",
    "SMTP_PASSWORD": "pa55-w0rd-smtp",
    "WECOM_URL": "https://robot.example.test/cgi-bin/webhook/send?key=wecom-key-0001",
    "DINGTALK_URL": "https://robot.example.test/robot/send?access_token=ding-token-0002",
    "DINGTALK_SECRET": "SECding-secret-0003",
    "FEISHU_URL": "https://robot.example.test/open-apis/bot/v2/hook/feishu-hook-token-0004",
    "FEISHU_SECRET": "feishu-secret-0005",
    "HOOK_URL": "https://hooks.example.test/in?token=hook-token-0006",
    "HOOK_SECRET": "hook-secret-0007",
}
SECRET_VALUES = [v for k, v in SECRETS.items() if k != "SMTP_USER"]
TOKENS = ["wecom-key-0001", "ding-token-0002", "feishu-hook-token-0004", "hook-token-0006"]

FULL = textwrap.dedent(
    """\
    link_base: https://office.example.gov.cn/items/
    default_locale: zh
    delivery:
      {max_attempts: 8, initial_backoff: 30, backoff_factor: 2, max_backoff: 3600, lease: 60}
    channels:
      console: {type: console}
      email:
        type: smtp
        host: smtp.example.gov.cn
        port: 587
        security: starttls
        username: ${SMTP_USER}
        password: ${SMTP_PASSWORD}
        sender: "Service Express <noreply@example.gov.cn>"
        timeout: 10
        digest: {at: "09:00"}
        quiet_hours: {start: "20:00", end: "08:00", non_working_days: true}
      office_robot: {type: wecom, url: "${WECOM_URL}"}
      ding: {type: dingtalk, url: "${DINGTALK_URL}", secret: "${DINGTALK_SECRET}"}
      lark: {type: feishu, url: "${FEISHU_URL}", secret: "${FEISHU_SECRET}"}
      hooks: {type: webhook, url: "${HOOK_URL}", secret: "${HOOK_SECRET}", recipients: all}
    """
)


def _write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "notifiers.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def _error(text: str, environ: dict[str, str] | None = None) -> NotifierConfigError:
    with pytest.raises(NotifierConfigError) as caught:
        parse_notifier_config(text, file="n.yaml", environ=SECRETS if environ is None else environ)
    return caught.value


def _assert_no_secret(text: str) -> None:
    for secret in [*SECRET_VALUES, *TOKENS]:
        assert secret not in text


# -- reading -----------------------------------------------------------------


def test_no_file_means_the_console_alone() -> None:
    config = load_notifier_config(None, environ={})
    assert list(config.channels) == ["console"]
    assert isinstance(config.build_channels()["console"], ConsoleChannel)
    assert config.channels["console"].recipients == "all"
    assert config.source is None


def test_the_environment_variable_names_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "channels:\n  screen: {type: console, stream: stderr}\n")
    config = load_notifier_config(None, environ={"WORKFLOW_NOTIFIERS": path})
    assert list(config.channels) == ["screen"]
    assert config.source == path


def test_the_full_example_reads_with_environment_values(tmp_path: Path) -> None:
    config = load_notifier_config(_write(tmp_path, FULL), environ=SECRETS)
    email = config.channels["email"]
    assert email.digest_at == dt.time(9, 0)
    assert email.quiet == QuietHours(start=dt.time(20), end=dt.time(8), non_working_days=True)
    assert email.recipients == "addressed"
    assert config.channels["hooks"].recipients == "all"
    assert config.channels["office_robot"].digest_at is None
    assert config.channels["office_robot"].quiet is None
    assert config.delivery.max_attempts == 8
    assert config.link_for(42) == "https://office.example.gov.cn/items/42"
    built = config.build_channels()
    assert {name: type(channel) for name, channel in built.items()} == {
        "console": ConsoleChannel,
        "email": SmtpChannel,
        "office_robot": WeComChannel,
        "ding": DingTalkChannel,
        "lark": FeishuChannel,
        "hooks": WebhookChannel,
    }
    assert all(channel.name == name for name, channel in built.items())
    assert email.secret_values() == ["pa55-w0rd-smtp"]


def test_substitution_works_inside_strings_and_dollar_dollar_is_a_dollar() -> None:
    config = parse_notifier_config(
        "link_base: https://${HOST}/items/$${id}/\n", environ={"HOST": "office.example"}
    )
    assert config.link_base == "https://office.example/items/${id}/"


def test_a_number_may_come_from_the_environment() -> None:
    text = FULL.replace("port: 587", "port: ${SMTP_PORT}")
    config = parse_notifier_config(text, environ={**SECRETS, "SMTP_PORT": "2525"})
    assert config.channels["email"].model_dump()["port"] == 2525


# -- errors --------------------------------------------------------------------


def test_a_missing_environment_variable_is_reported_where_it_is_used() -> None:
    environ = {k: v for k, v in SECRETS.items() if k not in ("SMTP_PASSWORD", "FEISHU_SECRET")}
    error = _error(FULL, environ)
    assert isinstance(error, WorkflowError)
    assert [str(p) for p in error.problems] == [
        "n.yaml:13:15: channels.email.password: the environment variable SMTP_PASSWORD is not set",
        "n.yaml:20:54: channels.lark.secret: the environment variable FEISHU_SECRET is not set",
    ]
    assert str(error).startswith("n.yaml:13:15:")
    assert "(and 1 more)" in str(error)
    _assert_no_secret(str(error))


def test_a_malformed_reference_is_an_error() -> None:
    error = _error("link_base: https://x/${not valid}\n", {})
    assert "'${' must be followed by a variable name" in str(error)


def test_an_unknown_channel_type_is_reported_at_its_line() -> None:
    error = _error(FULL.replace("type: feishu", "type: lark"))
    (problem,) = error.problems
    assert (problem.line, problem.column) == (20, 16)
    assert problem.message.startswith(
        "channels.lark: unknown channel type 'lark'; expected one of:"
    )
    assert "dingtalk" in problem.message


def test_a_channel_without_type_is_reported() -> None:
    error = _error("channels:\n  mail:\n    host: x\n")
    assert str(error) == (
        "n.yaml:2:3: channels.mail: missing required key 'type' "
        "(one of: console, smtp, webhook, wecom, dingtalk, feishu)"
    )


def test_an_unknown_key_lists_the_keys_of_that_channel_type() -> None:
    error = _error(FULL.replace("    timeout: 10\n", "    timeout: 10\n    colour: red\n"))
    (problem,) = error.problems
    assert problem.line == 16
    assert problem.message.startswith(
        "channels.email.colour: unknown key 'colour'; expected one of:"
    )
    assert "sender" in problem.message


def test_every_problem_is_listed_with_its_position() -> None:
    text = textwrap.dedent(
        """\
        default_locale: chinese
        delivery: {max_attempts: 0}
        channels:
          Bad-Name: {type: console}
          mail: {type: smtp, host: h, sender: nobody, security: ssl}
        """
    )
    messages = [str(p) for p in _error(text, {}).problems]
    assert messages[0] == "n.yaml:1:17: default_locale: expected a locale such as 'zh' or 'en-US'"
    assert messages[1].startswith("n.yaml:2:26: delivery.max_attempts:")
    assert messages[2].startswith(
        "n.yaml:4:3: channels.Bad-Name: 'Bad-Name' is not a valid channel"
    )
    assert any(
        m.startswith("n.yaml:5:39: channels.mail.sender: expected an e-mail") for m in messages
    )
    assert any(m.startswith("n.yaml:5:57: channels.mail.security:") for m in messages)


def test_a_password_over_a_clear_connection_is_refused() -> None:
    error = _error(FULL.replace("security: starttls", "security: none"))
    assert "would send the password in clear text" in str(error)
    _assert_no_secret(str(error))


def test_half_a_login_is_refused() -> None:
    error = _error(FULL.replace("    username: ${SMTP_USER}\n", ""))
    assert "give both 'username' and 'password'" in str(error)


def test_a_bad_url_is_refused_without_showing_it() -> None:
    bad = {**SECRETS, "WECOM_URL": "ftp://robot.example.test/send?key=wecom-key-0001"}
    error = _error(FULL, bad)
    assert "channels.office_robot.url: the URL (not shown: it may hold a token)" in str(error)
    _assert_no_secret(str(error))


def test_a_value_from_the_environment_is_never_echoed() -> None:
    # Whatever field a substituted value lands in, errors quoting it mask it.
    environ = {**SECRETS, "KIND": "hunter2-as-type"}
    error = _error(FULL.replace("type: feishu", 'type: "${KIND}"'), environ)
    assert "hunter2-as-type" not in str(error)
    assert "unknown channel type '***'" in str(error)


def test_a_too_short_secret_is_refused() -> None:
    error = _error(FULL, {**SECRETS, "HOOK_SECRET": "abc"})
    assert "channels.hooks.secret: the secret is shorter than 4 characters" in str(error)


def test_the_lease_must_outlast_the_slowest_channel() -> None:
    error = _error(FULL.replace("lease: 60", "lease: 15"))
    assert "delivery.lease (15 s) must be at least twice the longest channel timeout (10 s)" in str(
        error
    )


def test_no_channels_at_all_is_refused() -> None:
    assert "no channels" in str(_error("channels: {}\n", {}))


def test_yaml_errors_become_config_errors_with_a_position(tmp_path: Path) -> None:
    with pytest.raises(NotifierConfigError) as caught:
        load_notifier_config(_write(tmp_path, "channels:\n  a: {type: console\n"), environ={})
    assert caught.value.problems[0].line >= 2
    with pytest.raises(NotifierConfigError, match="cannot read the file"):
        load_notifier_config(str(tmp_path / "missing.yaml"), environ={})
    with pytest.raises(NotifierConfigError, match="must be a mapping"):
        parse_notifier_config("- a\n- b\n", environ={})
    with pytest.raises(NotifierConfigError, match="duplicate key"):
        parse_notifier_config("channels: {}\nchannels: {}\n", environ={})


# -- secrets -------------------------------------------------------------------


def test_secrets_appear_in_no_repr_str_or_dump() -> None:
    config = parse_notifier_config(FULL, environ=SECRETS)
    shown = [
        repr(config),
        str(config),
        config.model_dump_json(),
        repr(config.build_channels()),
        *(repr(c) for c in config.channels.values()),
    ]
    for text in shown:
        _assert_no_secret(text)


def test_redact_masks_every_configured_secret_and_any_url_token() -> None:
    config = parse_notifier_config(FULL, environ=SECRETS)
    text = (
        f"posting to {SECRETS['WECOM_URL']} failed; login pa55-w0rd-smtp refused; "
        "sign SECding-secret-0003; token feishu-hook-token-0004 in a path; "
        "percent-encoded pa55-w0rd-smtp%20 and "
        "https://user:pw@other.example/x?access_token=unknown-token&b=2#frag"
    )
    redacted = config.redact(text)
    _assert_no_secret(redacted)
    assert "unknown-token" not in redacted
    assert "user:pw" not in redacted
    assert "https://***@other.example/x?access_token=***&b=***#frag" in redacted
    assert redacted.startswith("posting to *** failed; login *** refused")


def test_a_redactor_ignores_values_too_short_to_mask() -> None:
    assert Redactor(["ab"])("a cab") == "a cab"
    assert Redactor(["abcd"])("xabcdx") == "x***x"


# -- quiet hours, digest time, backoff -----------------------------------------

SHANGHAI = ZoneInfo("Asia/Shanghai")
FRIDAY = dt.date(2024, 3, 8)


def _weekdays(day: dt.date) -> bool:
    return day.weekday() < 5


def _at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), SHANGHAI)


def test_a_night_window_runs_over_midnight() -> None:
    quiet = QuietHours(start="20:00", end="08:00")  # type: ignore[arg-type]
    monday = dt.date(2024, 3, 11)
    assert not quiet.is_quiet(_at(monday, 19, 59), _weekdays)
    assert quiet.is_quiet(_at(monday, 20), _weekdays)
    assert quiet.is_quiet(_at(monday, 3), _weekdays)
    assert not quiet.is_quiet(_at(monday, 8), _weekdays)
    assert quiet.quiet_until(_at(monday, 12), _weekdays) is None
    assert quiet.quiet_until(_at(monday, 21), _weekdays) == _at(monday + dt.timedelta(1), 8)
    assert quiet.quiet_until(_at(monday, 6), _weekdays) == _at(monday, 8)
    # Without non_working_days, weekends are like any other day.
    assert quiet.quiet_until(_at(FRIDAY, 22), _weekdays) == _at(FRIDAY + dt.timedelta(1), 8)


def test_non_working_days_are_quiet_all_day() -> None:
    quiet = QuietHours(start="20:00", end="08:00", non_working_days=True)  # type: ignore[arg-type]
    monday = FRIDAY + dt.timedelta(3)
    saturday = FRIDAY + dt.timedelta(1)
    assert quiet.is_quiet(_at(saturday, 12), _weekdays)
    assert quiet.quiet_until(_at(FRIDAY, 22), _weekdays) == _at(monday, 8)
    until = quiet.quiet_until(_at(saturday, 12), _weekdays)
    assert until == _at(monday, 8)
    assert until is not None
    assert until.tzinfo is SHANGHAI
    # A public holiday on Monday pushes it to Tuesday.
    holiday = {monday}
    assert quiet.quiet_until(_at(FRIDAY, 22), lambda d: _weekdays(d) and d not in holiday) == _at(
        monday + dt.timedelta(1), 8
    )


def test_a_day_window_and_non_working_days_alone() -> None:
    lunch = QuietHours(start="12:00", end="13:30")  # type: ignore[arg-type]
    assert lunch.quiet_until(_at(FRIDAY, 12, 10), _weekdays) == _at(FRIDAY, 13, 30)
    assert not lunch.is_quiet(_at(FRIDAY, 13, 30), _weekdays)
    weekends = QuietHours(non_working_days=True)
    assert weekends.quiet_until(_at(FRIDAY, 23), _weekdays) is None
    assert weekends.quiet_until(_at(FRIDAY + dt.timedelta(1), 9), _weekdays) == _at(
        FRIDAY + dt.timedelta(3), 0
    )


def test_quiet_that_never_ends_is_an_error_not_a_hang() -> None:
    with pytest.raises(WorkflowError, match="do not end within"):
        QuietHours(non_working_days=True).quiet_until(_at(FRIDAY, 9), lambda d: False)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("{start: '20:00'}", "give both 'start' and 'end'"),
        ("{start: '08:00', end: '08:00'}", "the quiet window would be empty"),
        ("{non_working_days: false}", "quiet hours need"),
        ("{start: '8pm', end: '08:00'}", 'written "HH:MM"'),
        ("{start: '24:00', end: '08:00'}", 'written "HH:MM"'),
    ],
)
def test_bad_quiet_hours_are_refused(spec: str, message: str) -> None:
    error = _error(f"channels:\n  c: {{type: console, quiet_hours: {spec}}}\n", {})
    assert message in str(error)
    assert str(error).startswith("n.yaml:2:")


def test_a_digest_needs_a_time_of_day() -> None:
    assert 'written "HH:MM"' in str(
        _error("channels:\n  c: {type: console, digest: {at: 9}}\n", {})
    )


def test_backoff_grows_caps_and_jitters() -> None:
    policy = DeliveryPolicy(initial_backoff=30, backoff_factor=2, max_backoff=3600, jitter=0.2)
    exact = [policy.backoff(n, rand=lambda: 0.0) for n in range(1, 10)]
    assert exact == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert policy.backoff(3, rand=lambda: 0.5) == pytest.approx(120 * 0.9)
    assert policy.backoff(10_000, rand=lambda: 0.0) == 3600
    spread = {policy.backoff(2) for _ in range(50)}
    assert all(48 <= s <= 60 for s in spread)
    assert len(spread) > 1
    with pytest.raises(ValueError, match="'max_backoff' must be at least"):
        DeliveryPolicy(initial_backoff=60, max_backoff=30)


def test_the_documented_example_is_valid(tmp_path: Path) -> None:
    text = (REPO / "docs" / "notifications.md").read_text(encoding="utf-8")
    section = text.split("## Channels", 1)[1].split("\n## ", 1)[0]
    example = section.split("A full example:\n\n```yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "office-ca.pem").write_bytes(_ca_pem())
    config = load_notifier_config(_write(tmp_path, example), environ=SECRETS)
    assert sorted(config.channels) == ["console", "ding", "email", "hooks", "lark", "office_robot"]
    assert config.channels["email"].model_dump()["ca_file"] == str(tmp_path / "office-ca.pem")


def _ca_pem() -> bytes:
    return trustme.CA().cert_pem.bytes()
