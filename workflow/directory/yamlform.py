"""Reading the YAML form of :class:`~workflow.directory.static.StaticDirectory` as register entries.

So the shipped sample (``definitions/_directory/sample.yaml``) and a host's
own YAML directory can be loaded into the register. The file is first read
and checked exactly as ``StaticDirectory`` does; then:

* ``groups`` become each member's ``groups`` (a group's members keep the
  order of the people section, then of first mention);
* ``units``, ``districts`` and ``enterprises`` entries keep their members and
  relations (``commissioners``); the form has no names, credit codes,
  sectors or districts, so those stay empty;
* every person mentioned anywhere becomes a person of the register, with the
  contact the ``people`` section gives, if any (the form lets people be
  mentioned without one).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from workflow.definition.yamlsource import read_yaml
from workflow.directory.parse import Entry, Parsed
from workflow.directory.records import District, Enterprise, Person, Unit
from workflow.directory.static import StaticDirectory
from workflow.errors import ImportProblem, WorkflowError

__all__ = ["read_yaml_form"]

_SECTIONS = {"units": "units", "districts": "districts", "enterprises": "enterprises"}
_CONTACT_KEYS = ("name", "locale", "addresses", "digest")


def read_yaml_form(path: str | os.PathLike[str]) -> tuple[list[Parsed], list[ImportProblem]]:
    """Read a YAML directory file as entries (row 0: the file has no rows), or its problem."""
    file = os.fspath(path)
    try:
        document = read_yaml(file)
        data = document.data
        if not isinstance(data, dict):
            raise WorkflowError("a directory file must be a mapping")
        checked = StaticDirectory.from_mapping(data)
    except (WorkflowError, OSError) as error:
        return [], [ImportProblem(file, 0, "", str(error))]

    def parsed(kind: str, entry: Entry) -> Parsed:
        return Parsed(kind, entry, file, "", 0, ())

    entries: list[Parsed] = []
    mentioned: dict[str, None] = {}
    for section, kind in _SECTIONS.items():
        for entry_id, spec in (data.get(section) or {}).items():
            links = _links(spec)
            for people in links.values():
                mentioned.update(dict.fromkeys(people))
            entries.append(parsed(kind, _entry(kind, str(entry_id), links)))
    groups = {g: list(p) for g, p in (data.get("groups") or {}).items()}
    for members in groups.values():
        mentioned.update(dict.fromkeys(members))
    people_section: Mapping[str, Any] = data.get("people") or {}
    order = list(dict.fromkeys([*map(str, people_section), *mentioned]))
    for person_id in order:
        spec = people_section.get(person_id)
        contact = checked.contact(person_id)
        links = _links(spec) if spec is not None else {}
        entries.append(
            parsed(
                "people",
                Person(
                    id=person_id,
                    name=contact.name if contact else "",
                    locale=contact.locale if contact else None,
                    addresses=dict(contact.addresses) if contact else {},
                    digest=contact.digest if contact else None,
                    groups=tuple(g for g, members in groups.items() if person_id in members),
                    links=links,
                ),
            )
        )
    # People named only as someone's delegate are people of the register too.
    known = {p.entry.id for p in entries if p.kind == "people"}
    for item in list(entries):
        if item.kind != "people":
            continue
        for people in item.entry.links.values():
            for person_id in people:
                if person_id not in known:
                    known.add(person_id)
                    entries.append(parsed("people", Person(id=person_id)))
    return entries, []


def _links(spec: Any) -> dict[str, tuple[str, ...]]:
    if isinstance(spec, list):
        return {"members": tuple(dict.fromkeys(spec))} if spec else {}
    if not isinstance(spec, dict):
        return {}
    return {
        str(relation): tuple(dict.fromkeys(people))
        for relation, people in spec.items()
        if relation not in _CONTACT_KEYS and people
    }


def _entry(kind: str, entry_id: str, links: dict[str, tuple[str, ...]]) -> Entry:
    if kind == "units":
        return Unit(id=entry_id, links=links)
    if kind == "districts":
        return District(id=entry_id, links=links)
    return Enterprise(id=entry_id, links=links)
