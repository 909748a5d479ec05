"""The caps on one template render: sizes checked before an operation runs, a budget, a clock.

:mod:`.sandbox` and :mod:`.filters` call these
checks around everything a template can do that costs memory or time. The
per-render state (the deadline and what has been spent) lives in a context
variable set by :func:`rendering`; outside a render only the size caps apply.
"""

from __future__ import annotations

import contextvars
import itertools
import re
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from workflow.errors import TemplateLimitExceeded

__all__ = [
    "DEFAULT_LIMITS",
    "Limits",
    "capped_range",
    "check_add",
    "check_multiply",
    "check_power",
    "check_printf",
    "check_spec",
    "checked",
    "current_limits",
    "metered",
    "printf",
    "rendering",
    "replaced_length",
    "spend",
    "take",
    "tick",
    "want_bits",
    "want_items",
    "want_string",
    "want_width",
]


@dataclass(frozen=True)
class Limits:
    """The caps on one render. Sizes are in characters, items or bits."""

    output_bytes: int = 64 * 1024
    """Each block's output, in UTF-8 bytes (checked while it streams)."""
    render_seconds: float = 0.2
    """Wall time for one render (both blocks)."""
    string_length: int = 256 * 1024
    """The longest string any one operation may build."""
    items: int = 100_000
    """The longest list (or range) any one operation may build."""
    int_bits: int = 8192
    """The largest integer (about 2,466 decimal digits)."""
    width: int = 1000
    """The largest width or precision in a format (``%10s``, ``{:>10}``, ``%10Y``)."""
    budget: int = 2_000_000
    """Everything built during one render: characters of strings and output, items of lists."""


DEFAULT_LIMITS = Limits()
"""The limits used unless a template set is given others."""


# -- the per-render state: deadline and budget --------------------------------------------


class _Render:
    """What one render has used so far."""

    __slots__ = ("deadline", "limits", "spent")

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.deadline = time.monotonic() + limits.render_seconds
        self.spent = 0


_current: contextvars.ContextVar[_Render | None] = contextvars.ContextVar(
    "workflow_template_render", default=None
)


@contextmanager
def rendering(limits: Limits) -> Iterator[None]:
    """Run a render under ``limits``: its clock starts now, its budget at zero."""
    token = _current.set(_Render(limits))
    try:
        yield
    finally:
        _current.reset(token)


def current_limits() -> Limits:
    """Return the limits of the render in progress (the defaults outside one)."""
    state = _current.get()
    return state.limits if state is not None else DEFAULT_LIMITS


def tick() -> None:
    """Stop the render once its time is up."""
    state = _current.get()
    if state is not None and time.monotonic() > state.deadline:
        seconds = state.limits.render_seconds
        raise TemplateLimitExceeded(
            "render time",
            seconds,
            f"the render took longer than {seconds * 1000:.0f} ms; loop over less data",
        )


def spend(amount: int) -> None:
    """Count ``amount`` characters or items against the render's budget."""
    state = _current.get()
    if state is None:
        return
    state.spent += amount
    if state.spent > state.limits.budget:
        raise TemplateLimitExceeded(
            "render budget",
            state.limits.budget,
            f"the template built more than {state.limits.budget:,} characters and list "
            "items in one render",
        )


def want_string(length: int, what: str) -> None:
    """Refuse to build a string of ``length`` characters over the cap (``what`` would)."""
    cap = current_limits().string_length
    if length > cap:
        raise TemplateLimitExceeded(
            "string length",
            cap,
            f"{what} would build a string of {length:,} characters; at most {cap:,} are allowed",
        )


def want_items(count: int, what: str) -> None:
    """Refuse to build a list of ``count`` items over the cap."""
    cap = current_limits().items
    if count > cap:
        raise TemplateLimitExceeded(
            "list length",
            cap,
            f"{what} would build {count:,} items; at most {cap:,} are allowed",
        )


def want_bits(bits: int, what: str) -> None:
    """Refuse to build an integer of ``bits`` bits over the cap."""
    cap = current_limits().int_bits
    if bits > cap:
        raise TemplateLimitExceeded(
            "integer size",
            cap,
            f"{what} would build an integer of about {bits:,} bits; at most {cap:,} are allowed",
        )


