"""Workflow definitions: the YAML language, its loader, checks, schema and diagrams."""
