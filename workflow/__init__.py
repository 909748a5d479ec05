"""A workflow engine for government service work.

Declarative YAML definitions drive the lifecycle of items (problems raised by
enterprises) through a state-machine core. This module is the public API;
everything not listed in ``__all__`` is internal.
"""

from workflow.definition.compiled import Definition, SourceFile
from workflow.definition.loader import Catalog, load_catalog, load_definition
from workflow.errors import DefinitionError, DefinitionNotFound, Problem, WorkflowError

__all__ = [
    "Catalog",
    "Definition",
    "DefinitionError",
    "DefinitionNotFound",
    "Problem",
    "SourceFile",
    "WorkflowError",
    "load_catalog",
    "load_definition",
]
