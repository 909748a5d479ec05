"""The notifier configuration: channels, their endpoints and secrets, and when to send.

Channel configuration never lives in a workflow definition: it comes from a
YAML file (``--notifiers FILE`` or the ``WORKFLOW_NOTIFIERS`` environment
variable) whose strings may refer to environment variables as
``${NAME}`` (``$$`` writes a literal ``$``), so secrets can stay in the
environment or a secret store. With no file at all the configuration is
the console channel alone. The file is read with the definitions' safe,
bounded YAML reader (YAML 1.2, no tags, no duplicate keys, size and alias
limits)::

    link_base: https://office.example.gov.cn/items/
    default_locale: zh
    delivery: {max_attempts: 8, initial_backoff: 30, backoff_factor: 2,
               max_backoff: 3600, jitter: 0.2, lease: 60}
    channels:
      console: {type: console}
      email:
        type: smtp
        host: smtp.example.gov.cn
        security: starttls
        username: ${SMTP_USER}
        password: ${SMTP_PASSWORD}
        sender: "Service Express <noreply@example.gov.cn>"
        digest: {at: "09:00"}
        quiet_hours: {start: "20:00", end: "08:00", non_working_days: true}
      office_robot: {type: wecom, url: "${WECOM_URL}"}

Passwords, signing secrets and robot URLs (which embed their token) are
:class:`pydantic.SecretStr`: they print as ``**********``, and
:meth:`NotifierConfig.redact` masks them in any text. Errors are
:class:`NotifierConfigError` with ``file:line:column`` for each problem and
never contain a secret value (nor any value taken from the environment).
"""

from __future__ import annotations

import abc
import datetime as dt
import os
import ssl
from collections.abc import Iterable, Mapping
from email.utils import parseaddr
from typing import Annotated, Any, ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from notifiers._loading import problems_from, substitute
from notifiers.base import Channel
from notifiers.console import ConsoleChannel
from notifiers.dingtalk import DingTalkChannel
from notifiers.feishu import FeishuChannel
from notifiers.policy import DeliveryPolicy, DigestSpec, QuietHours
from notifiers.redaction import MIN_SECRET, Redactor
from notifiers.smtp import SmtpChannel
from notifiers.webhook import WebhookChannel
from notifiers.wecom import WeComChannel
from workflow.definition.yamlsource import Path, SourceMap, read_yaml
from workflow.errors import DefinitionError, Problem, WorkflowError

__all__ = [
    "CONFIG_ENV",
    "ChannelConfig",
    "ConsoleChannelConfig",
    "DeliveryPolicy",
    "DigestSpec",
    "DingTalkChannelConfig",
    "FeishuChannelConfig",
    "NotifierConfig",
    "NotifierConfigError",
    "QuietHours",
    "SmtpChannelConfig",
    "WeComChannelConfig",
    "WebhookChannelConfig",
    "load_notifier_config",
    "parse_notifier_config",
]

CONFIG_ENV = "WORKFLOW_NOTIFIERS"
"""Environment variable naming the configuration file when no path is given."""

ChannelName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,62}$")]
Recipients = Literal["all", "addressed"]


class NotifierConfigError(WorkflowError):
    """The notifier configuration is invalid; ``problems`` lists every problem, sorted."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(sorted(set(problems)))
        count = len(self.problems)
        head = str(self.problems[0]) if self.problems else "invalid notifier configuration"
        more = f" (and {count - 1} more)" if count > 1 else ""
        super().__init__(head + more)


def _http_url(value: str, what: str) -> str:
    parts = urlsplit(value)
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or any(c.isspace() for c in value)
    ):
        raise ValueError(f"{what} must be an http:// or https:// URL")
    return value


def _long_enough(value: SecretStr) -> SecretStr:
    if len(value.get_secret_value()) < MIN_SECRET:
        raise ValueError(
            f"the secret is shorter than {MIN_SECRET} characters: too short to be real, "
            "and too short to mask in messages"
        )
    return value


Secret = Annotated[SecretStr, AfterValidator(_long_enough)]
"""A password or signing key (never shown, at least MIN_SECRET characters)."""


def _secret_url(value: SecretStr) -> SecretStr:
    _http_url(value.get_secret_value(), "the URL (not shown: it may hold a token)")
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChannelConfig(_Model, abc.ABC):
    """What every channel's configuration has: who gets it, digest, quiet hours, timeout."""

    type: str
    recipients: Recipients = "addressed"
    """``addressed``: only people whose contacts give an address for this
    channel's name; ``all``: everyone, addressed by person id (the console)."""
    digest: DigestSpec | None = None
    quiet_hours: QuietHours | None = None
    timeout: float = Field(10.0, gt=0, le=300)
    """Seconds to wait for the peer (per network operation)."""

    @property
    def digest_at(self) -> dt.time | None:
        """The local time of the daily digest, or None when messages go out one by one."""
        return self.digest.at if self.digest is not None else None

    @property
    def quiet(self) -> QuietHours | None:
        """The channel's quiet hours, if any."""
        return self.quiet_hours

    def secret_values(self) -> list[str]:
        """Every secret value in this configuration (for redaction)."""
        return []

    @abc.abstractmethod
    def build(self, name: str, redactor: Redactor | None = None) -> Channel:
        """Create the channel this configuration describes, under ``name``."""


