"""A workflow engine for government service work.

Declarative YAML definitions drive the lifecycle of items (problems raised by
enterprises) through a state-machine core persisted with SQLAlchemy; a timer
daemon escalates overdue items. This module is the public API; everything not
listed in ``__all__`` is internal and may change.
"""

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
from workflow.directory.static import StaticDirectory
from workflow.errors import (
    ConcurrentUpdate,
    DefinitionError,
    DefinitionNotFound,
    EventNotAllowed,
    GuardFailed,
    InvalidInput,
    ItemNotFound,
    MigrationRefused,
    NotAuthorized,
    Problem,
    Refused,
    SchemaOutOfDate,
    StoreError,
    UnknownEvent,
    WorkflowError,
)
from workflow.schedule.calendar import BusinessCalendar
from workflow.schedule.daemon import run_daemon
from workflow.schedule.reviews import agenda, close_occurrence
from workflow.schedule.scan import Escalator, TickReport
from workflow.store.migrate import check_schema, include_name_filter, upgrade
from workflow.store.sql import create_database_engine

__all__ = [
    "Actor",
    "AvailableEvent",
    "Branch",
    "BusinessCalendar",
    "Calendar",
    "Catalog",
    "Clock",
    "ConcurrentUpdate",
    "Deadline",
    "Definition",
    "DefinitionError",
    "DefinitionNotFound",
    "Directory",
    "Engine",
    "Escalator",
    "EventNotAllowed",
    "GuardFailed",
    "HistoryEntry",
    "InvalidInput",
    "ItemNotFound",
    "ItemSnapshot",
    "ManualClock",
    "MigrationRefused",
    "NotAuthorized",
    "Problem",
    "Refused",
    "SchemaOutOfDate",
    "SourceFile",
    "StaticDirectory",
    "StoreError",
    "SystemClock",
    "TickReport",
    "UnknownEvent",
    "WorkflowError",
    "agenda",
    "check_schema",
    "close_occurrence",
    "create_database_engine",
    "include_name_filter",
    "load_catalog",
    "load_definition",
    "load_definitions",
    "run_daemon",
    "shipped_definitions",
    "upgrade",
]
