"""The scenario file format, as pydantic models (unknown keys are refused).

A scenario file names one workflow and holds several scenarios. Each
scenario starts an item (who, with what data), then runs steps in order:
an actor fires an event, time passes, an escalation pass or a dispatch pass
runs. Any step, and the start, may carry expectations (:class:`Expect`); a
fire step may instead expect to be refused (:class:`ExpectRefused`).

Times are local times of the business calendar's zone, written
``YYYY-MM-DD HH:MM``; durations are ``N working days``, ``N days``
(calendar days), ``N hours`` or ``N minutes``.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

__all__ = [
    "ACTIONS",
    "REFUSALS",
    "AgendaExpect",
    "BranchExpect",
    "DeadlineExpect",
    "Duration",
    "Expect",
    "ExpectRefused",
    "HistoryExpect",
    "NotificationExpect",
    "Scenario",
    "ScenarioFile",
    "Start",
    "Step",
    "parse_duration",
    "parse_local_time",
]

REFUSALS = ("NotAuthorized", "GuardFailed", "EventNotAllowed", "InvalidInput", "UnknownEvent")
"""The kinds of refusal a fire step may expect (the engine's error class names)."""

ACTIONS = ("fire", "wait", "until", "tick", "dispatch")
"""The keys that make a step do something; a step has at most one."""

Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
ActorText = Annotated[str, StringConstraints(pattern=r"^[^:\s]+(,[^:\s]+)*:\S+$", max_length=300)]
LocalTime = Annotated[
    str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}( \d{2}:\d{2})?$", max_length=16)
]

_DURATION = re.compile(
    r"^\s*(\d{1,5})\s+(working[ _]days?|calendar[ _]days?|days?|hours?|minutes?)\s*$"
)


class Duration(BaseModel):
    """A span of time: an amount of working days, calendar days, hours or minutes."""

    model_config = ConfigDict(frozen=True)

    amount: int
    unit: Literal["working_days", "calendar_days", "hours", "minutes"]


def parse_duration(text: str) -> Duration | None:
    """Parse ``3 working days``, ``2 days``, ``4 hours`` or ``30 minutes``; None if not one."""
    found = _DURATION.match(text)
    if found is None:
        return None
    word = found.group(2).replace(" ", "_").rstrip("s")
    unit: Literal["working_days", "calendar_days", "hours", "minutes"]
    if word.startswith("working"):
        unit = "working_days"
    elif word in ("calendar_day", "day"):
        unit = "calendar_days"
    elif word == "hour":
        unit = "hours"
    else:
        unit = "minutes"
    return Duration(amount=int(found.group(1)), unit=unit)


def parse_local_time(text: str) -> tuple[dt.date, dt.time] | None:
    """Parse ``YYYY-MM-DD`` or ``YYYY-MM-DD HH:MM`` (midnight when no time); None if invalid."""
    try:
        if len(text) == 10:
            return dt.date.fromisoformat(text), dt.time(0, 0)
        moment = dt.datetime.strptime(text, "%Y-%m-%d %H:%M")
    except ValueError:
        return None
    return moment.date(), moment.time()


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class DeadlineExpect(_Model):
    """An open (running or paused) deadline the item must have."""

    scope: Name | None = Field(default=None, description="The state (or group) it times.")
    due: LocalTime | None = Field(default=None, description="Its due time, local.")
    status: Literal["running", "paused"] | None = None
    unit: Name | None = Field(default=None, description="Only a branch clock of this unit.")


class AgendaExpect(_Model):
    """The item is on a review's agenda."""

    review: Name
    period: Name | None = Field(default=None, description="e.g. 2026-11; default: any period.")
    level: Name | None = Field(default=None, description="The level that put it there.")


class BranchExpect(_Model):
    """A joint-handling branch of the item (all rounds, oldest first)."""

    unit: Name
    status: Name | None = None
    verdict: Name | None = None


class NotificationExpect(_Model):
    """A notification the step wrote: an intent for a role, or a rendered message."""

    to: Name | None = Field(default=None, description="A role (intent) or a person (message).")
    channel: Name | None = Field(default=None, description="Only rendered messages have one.")
    template: Name | None = None
    urgent: bool | None = None
    subject_contains: str | None = None
    body_contains: str | None = None


class HistoryExpect(_Model):
    """A history row the step wrote."""

    event: Name | None = None
    kind: Name | None = None
    from_: Name | None = Field(default=None, alias="from")
    to: Name | None = None
    actor: Name | None = None
    role: Name | None = None
    reason_contains: str | None = None


