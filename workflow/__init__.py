"""A workflow engine for government service work.

Declarative YAML definitions drive the lifecycle of items (problems raised by
enterprises) through a state-machine core persisted with SQLAlchemy; a timer
daemon escalates overdue items. This module is the public API; everything not
listed in ``__all__`` is internal and may change.
"""

from typing import TYPE_CHECKING, Any

from workflow.app import Engine, load_definitions, shipped_definitions
from workflow.core.clock import ManualClock, SystemClock
from workflow.core.ports import Calendar, Clock, Directory
from workflow.core.values import (
    Actor,
    AvailableEvent,
    Branch,
    Deadline,
    HistoryEntry,
    ItemSnapshot,
)
from workflow.definition.compiled import Definition, SourceFile
from workflow.definition.loader import Catalog, load_catalog, load_definition
from workflow.directory.creditcode import is_valid_credit_code
from workflow.directory.export import export_directory
from workflow.directory.generate import generate_register
from workflow.directory.importer import ImportReport, import_directory, import_register
from workflow.directory.records import Enterprise, Register
from workflow.directory.register import RegisterDirectory
from workflow.directory.static import StaticDirectory
from workflow.errors import (
    ConcurrentUpdate,
    DefinitionError,
    DefinitionNotFound,
    DirectoryImportError,
    EventNotAllowed,
    GuardFailed,
    ImportProblem,
    InvalidInput,
    ItemNotFound,
    MigrationRefused,
    NotAuthorized,
    Problem,
    Refused,
    SchemaOutOfDate,
    StoreError,
    TemplateError,
    TemplateLimitExceeded,
    TemplateNotFound,
    TemplateSecurityError,
    TemplateSyntaxProblem,
    TemplateUndefined,
    UnknownEvent,
    WorkflowError,
)
from workflow.notify.recipients import Contact, ContactDirectory
from workflow.reports import NameDirectory, Report, ReportError, build_report, render_report
from workflow.schedule.calendar import BusinessCalendar
from workflow.schedule.daemon import run_daemon
from workflow.schedule.reviews import agenda, close_occurrence
from workflow.schedule.scan import Escalator, TickReport
from workflow.store.migrate import check_schema, include_name_filter, upgrade
from workflow.store.sql import create_database_engine

if TYPE_CHECKING:
    from workflow.notify.dispatch import Dispatcher, DispatchReport, dispatch_once
    from workflow.scenarios import RunResults, run_scenarios

__all__ = [
    "Actor",
    "AvailableEvent",
    "Branch",
    "BusinessCalendar",
    "Calendar",
    "Catalog",
    "Clock",
    "ConcurrentUpdate",
    "Contact",
    "ContactDirectory",
    "Deadline",
    "Definition",
    "DefinitionError",
    "DefinitionNotFound",
    "Directory",
    "DirectoryImportError",
    "DispatchReport",
    "Dispatcher",
    "Engine",
    "Enterprise",
    "Escalator",
    "EventNotAllowed",
    "GuardFailed",
    "HistoryEntry",
    "ImportProblem",
    "ImportReport",
    "InvalidInput",
    "ItemNotFound",
    "ItemSnapshot",
    "ManualClock",
    "MigrationRefused",
    "NameDirectory",
    "NotAuthorized",
    "Problem",
    "Refused",
    "Register",
    "RegisterDirectory",
    "Report",
    "ReportError",
    "RunResults",
    "SchemaOutOfDate",
    "SourceFile",
    "StaticDirectory",
    "StoreError",
    "SystemClock",
    "TemplateError",
    "TemplateLimitExceeded",
    "TemplateNotFound",
    "TemplateSecurityError",
    "TemplateSyntaxProblem",
    "TemplateUndefined",
    "TickReport",
    "UnknownEvent",
    "WorkflowError",
    "agenda",
    "build_report",
    "check_schema",
    "close_occurrence",
    "create_database_engine",
    "dispatch_once",
    "export_directory",
    "generate_register",
    "import_directory",
    "import_register",
    "include_name_filter",
    "is_valid_credit_code",
    "load_catalog",
    "load_definition",
    "load_definitions",
    "render_report",
    "run_daemon",
    "run_scenarios",
    "shipped_definitions",
    "upgrade",
]

_NOTIFY = ("DispatchReport", "Dispatcher", "dispatch_once")
_SCENARIOS = ("RunResults", "run_scenarios")


def __getattr__(name: str) -> Any:
    """Import the notifications dispatcher on first use."""
    # Lazily: the dispatcher imports the channels (notifiers), which import
    # workflow.errors and so this package; importing it eagerly here would
    # close that cycle for whoever imports notifiers first.
    if name in _NOTIFY:
        from workflow.notify import dispatch  # noqa: PLC0415

        return getattr(dispatch, name)
    if name in _SCENARIOS:
        # The scenario runner uses the dispatcher: lazily too, for the same cycle.
        from workflow import scenarios  # noqa: PLC0415

        return getattr(scenarios, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