class ConsoleChannelConfig(ChannelConfig):
    """The console: a readable block per message on stdout, stderr or the log."""

    type: Literal["console"] = "console"
    recipients: Recipients = "all"
    stream: Literal["stdout", "stderr", "log"] = "stdout"
    style: Literal["block", "line"] = "block"
    """``block``: the whole message; ``line``: one line (recipient and subject)."""

    def build(self, name: str, redactor: Redactor | None = None) -> Channel:
        """Create the console channel."""
        return ConsoleChannel(name, stream=self.stream, style=self.style)


class SmtpChannelConfig(ChannelConfig):
    """E-mail through an SMTP server (see :mod:`notifiers.smtp`)."""

    type: Literal["smtp"] = "smtp"
    host: Annotated[str, StringConstraints(min_length=1, strip_whitespace=True)]
    port: int | None = Field(None, ge=1, le=65535)
    """Defaults to 25, 587 or 465 for ``none``, ``starttls`` and ``tls``."""
    security: Literal["none", "starttls", "tls"] = "starttls"
    username: str | None = None
    password: Secret | None = None
    sender: str
    """The From header, e.g. ``"Service Express <noreply@example.gov.cn>"``."""
    ca_file: str | None = None
    """A PEM file of certificate authorities to trust instead of the system's."""

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str) -> str:
        if "@" not in parseaddr(value)[1]:
            raise ValueError('expected an e-mail address, e.g. "Office <noreply@example.gov.cn>"')
        return value

    @field_validator("ca_file")
    @classmethod
    def _ca_file(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ssl.create_default_context(cafile=value)
            except (OSError, ssl.SSLError) as error:
                raise ValueError(f"cannot load the CA file {value!r} ({error})") from None
        return value

    @model_validator(mode="after")
    def _login(self) -> SmtpChannelConfig:
        if (self.username is None) != (self.password is None):
            raise ValueError("give both 'username' and 'password', or neither")
        if self.username is not None and self.security == "none":
            raise ValueError(
                "'security: none' would send the password in clear text: use starttls or tls"
            )
        return self

    def secret_values(self) -> list[str]:
        """Return the password."""
        return [self.password.get_secret_value()] if self.password else []

    def build(self, name: str, redactor: Redactor | None = None) -> Channel:
        """Create the SMTP channel."""
        context = ssl.create_default_context(cafile=self.ca_file) if self.ca_file else None
        return SmtpChannel(
            name,
            host=self.host,
            port=self.port,
            security=self.security,
            sender=self.sender,
            username=self.username,
            password=self.password.get_secret_value() if self.password else None,
            timeout=self.timeout,
            ssl_context=context,
            redactor=redactor,
        )


class _UrlChannelConfig(ChannelConfig):
    url: SecretStr
    """The endpoint; secret because robot URLs embed their token."""

    @field_validator("url")
    @classmethod
    def _url(cls, value: SecretStr) -> SecretStr:
        return _secret_url(value)

    def secret_values(self) -> list[str]:
        """Return the URL, and the signing secret if the channel has one."""
        found = [self.url.get_secret_value()]
        secret = getattr(self, "secret", None)
        if isinstance(secret, SecretStr):
            found.append(secret.get_secret_value())
        return found


class WebhookChannelConfig(_UrlChannelConfig):
    """A generic JSON webhook signed with HMAC-SHA256 (see :mod:`notifiers.webhook`)."""

    type: Literal["webhook"] = "webhook"
    secret: Secret | None = None

    def build(self, name: str, redactor: Redactor | None = None) -> Channel:
        """Create the webhook channel."""
        return WebhookChannel(
            name,
            url=self.url.get_secret_value(),
            secret=self.secret.get_secret_value() if self.secret else None,
            timeout=self.timeout,
            redactor=redactor,
        )


class WeComChannelConfig(_UrlChannelConfig):
    """A WeCom group robot (see :mod:`notifiers.wecom`)."""

    type: Literal["wecom"] = "wecom"

    def build(self, name: str, redactor: Redactor | None = None) -> Channel:
        """Create the WeCom channel."""
        return WeComChannel(
            name, url=self.url.get_secret_value(), timeout=self.timeout, redactor=redactor
        )


class DingTalkChannelConfig(_UrlChannelConfig):
    """A DingTalk custom robot, signed when ``secret`` is set (see :mod:`notifiers.dingtalk`)."""

    type: Literal["dingtalk"] = "dingtalk"
    secret: Secret | None = None

    def build(self, name: str, redactor: Redactor | None = None) -> Channel:
        """Create the DingTalk channel."""
        return DingTalkChannel(
            name,
            url=self.url.get_secret_value(),
            secret=self.secret.get_secret_value() if self.secret else None,
            timeout=self.timeout,
            redactor=redactor,
        )


class FeishuChannelConfig(_UrlChannelConfig):
    """A Feishu custom robot, signed when ``secret`` is set (see :mod:`notifiers.feishu`)."""

    type: Literal["feishu"] = "feishu"
    secret: Secret | None = None

    def build(self, name: str, redactor: Redactor | None = None) -> Channel:
        """Create the Feishu channel."""
        return FeishuChannel(
            name,
            url=self.url.get_secret_value(),
            secret=self.secret.get_secret_value() if self.secret else None,
            timeout=self.timeout,
            redactor=redactor,
        )


AnyChannelConfig = Annotated[
    ConsoleChannelConfig
    | SmtpChannelConfig
    | WebhookChannelConfig
    | WeComChannelConfig
    | DingTalkChannelConfig
    | FeishuChannelConfig,
    Field(discriminator="type"),
]
_CHANNEL_TYPES: dict[str, type[ChannelConfig]] = {
    "console": ConsoleChannelConfig,
    "smtp": SmtpChannelConfig,
    "webhook": WebhookChannelConfig,
    "wecom": WeComChannelConfig,
    "dingtalk": DingTalkChannelConfig,
    "feishu": FeishuChannelConfig,
}


def _console_only() -> dict[str, AnyChannelConfig]:
    return {"console": ConsoleChannelConfig()}


class NotifierConfig(_Model):
    """The whole notifier configuration: channels, delivery policy, links and locale."""

    link_base: str | None = None
    """Item links are ``link_base + str(item id)``; no links when absent."""
    default_locale: Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-[A-Z]{2})?$")] = "zh"
    delivery: DeliveryPolicy = Field(default_factory=DeliveryPolicy)
    channels: dict[ChannelName, AnyChannelConfig] = Field(default_factory=_console_only)

    _source: str | None = PrivateAttr(default=None)
    LEASE_MARGIN: ClassVar[float] = 2.0

    @field_validator("link_base")
    @classmethod
    def _link_base(cls, value: str | None) -> str | None:
        return None if value is None else _http_url(value, "link_base")

    @field_validator("channels")
    @classmethod
    def _some_channel(cls, value: dict[str, AnyChannelConfig]) -> dict[str, AnyChannelConfig]:
        if not value:
            raise ValueError("no channels: leave 'channels' out for the console alone, or add one")
        return value

    @model_validator(mode="after")
    def _lease_covers_sends(self) -> NotifierConfig:
        longest = max(c.timeout for c in self.channels.values())
        if self.delivery.lease < self.LEASE_MARGIN * longest:
            raise ValueError(
                f"delivery.lease ({self.delivery.lease:g} s) must be at least twice the longest "
                f"channel timeout ({longest:g} s), or a slow send could be claimed again"
            )
        return self

    @property
    def source(self) -> str | None:
        """The file this configuration was read from, if any."""
        return self._source

    def secret_values(self) -> list[str]:
        """Every secret value of every channel."""
        return [s for channel in self.channels.values() for s in channel.secret_values()]

    def redactor(self) -> Redactor:
        """Return a :class:`Redactor` masking every configured secret."""
        return Redactor(self.secret_values())

    def redact(self, text: str) -> str:
        """Return ``text`` with every configured secret and every URL query value as ``***``."""
        return self.redactor()(text)

    def link_for(self, item_id: object) -> str | None:
        """Return the link to an item, or None without ``link_base``."""
        return None if self.link_base is None else f"{self.link_base}{item_id}"

    def build_channels(self) -> dict[str, Channel]:
        """Create every configured channel, by name (each redacts all configured secrets)."""
        redactor = self.redactor()
        return {name: config.build(name, redactor) for name, config in self.channels.items()}