class Expect(_Model):
    """What must hold after a step; only the keys given are checked."""

    state: Name | None = None
    open: bool | None = Field(default=None, description="Whether the item is still open.")
    fields: dict[Name, Any] | None = Field(default=None, description="Field values, exactly.")
    deadlines: list[DeadlineExpect] | None = Field(
        default=None, description="The open deadlines, all of them ([] for none)."
    )
    escalations: list[Name] | None = Field(
        default=None, description="Every ladder level fired on the item so far, in order."
    )
    agenda: list[AgendaExpect] | None = None
    branches: list[BranchExpect] | None = Field(
        default=None, description="Every branch the item has had, oldest first."
    )
    notifications: list[NotificationExpect] | None = Field(
        default=None, description="Notifications this step wrote ([] for none)."
    )
    history: list[HistoryExpect] | None = Field(
        default=None, description="The history rows this step wrote, in order."
    )


class ExpectRefused(_Model):
    """The fire step must be refused, and must leave the item unchanged."""

    error: Literal[
        "NotAuthorized", "GuardFailed", "EventNotAllowed", "InvalidInput", "UnknownEvent"
    ]
    guard: str | None = Field(default=None, description="The false guard's expression.")
    field: Name | None = Field(default=None, description="The invalid input's field.")
    message_contains: str | None = None


class Start(_Model):
    """Who starts the scenario's item, with which data."""

    as_: ActorText = Field(alias="as", description="ROLE:PERSON, e.g. enterprise:ent.zhao.")
    data: dict[Name, Any] = Field(default_factory=dict)
    expect: Expect | None = None


class Step(_Model):
    """One step: fire, wait, until, tick or dispatch (or only expectations)."""

    fire: Name | None = None
    as_: ActorText | None = Field(default=None, alias="as")
    input: dict[Name, Any] | None = None
    reason: str | None = None
    wait: Name | None = Field(default=None, description="e.g. 3 working days, 4 hours.")
    until: LocalTime | None = None
    tick: bool | None = Field(default=None, description="Run an escalation pass now.")
    dispatch: bool | None = Field(default=None, description="Run a dispatch pass now.")
    expect: Expect | None = None
    expect_refused: ExpectRefused | None = None

    @model_validator(mode="before")
    @classmethod
    def _bare_words(cls, value: Any) -> Any:
        """Let ``- tick`` and ``- dispatch`` stand for ``- tick: true``."""
        if value in ("tick", "dispatch"):
            return {value: True}
        return value

    @model_validator(mode="after")
    def _one_action(self) -> Step:
        given = [name for name in ACTIONS if getattr(self, name) not in (None, False)]
        if len(given) > 1:
            raise ValueError(f"a step does one thing; this one has {' and '.join(given)}")
        if self.fire is None:
            extra = [
                key
                for key, value in (
                    ("as", self.as_),
                    ("input", self.input),
                    ("reason", self.reason),
                    ("expect_refused", self.expect_refused),
                )
                if value is not None
            ]
            if extra:
                raise ValueError(f"{', '.join(extra)} belong(s) to a fire step")
        elif self.as_ is None:
            raise ValueError("a fire step needs `as: ROLE:PERSON`")
        if self.expect_refused is not None and self.expect is not None:
            raise ValueError("a refused step leaves the item unchanged: expect or expect_refused")
        if self.wait is not None and parse_duration(self.wait) is None:
            raise ValueError(
                f"wait: {self.wait!r} is not a duration; write e.g. '3 working days', "
                "'2 days', '4 hours' or '30 minutes'"
            )
        if self.until is not None and parse_local_time(self.until) is None:
            raise ValueError(f"until: {self.until!r} is not a valid date and time")
        if not given and self.expect is None:
            raise ValueError(f"an empty step; give one of {', '.join(ACTIONS)} or expect")
        return self

    @property
    def action(self) -> str:
        """What the step does: one of :data:`ACTIONS`, or ``expect`` alone."""
        for name in ACTIONS:
            if getattr(self, name) not in (None, False):
                return name
        return "expect"


class Scenario(_Model):
    """One story: a start, then steps."""

    name: Name
    at: LocalTime | None = Field(
        default=None, description="Local start time [default: Monday 2026-11-02 09:00]."
    )
    start: Start
    steps: list[Step] = Field(default_factory=list)

    @model_validator(mode="after")
    def _valid_start(self) -> Scenario:
        if self.at is not None and parse_local_time(self.at) is None:
            raise ValueError(f"at: {self.at!r} is not a valid date and time")
        return self


class ScenarioFile(_Model):
    """A scenario file: the workflow it tests, an optional directory, the scenarios."""

    workflow: Name
    directory: Name | None = Field(
        default=None, description="A directory file, relative to this file [default: the sample]."
    )
    scenarios: list[Scenario] = Field(min_length=1)
