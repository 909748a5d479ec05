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
    people:
      unit.chen:
        name: 陳科長                  # how messages greet them
        locale: zh                    # the language of their messages
        addresses:                    # per configured channel name
          email: chen@culture.example.gov.cn
          office_robot: "13800000001" # a mobile number: the robot mentions them
        digest: true                  # one message a day (false: never; absent: per channel)
        members: [unit.chen.deputy]   # people who act for this person (optional)

A ``people`` entry that is a list names the people who act for that person
(as before contacts existed); the mapping form may add the contact keys
``name``, ``locale``, ``addresses`` and ``digest`` next to ``members`` and
relations. The directory also answers the dispatcher's questions
(:class:`~workflow.notify.recipients.ContactDirectory`): who is in a group,
who acts for an entry, and how to reach a person.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from workflow.definition.yamlsource import read_yaml
from workflow.errors import WorkflowError
from workflow.notify.recipients import Contact

__all__ = ["StaticDirectory"]

_KINDS = {"units": "unit", "enterprises": "enterprise", "districts": "district", "people": "person"}

# Keys of a ``people`` entry that describe the person's contact, not a relation.
_CONTACT_KEYS = ("name", "locale", "addresses", "digest")


class StaticDirectory:
    """Groups, the people who act for each entry, relations and contacts, all in memory."""

    def __init__(
        self,
        groups: Mapping[str, Iterable[str]] | None = None,
        members: Mapping[tuple[str, str], Iterable[str]] | None = None,
        relations: Mapping[tuple[str, str, str], Iterable[str]] | None = None,
        contacts: Iterable[Contact] | None = None,
    ) -> None:
        # Tuples keep the order given (the order people are notified in).
        self._groups = {g: tuple(dict.fromkeys(p)) for g, p in (groups or {}).items()}
        self._members = {k: tuple(dict.fromkeys(p)) for k, p in (members or {}).items()}
        self._relations = {k: tuple(p) for k, p in (relations or {}).items()}
        self._contacts = {c.person: c for c in (contacts or ())}

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

    def group_members(self, group: str) -> Sequence[str]:
        """Return the members of ``group``, in the order given."""
        return self._groups.get(group, ())

    def acting_for(self, kind: str, entry: str) -> Sequence[str]:
        """Return the people who act for the entry (for a person: their delegates)."""
        return self._members.get((kind, entry), ())

    def contact(self, person: str) -> Contact | None:
        """Return the person's contact, or None if the ``people`` section does not give one."""
        return self._contacts.get(person)

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
        contacts: list[Contact] = []
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
                fields = _mapping(spec, f"{section}.{entry}")
                if kind == "person" and any(key in fields for key in _CONTACT_KEYS):
                    contacts.append(_contact(entry, fields, f"{section}.{entry}"))
                for relation, people in fields.items():
                    if kind == "person" and relation in _CONTACT_KEYS:
                        continue
                    where = f"{section}.{entry}.{relation}"
                    if relation == "members":
                        members[(kind, entry)] = _people(people, where)
                    else:
                        relations[(kind, entry, relation)] = _people(people, where)
        return cls(groups, members, relations, contacts)

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


def _contact(person: str, spec: Mapping[str, Any], where: str) -> Contact:
    name = spec.get("name", "")
    locale = spec.get("locale")
    addresses = spec.get("addresses", {})
    digest = spec.get("digest")
    if not isinstance(name, str):
        raise WorkflowError(f"directory: {where}.name must be text")
    if locale is not None and not isinstance(locale, str):
        raise WorkflowError(f"directory: {where}.locale must be a language code like zh or en")
    if not isinstance(addresses, dict):
        raise WorkflowError(
            f"directory: {where}.addresses must map channel names to addresses, "
            "e.g. {email: chen@example.gov.cn}"
        )
    found: dict[str, str] = {}
    for channel, given in addresses.items():
        # An unquoted mobile number reads as an integer: take it as written.
        is_number = isinstance(given, int) and not isinstance(given, bool)
        address = str(given) if is_number else given
        if not isinstance(channel, str) or not isinstance(address, str) or not address:
            raise WorkflowError(
                f"directory: {where}.addresses.{channel} must be an address (text), not {given!r}"
            )
        found[channel] = address
    if digest is not None and not isinstance(digest, bool):
        raise WorkflowError(f"directory: {where}.digest must be true or false")
    return Contact(person=person, name=name, locale=locale, addresses=found, digest=digest)


def _people(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise WorkflowError(f"directory: {where} must be a list of ids")
    return list(value)