def load_notifier_config(
    path: str | None = None, environ: Mapping[str, str] | None = None
) -> NotifierConfig:
    """Read the notifier configuration from ``path`` (or ``$WORKFLOW_NOTIFIERS``).

    Without either, the configuration is the console channel alone.
    ``environ`` (default ``os.environ``) supplies ``${NAME}`` values.
    Raises :class:`NotifierConfigError` listing every problem with its position.
    """
    env = os.environ if environ is None else environ
    chosen = path if path is not None else (env.get(CONFIG_ENV) or None)
    if chosen is None:
        return NotifierConfig()
    try:
        document = read_yaml(chosen)
    except DefinitionError as error:
        raise NotifierConfigError(error.problems) from None
    return _build(chosen, document.data, document.positions, env)


def parse_notifier_config(
    text: str, *, file: str = "<notifiers>", environ: Mapping[str, str] | None = None
) -> NotifierConfig:
    """Read the notifier configuration from YAML ``text`` (named ``file`` in errors)."""
    try:
        document = read_yaml(file, text)
    except DefinitionError as error:
        raise NotifierConfigError(error.problems) from None
    return _build(
        file, document.data, document.positions, os.environ if environ is None else environ
    )


def _build(file: str, data: Any, positions: SourceMap, env: Mapping[str, str]) -> NotifierConfig:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise NotifierConfigError([Problem(file, 1, 1, "the configuration must be a mapping")])
    problems: list[Problem] = []
    used: list[str] = []
    data = substitute(data, (), positions, env, used, problems)
    _resolve_ca_files(data, file)
    # Values taken from the environment are masked in errors whatever field they went to.
    scrub = Redactor(used)
    if problems:
        raise NotifierConfigError(problems)
    try:
        config = NotifierConfig.model_validate(data)
    except ValidationError as error:
        raise NotifierConfigError(
            problems_from(error, data, positions, scrub, _keys_of, list(_CHANNEL_TYPES))
        ) from None
    config._source = file
    return config


