"""Who hears of a notification: a role of an item, resolved to people and their contacts.

An intent names a role of the item (``unit``, ``commissioner``). The
dispatcher turns it into people with the definition's role binding, the
same rules authorization uses (:mod:`workflow.core.authz`), asked the other
way round: not "does this person hold the role?" but "who holds it?":

* a role bound to a group: the group's members;
* a role bound to a field: the people who act for each entry in the field
  (for a ``person`` field, the person too), or with a relation, the people
  related to each entry (the ``commissioners`` of the enterprise).

Each person then has a :class:`Contact`: a display name, a preferred
language, an address per channel name, and whether they want digests. A
host implements :class:`ContactDirectory` over its own user database; the
shipped :class:`~workflow.directory.static.StaticDirectory` reads them from
its ``people:`` section.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from workflow.definition.compiled import Definition

__all__ = ["Contact", "ContactDirectory", "Recipient", "people_for", "recipients_for"]


@dataclass(frozen=True)
class Contact:
    """How to reach one person."""

    person: str
    name: str = ""
    """The display name (a greeting, a mention); empty: the person's id is shown."""
    locale: str | None = None
    """The preferred language (``zh``, ``en``); None: the configuration's default."""
    addresses: Mapping[str, str] = field(default_factory=dict)
    """Channel name (as configured: ``email``, ``office_robot``) to address."""
    digest: bool | None = None
    """True: collect this person's messages into one a day on every channel; False:
    never; None: as the channel is configured (its ``digest`` time, if any)."""


@runtime_checkable
class ContactDirectory(Protocol):
    """What the dispatcher asks a directory: who holds a role, and how to reach them."""

    def group_members(self, group: str) -> Sequence[str]:
        """Return the members of a fixed group."""
        ...

    def acting_for(self, kind: str, entry: str) -> Sequence[str]:
        """Return the people who act for a directory entry (``kind`` e.g. ``unit``)."""
        ...

    def related(self, kind: str, entry: str, relation: str) -> Sequence[str]:
        """Return the people related to an entry (e.g. an enterprise's commissioners)."""
        ...

    def contact(self, person: str) -> Contact | None:
        """Return how to reach ``person``, or None if the directory does not know them."""
        ...


@dataclass(frozen=True)
class Recipient:
    """A person who holds a role of an item, with their contact (None: unknown)."""

    person: str
    role: str
    contact: Contact | None


def people_for(
    definition: Definition, role: str, data: Mapping[str, Any], directory: ContactDirectory
) -> list[str]:
    """Return the people who hold ``role`` for an item with ``data``, in directory order.

    An unknown role, an empty field, or an entry nobody acts for gives no one.
    """
    spec = definition.spec.roles.get(role)
    if spec is None:
        return []
    found: list[str] = []
    if spec.group is not None:
        found.extend(directory.group_members(spec.group))
    elif spec.field is not None:
        kind = definition.spec.fields[spec.field].ref or "person"
        value = data.get(spec.field)
        entries: Sequence[Any] = value if isinstance(value, list) else ([value] if value else [])
        for entry in entries:
            if not isinstance(entry, str):
                continue
            if spec.relation is not None:
                found.extend(directory.related(kind, entry, spec.relation))
                continue
            if kind == "person":
                # A person always acts for themself (as in authorization).
                found.append(entry)
            found.extend(directory.acting_for(kind, entry))
    return list(dict.fromkeys(found))


def recipients_for(
    definition: Definition,
    roles: Sequence[str],
    data: Mapping[str, Any],
    directory: ContactDirectory,
) -> list[Recipient]:
    """Return each person holding one of ``roles`` once (under the first role that names them)."""
    seen: dict[str, Recipient] = {}
    for role in roles:
        for person in people_for(definition, role, data, directory):
            if person not in seen:
                seen[person] = Recipient(person, role, directory.contact(person))
    return list(seen.values())
