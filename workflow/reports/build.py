"""Making a report from an engine: read the rows in one transaction, compute, render.

:func:`build_report` is the API behind ``workflow report``: it picks the
period in the calendar's zone, reads the rows the report needs through
:mod:`workflow.reports.query` and hands them to the report's pure function.
:func:`render_report` lays a report out in one of the formats.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal

from workflow.definition.compiled import Definition
from workflow.errors import DefinitionNotFound
from workflow.reports import query
from workflow.reports.assessment import AssessmentWeights, assessment
from workflow.reports.circular import circular
from workflow.reports.days import counter_for
from workflow.reports.dispatch_sheet import agenda_periods, dispatch_sheet
from workflow.reports.errors import BadReportPeriod, ReportError, UnknownReport
from workflow.reports.facts import WorkingDays
from workflow.reports.html import to_html
from workflow.reports.model import Report
from workflow.reports.names import Lang, NameDirectory, Names, NoNames
from workflow.reports.periods import parse_period
from workflow.reports.problem_list import problem_list
from workflow.reports.rules import GROUPINGS, ReportRules, rules_for
from workflow.reports.star_list import STAR_WORKFLOW, star_list
from workflow.reports.text import to_csv, to_markdown, to_table

if TYPE_CHECKING:
    from workflow.app import Engine

__all__ = ["FORMATS", "REPORTS", "Format", "build_report", "render_report"]

REPORTS = ("problem-list", "dispatch-sheet", "circular", "assessment", "star-list")
"""The reports' names."""

Format = Literal["table", "markdown", "csv", "xlsx", "html"]
FORMATS: tuple[Format, ...] = ("table", "markdown", "csv", "xlsx", "html")

_DEFAULT_GROUPING = {"problem-list": "unit", "circular": "district"}


def build_report(
    engine: Engine,
    name: str,
    period: str,
    *,
    by: str | None = None,
    lang: Lang = "en",
    names: NameDirectory | None = None,
    now: dt.datetime | None = None,
    workflow_id: str = "enterprise_issue",
    rules: Mapping[str, ReportRules] | None = None,
    weights: AssessmentWeights | None = None,
) -> Report:
    """Compute report ``name`` for ``period`` (``2026-11``, ``2026-Q3``, ``2026-H2``, ``2026``).

    ``by`` groups the problem list and the circular (``district``, ``unit``,
    ``sector`` or ``enterprise``); ``names`` gives display names (ids are shown
    without one); the figures describe the end of the period, or ``now``
    (default: the engine's clock) while the period is still running.
    """
    if name not in REPORTS:
        raise UnknownReport(name, REPORTS)
    if name == "star-list":
        return _star_list(engine, period, lang, names, now)
    grouping = by or _DEFAULT_GROUPING.get(name, "district")
    if grouping not in GROUPINGS:
        raise ReportError(f"cannot group by {grouping!r}: choose one of {', '.join(GROUPINGS)}")
    chosen = rules_for(workflow_id, rules)
    definition = _definition(engine, workflow_id)
    from workflow.schedule.reviews import timezone_of  # noqa: PLC0415 - avoid an import cycle

    wanted = parse_period(period, timezone_of(engine))
    moment = now or engine.clock.now()
    as_of = min(moment, wanted.end)
    display = Names(names or NoNames(), definition, chosen.fields)
    calendar = engine.calendar
    if not isinstance(calendar, WorkingDays):
        raise ReportError(
            "the engine's calendar cannot count working days (working_days_between); "
            "reports need a BusinessCalendar"
        )
    calendar = counter_for(calendar)
    with engine.store.read() as tx:
        connection, t = tx.connection, tx.t
        if name == "problem-list":
            rows = query.open_rows(connection, t, workflow_id, as_of)
            return problem_list(rows, wanted, grouping, calendar, display, chosen, definition, lang)
        if name == "dispatch-sheet":
            review = definition.spec.reviews.get(chosen.dispatch_review) if definition else None
            if review is None:
                raise ReportError(
                    f"workflow {workflow_id!r} declares no review {chosen.dispatch_review!r} "
                    "(the rules' dispatch review)"
                )
            periods = agenda_periods(wanted, review.period)
            rows = query.agenda_rows(
                connection, t, workflow_id, chosen.dispatch_review, periods, as_of
            )
            return dispatch_sheet(rows, wanted, display, chosen, definition, lang)
        # The circular compares with the previous period; the assessment does not.
        since = wanted.previous().start if name == "circular" else wanted.start
        counted = chosen.counted_steps()
        rows = query.active_rows(connection, t, workflow_id, since, as_of, steps=counted)
    if name == "circular":
        return circular(rows, wanted, grouping, calendar, display, chosen, definition, lang, as_of)
    return assessment(rows, wanted, calendar, display, chosen, definition, lang, as_of, weights)


def render_report(report: Report, fmt: Format | str) -> bytes:
    """Lay the report out as ``fmt``: UTF-8 text, or the bytes of an ``.xlsx`` workbook."""
    if fmt == "xlsx":
        # openpyxl takes a tenth of a second to import: only when a workbook is asked for.
        from workflow.reports.excel import to_xlsx  # noqa: PLC0415

        return to_xlsx(report, report.lang)
    renderers = {"table": to_table, "markdown": to_markdown, "csv": to_csv, "html": to_html}
    if fmt not in renderers:
        raise ReportError(f"no report format {fmt!r}: choose one of {', '.join(FORMATS)}")
    return renderers[fmt](report, report.lang).encode("utf-8")


def _star_list(
    engine: Engine,
    period: str,
    lang: Lang,
    names: NameDirectory | None,
    now: dt.datetime | None,
) -> Report:
    """Rank one round of the star list (its own workflow; a round is a half-year)."""
    from workflow.schedule.reviews import timezone_of  # noqa: PLC0415 - avoid an import cycle

    wanted = parse_period(period, timezone_of(engine))
    if wanted.kind != "half_year":
        raise BadReportPeriod(
            f"period {period!r}: the star list is half-yearly; give a round such as 2026-H1"
        )
    definition = _definition(engine, STAR_WORKFLOW)
    # A round is published after its half-year ends: read it as it stands now.
    moment = now or engine.clock.now()
    display = Names(names or NoNames(), definition, {"sector": "sector"})
    with engine.store.read() as tx:
        rows = query.active_rows(tx.connection, tx.t, STAR_WORKFLOW, wanted.start, moment)
    return star_list(rows, wanted, display, definition, lang)


def _definition(engine: Engine, workflow_id: str) -> Definition | None:
    try:
        return engine.catalog.get(workflow_id)
    except DefinitionNotFound:
        return None
