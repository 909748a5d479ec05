"""The notifications layer, between the schedule and the CLI.

The core writes notification *intents* to the outbox in the same transaction
as the change that caused them (:mod:`workflow.core.notices`); this package
turns them into messages: it resolves roles to people, renders the
definitions' templates (:mod:`workflow.definition.templates.templateset`, sandboxed and
capped) and hands the messages to the channels of :mod:`notifiers`.

Nothing here is imported by the core; the daemon and the CLI drive it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workflow.notify.dispatch import Dispatcher, DispatchReport, dispatch_once

__all__ = ["DispatchReport", "Dispatcher", "dispatch_once"]


def __getattr__(name: str) -> Any:
    """Import the dispatcher on first use (see below)."""
    # Lazily: the dispatcher imports the channels (notifiers), which import
    # workflow.errors and so this package's parents; importing it here eagerly
    # would close that cycle for whoever imports notifiers first.
    if name in __all__:
        from workflow.notify import dispatch  # noqa: PLC0415

        return getattr(dispatch, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
