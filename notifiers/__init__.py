"""Notification channels (e-mail, webhooks, group robots) used by the engine's outbox.

A channel delivers one rendered :class:`Message` to one address and, when it
fails, says whether trying again could help (:class:`DeliveryError`). The
configuration (:func:`load_notifier_config`) names the channels, holds their
secrets, and says when to send (digest time, quiet hours) and how to retry
(:class:`DeliveryPolicy`). See docs/notifications.md, section "Channels".
"""

from notifiers.base import Channel, DeliveryError, Message
from notifiers.config import (
    CONFIG_ENV,
    ChannelConfig,
    ConsoleChannelConfig,
    DingTalkChannelConfig,
    FeishuChannelConfig,
    NotifierConfig,
    NotifierConfigError,
    SmtpChannelConfig,
    WebhookChannelConfig,
    WeComChannelConfig,
    load_notifier_config,
    parse_notifier_config,
)
from notifiers.console import ConsoleChannel
from notifiers.dingtalk import DingTalkChannel, dingtalk_sign
from notifiers.feishu import FeishuChannel, feishu_sign
from notifiers.policy import DeliveryPolicy, DigestSpec, QuietHours
from notifiers.redaction import Redactor
from notifiers.smtp import SmtpChannel
from notifiers.webhook import WebhookChannel, webhook_signature
from notifiers.wecom import WeComChannel

__all__ = [
    "CONFIG_ENV",
    "Channel",
    "ChannelConfig",
    "ConsoleChannel",
    "ConsoleChannelConfig",
    "DeliveryError",
    "DeliveryPolicy",
    "DigestSpec",
    "DingTalkChannel",
    "DingTalkChannelConfig",
    "FeishuChannel",
    "FeishuChannelConfig",
    "Message",
    "NotifierConfig",
    "NotifierConfigError",
    "QuietHours",
    "Redactor",
    "SmtpChannel",
    "SmtpChannelConfig",
    "WeComChannel",
    "WeComChannelConfig",
    "WebhookChannel",
    "WebhookChannelConfig",
    "dingtalk_sign",
    "feishu_sign",
    "load_notifier_config",
    "parse_notifier_config",
    "webhook_signature",
]