def want_width(digits: str, what: str) -> None:
    """Refuse a format width or precision (given as its digits) over the cap."""
    cap = current_limits().width
    # Compare lengths first: int() of a long digit string is itself slow (and refused).
    if len(digits.lstrip("0")) > len(str(cap)) or int(digits) > cap:
        shown = digits if len(digits) <= 20 else digits[:20] + "..."
        raise TemplateLimitExceeded(
            "format width", cap, f"{what} asks for a width of {shown}; at most {cap} is allowed"
        )


def checked(value: Any, what: str) -> Any:
    """Check and count a value just built."""
    if isinstance(value, str):
        want_string(len(value), what)
        spend(len(value))
    elif isinstance(value, list | tuple | dict | set | frozenset):
        want_items(len(value), what)
        spend(len(value))
    elif isinstance(value, int) and not isinstance(value, bool):
        want_bits(value.bit_length(), what)
    return value


def metered(iterator: Iterator[Any]) -> Iterator[Any]:
    """Yield from ``iterator``, checking the render's clock at every step."""
    for item in iterator:
        tick()
        yield item


def take(value: Iterable[Any], what: str) -> list[Any]:
    """Materialise an iterable, refusing it past the list cap."""
    cap = current_limits().items
    taken = list(itertools.islice(metered(iter(value)), cap + 1))
    want_items(len(taken), what)
    spend(len(taken))
    return taken


# -- formats --------------------------------------------------------------------------------

_DIGITS = re.compile(r"\d+")
_PRINTF = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d*))?[hlL]?(.)?", re.DOTALL)


def check_spec(spec: str, what: str) -> None:
    """Refuse a format spec (``>10``, ``.3f``, ``%Y``) with a number over the width cap."""
    for digits in _DIGITS.findall(spec):
        want_width(digits, what)


def check_printf(fmt: str, what: str) -> None:
    """Refuse ``%*d`` and widths or precisions over the cap in a printf-style format."""
    for match in _PRINTF.finditer(fmt):
        width, precision, conversion = match.groups()
        if conversion == "%":
            continue
        for part in (width, precision):
            if part == "*":
                raise TemplateLimitExceeded(
                    "format width",
                    current_limits().width,
                    f"{what} takes its width from an argument (`*`); write the width out",
                )
            if part:
                want_width(part, what)


def printf(fmt: str, values: Any) -> str:
    """Apply a printf-style format (``fmt % values``) within the caps."""
    check_printf(fmt, "the % format")
    result: str = fmt % values
    return str(checked(result, "the % format"))


def replaced_length(text: str, old: str, new: str, count: int) -> int:
    """Return the length of ``text.replace(old, new, count)`` without building it."""
    hits = text.count(old) if old else len(text) + 1
    if count >= 0:
        hits = min(hits, count)
    return len(text) + hits * (len(new) - len(old))


def check_multiply(left: Any, right: Any, what: str) -> None:
    """Refuse ``left * right`` (repeat a string or list, multiply integers) over the caps."""
    for sequence, count in ((left, right), (right, left)):
        if isinstance(sequence, str | list | tuple) and isinstance(count, int):
            total = len(sequence) * max(count, 0)
            if isinstance(sequence, str):
                want_string(total, what)
            else:
                want_items(total, what)
            return
    if isinstance(left, int) and isinstance(right, int):
        want_bits(left.bit_length() + right.bit_length() - 1, what)


def check_add(left: Any, right: Any, what: str) -> None:
    """Refuse ``left + right`` (join strings or lists) over the caps."""
    if isinstance(left, str) and isinstance(right, str):
        want_string(len(left) + len(right), what)
    elif isinstance(left, list | tuple) and isinstance(right, list | tuple):
        want_items(len(left) + len(right), what)


def check_power(base: Any, exponent: Any, what: str) -> None:
    """Refuse ``base ** exponent`` on integers over the integer cap."""
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1:
        # The smallest size the result can have; the result itself is checked after.
        want_bits((base.bit_length() - 1) * exponent + 1, what)


def capped_range(*args: int) -> range:
    """``range`` capped at the list length limit."""
    numbers = range(*args)
    try:
        length = len(numbers)
    except OverflowError:
        length = current_limits().items + 1
    want_items(length, "range()")
    return numbers
