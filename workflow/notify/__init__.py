"""The notifications layer, between the schedule and the CLI.

The core writes notification *intents* to the outbox in the same transaction
as the change that caused them (:mod:`workflow.core.notices`); this package
turns them into messages: it resolves roles to people, renders the
definitions' templates (:mod:`workflow.notify.templates`, sandboxed and
capped) and hands the messages to the channels of :mod:`notifiers`.

Nothing here is imported by the core; the daemon and the CLI drive it.
"""
