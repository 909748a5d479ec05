"""Reports computed from history and timer tables.

The problem list, the dispatch sheet, the circular and the assessment; as a
terminal table, Markdown, CSV, Excel or printable HTML.

See docs/reports.md for what each figure means.
"""

from workflow.reports.assessment import AssessmentWeights, parse_weights
from workflow.reports.build import FORMATS, REPORTS, build_report, render_report
from workflow.reports.errors import BadReportPeriod, NoReportRules, ReportError, UnknownReport
from workflow.reports.model import Report
from workflow.reports.names import NameDirectory
from workflow.reports.rules import RULES, ReportRules

__all__ = [
    "FORMATS",
    "REPORTS",
    "RULES",
    "AssessmentWeights",
    "BadReportPeriod",
    "NameDirectory",
    "NoReportRules",
    "Report",
    "ReportError",
    "ReportRules",
    "UnknownReport",
    "build_report",
    "parse_weights",
    "render_report",
]