def _resolve_ca_files(data: dict[str, Any], file: str) -> None:
    """Make relative ``ca_file`` paths relative to the configuration file's folder."""
    channels = data.get("channels")
    if not isinstance(channels, dict) or not os.path.isfile(file):
        return
    folder = os.path.dirname(os.path.abspath(file))
    for spec in channels.values():
        ca_file = spec.get("ca_file") if isinstance(spec, dict) else None
        if isinstance(ca_file, str) and not os.path.isabs(ca_file):
            spec["ca_file"] = os.path.join(folder, ca_file)


def _model_for(path: Path, data: Any) -> type[BaseModel] | None:
    """Return the model that reads the mapping at ``path`` (to list its keys in a hint)."""
    if not path:
        return NotifierConfig
    if path == ("delivery",):
        return DeliveryPolicy
    if len(path) >= 2 and path[0] == "channels":
        spec = data.get("channels", {}).get(path[1])
        kind = spec.get("type") if isinstance(spec, dict) else None
        model = _CHANNEL_TYPES.get(kind) if isinstance(kind, str) else None
        if len(path) == 2:
            return model
        if len(path) == 3 and path[2] == "digest":
            return DigestSpec
        if len(path) == 3 and path[2] == "quiet_hours":
            return QuietHours
    return None


def _keys_of(path: Path, data: Any) -> list[str]:
    """Return the keys allowed in the mapping at ``path`` (for an "unknown key" hint)."""
    model = _model_for(path, data)
    return [key for key in model.model_fields if key != "type"] if model else []
