"""A simple directory held in memory, loadable from a YAML file.

It is the default implementation of :class:`workflow.core.ports.Directory`;
a host with its own user and organisation database implements the three
methods against that instead. The YAML form::

    groups:
      coordinating_office: [office.li]
      task_force_leaders: [leader.wu]
    units:
      u_culture: [unit.chen]          # people who act for the unit
    enterprises:
      e_pixel:
        members: [ent.zhao]           # people who act for the enterprise
        commissioners: [comm.sun]     # a relation, as used by role bindings
    districts:
      d_jianghan: [district.he]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from workflow.definition.yamlsource import read_yaml
from workflow.errors import WorkflowError

__all__ = ["StaticDirectory"]

_KINDS = {"units": "unit", "enterprises": "enterprise", "districts": "district", "people": "person"}


class StaticDirectory:
    """Groups, the people who act for each entry, and relations, all in memory."""

    def __init__(
        self,
        groups: Mapping[str, Iterable[str]] | None = None,
        members: Mapping[tuple[str, str], Iterable[str]] | None = None,
        relations: Mapping[tuple[str, str, str], Iterable[str]] | None = None,
    ) -> None:
        self._groups = {g: frozenset(p) for g, p in (groups or {}).items()}
        self._members = {k: frozenset(p) for k, p in (members or {}).items()}
        self._relations = {k: tuple(p) for k, p in (relations or {}).items()}

    def is_member(self, person: str, group: str) -> bool:
        """Tell whether ``person`` is in ``group``."""
        return person in self._groups.get(group, ())

    def represents(self, person: str, kind: str, entry: str) -> bool:
        """Tell whether ``person`` acts for the entry (a person always acts for themself)."""
        if kind == "person" and person == entry:
            return True
        return person in self._members.get((kind, entry), ())

    def related(self, kind: str, entry: str, relation: str) -> Sequence[str]:
        """Return the people related to the entry by ``relation``."""
        return self._relations.get((kind, entry, relation), ())

    def units_of(self, person: str) -> list[str]:
        """Return the units ``person`` acts for (for the CLI and demos)."""
        return sorted(
            e for (k, e), people in self._members.items() if k == "unit" and person in people
        )

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> StaticDirectory:
        """Build a directory from the YAML form shown in the module docstring."""
        groups: dict[str, list[str]] = {}
        members: dict[tuple[str, str], list[str]] = {}
        relations: dict[tuple[str, str, str], list[str]] = {}
        for section, value in data.items():
            if section == "groups":
                for group, people in _mapping(value, section).items():
                    groups[group] = _people(people, f"groups.{group}")
                continue
            kind = _KINDS.get(section)
            if kind is None:
                raise WorkflowError(
                    f"directory: unknown section {section!r} (expected groups, {', '.join(_KINDS)})"
                )
            for entry, spec in _mapping(value, section).items():
                if isinstance(spec, list):
                    members[(kind, entry)] = _people(spec, f"{section}.{entry}")
                    continue
                for relation, people in _mapping(spec, f"{section}.{entry}").items():
                    where = f"{section}.{entry}.{relation}"
                    if relation == "members":
                        members[(kind, entry)] = _people(people, where)
                    else:
                        relations[(kind, entry, relation)] = _people(people, where)
        return cls(groups, members, relations)

    @classmethod
    def from_file(cls, path: str) -> StaticDirectory:
        """Load a directory from a YAML file (read safely, with the definitions' limits)."""
        document = read_yaml(path)
        if not isinstance(document.data, dict):
            raise WorkflowError(f"{path}: a directory file must be a mapping")
        return cls.from_mapping(document.data)


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise WorkflowError(f"directory: {where} must be a mapping")
    return value


def _people(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise WorkflowError(f"directory: {where} must be a list of ids")
    return list(value)
