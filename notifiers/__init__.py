"""Notification channels (e-mail, webhooks, group robots) used by the engine's outbox."""
