"""Directory adapters: who belongs to which group, unit and enterprise."""

from workflow.directory.static import StaticDirectory

__all__ = ["StaticDirectory"]
