"""Notification templates: the Jinja2 files workflow authors write beside their definitions.

They belong to the definition layer: read and checked with the definitions
(``workflow validate`` reports their problems by file and line), named by the
definitions' ``notify`` declarations, and rendered by the notifications layer
(:mod:`workflow.notify`) in a capped sandbox. Modules, in order of dependence:
:mod:`.limits` (the caps), :mod:`.filters` (the filters authors may use),
:mod:`.sandbox` (the one Jinja2 environment for author templates),
:mod:`.analysis` (what a template reads, what it may not do), :mod:`.context`
(the plain data a template is given) and :mod:`.templateset` (the set by name
and locale, with fallback).
"""

from __future__ import annotations

from workflow.definition.templates.context import context_for, digest_context
from workflow.definition.templates.templateset import (
    NEUTRAL,
    SHIPPED_TEMPLATES,
    Rendered,
    TemplateFile,
    TemplateSet,
)

__all__ = [
    "NEUTRAL",
    "SHIPPED_TEMPLATES",
    "Rendered",
    "TemplateFile",
    "TemplateSet",
    "context_for",
    "digest_context",
]
