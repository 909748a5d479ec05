"""The filters notification templates may use: Jinja2's own, capped, plus ``datetime``.

Filters that make no sense in plain text or reach around the sandbox's
attribute rules are left out (:data:`REMOVED_FILTERS`); those that can build
a large value in one step (``center``, ``indent``, ``format``, ``replace``,
``join``, ``batch``, ``slice``, ``wordwrap``, ``list``, ``sum``) check its
size first; every filter checks the render's clock before it runs and
counts what it returns against the render's budget.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import types
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from jinja2.environment import Environment
from jinja2.filters import (
    FILTERS as JINJA_FILTERS,
)
from jinja2.filters import (
    do_batch,
    do_indent,
    do_replace,
    do_slice,
    do_sum,
    do_wordwrap,
    make_attrgetter,
)
from jinja2.nodes import EvalContext
from jinja2.runtime import Context
from jinja2.utils import pass_context, pass_environment
from jinja2.utils import pass_eval_context as _pass_eval_context

from workflow.definition.templates.limits import (
    checked,
    metered,
    printf,
    replaced_length,
    take,
    tick,
    want_items,
    want_string,
)
from workflow.errors import TemplateError, TemplateSecurityError

__all__ = ["FILTERS", "REMOVED_FILTERS"]


REMOVED_FILTERS = frozenset(
    {
        "attr",
        "e",
        "escape",
        "forceescape",
        "pprint",
        "random",
        "safe",
        "tojson",
        "urlencode",
        "urlize",
        "xmlattr",
    }
)
"""Jinja2 filters notification templates do not get: HTML-only, random, or ways around
the sandbox's attribute rules (``attr``)."""


def _center(value: Any, width: int = 80) -> str:
    text = str(value)
    want_string(max(width, len(text)), "center")
    return text.center(width)


def _format(value: Any, *args: Any, **kwargs: Any) -> str:
    if args and kwargs:
        raise TemplateError("format takes either positional or keyword arguments, not both")
    return printf(str(value), kwargs or args)


@_pass_eval_context
def _replace(
    eval_ctx: EvalContext, value: Any, old: Any, new: Any, count: int | None = None
) -> str:
    want_string(
        replaced_length(str(value), str(old), str(new), -1 if count is None else count),
        "replace",
    )
    return str(do_replace(eval_ctx, str(value), str(old), str(new), count))


@pass_environment
def _join(
    environment: Environment, value: Iterable[Any], d: str = "", attribute: str | None = None
) -> str:
    items = take(value, "join")
    if attribute is not None:
        getter = make_attrgetter(environment, attribute)
        items = [getter(item) for item in items]
    texts = [str(item) for item in items]
    want_string(sum(len(t) for t in texts) + len(str(d)) * max(len(texts) - 1, 0), "join")
    return str(d).join(texts)


def _indent(value: Any, width: int | str = 4, first: bool = False, blank: bool = False) -> str:
    text = str(value)
    pad = width if isinstance(width, int) else len(str(width))
    want_string(len(text) + (text.count("\n") + 1) * max(pad, 0), "indent")
    return do_indent(text, width, first, blank)


@pass_environment
def _wordwrap(
    environment: Environment,
    value: Any,
    width: int = 79,
    break_long_words: bool = True,
    wrapstring: str | None = None,
    break_on_hyphens: bool = True,
) -> str:
    text = str(value)
    separator = environment.newline_sequence if wrapstring is None else str(wrapstring)
    want_string((len(text) + 1) * (1 + len(separator)), "wordwrap")
    return do_wordwrap(environment, text, width, break_long_words, wrapstring, break_on_hyphens)


def _batch(value: Iterable[Any], linecount: int, fill_with: Any = None) -> list[list[Any]]:
    want_items(linecount, "batch")
    return list(do_batch(take(value, "batch"), linecount, fill_with))


def _slice(value: Iterable[Any], slices: int, fill_with: Any = None) -> list[list[Any]]:
    want_items(slices, "slice")
    return list(do_slice(take(value, "slice"), slices, fill_with))


@pass_environment
def _sum(
    environment: Environment,
    iterable: Iterable[Any],
    attribute: str | int | None = None,
    start: Any = 0,
) -> Any:
    if not isinstance(start, int | float):
        raise TemplateSecurityError("sum adds numbers only (join lists or strings instead)")
    return do_sum(environment, take(iterable, "sum"), attribute, start)


def _list(value: Iterable[Any]) -> list[Any]:
    return take(value, "list")


_MONTHS_EN = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_WEEKDAYS_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_WEEKDAYS_ZH = "一二三四五六日"
_STRFTIME_DIRECTIVES = re.compile(r"%[^aAbBdHIjmMpSyYzZ%]")


@pass_context
def _datetime(context: Context, value: Any, style: str = "short") -> str:
    """Format a date or time for people.

    ``style`` is ``short`` (2026-12-03 17:30), ``date``, ``time``, ``long``
    (with the weekday, in the template's language) or a ``strftime`` pattern
    of plain directives.
    """
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            raise TemplateError(f"datetime: {value!r} is not a date or time") from None
    if not isinstance(value, dt.date):
        raise TemplateError(f"datetime: expected a date or time, got {type(value).__name__}")
    moment = value if isinstance(value, dt.datetime) else None
    day = value.date() if isinstance(value, dt.datetime) else value
    clock = f" {moment:%H:%M}" if moment is not None else ""
    english = str(context.get("locale") or "zh").startswith("en")
    if style == "short":
        return f"{day:%Y-%m-%d}{clock}"
    if style == "date":
        return f"{day:%Y-%m-%d}"
    if style == "time":
        return f"{moment:%H:%M}" if moment is not None else ""
    if style == "long":
        weekday = day.weekday()
        if english:
            when = f", {moment:%H:%M}" if moment is not None else ""
            month = _MONTHS_EN[day.month - 1]
            return f"{_WEEKDAYS_EN[weekday]} {day.day} {month} {day.year}{when}"
        return f"{day.year}年{day.month}月{day.day}日（星期{_WEEKDAYS_ZH[weekday]}）{clock.strip()}"  # noqa: RUF001
    if "%" not in style:
        raise TemplateError(
            f"datetime: unknown style {style!r}; use short, date, time, long or a strftime pattern"
        )
    bad = _STRFTIME_DIRECTIVES.search(style)
    if bad is not None:
        raise TemplateError(f"datetime: the directive {bad.group()!r} is not supported")
    want_string(len(style) * 16, "datetime")
    return value.strftime(style)


def _metered_filter(function: Callable[..., Any], name: str) -> Callable[..., Any]:
    """Wrap a filter: deadline before, size check and count after (generators metered)."""

    @functools.wraps(function)
    def filtered(*args: Any, **kwargs: Any) -> Any:
        tick()
        result = function(*args, **kwargs)
        if isinstance(result, types.GeneratorType):
            return metered(result)
        return checked(result, f"the {name} filter")

    return filtered


_REPLACEMENTS: Mapping[str, Callable[..., Any]] = {
    "batch": _batch,
    "center": _center,
    "datetime": _datetime,
    "format": _format,
    "indent": _indent,
    "join": _join,
    "list": _list,
    "replace": _replace,
    "slice": _slice,
    "sum": _sum,
    "wordwrap": _wordwrap,
}
FILTERS: Mapping[str, Callable[..., Any]] = {
    name: _metered_filter(_REPLACEMENTS.get(name, function), name)
    for name, function in {**JINJA_FILTERS, **_REPLACEMENTS}.items()
    if name not in REMOVED_FILTERS
}
"""Every filter a template may use, by name."""
