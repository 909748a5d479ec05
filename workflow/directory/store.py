"""The register's rows: reading it whole, and writing an import in the caller's transaction.

The tables (``<prefix>dir_*``, revision 0005) are declared in
:mod:`workflow.store.schema`. Links are owned by the entry whose row names
them: an entry's contacts, commissioners and other relations by that entry,
a person's groups and delegates by that person. A merge therefore replaces,
for each entry it imports, the entry's fields and the links it owns.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table, and_, bindparam, delete, func, insert, select, update

from workflow.directory.parse import Entry
from workflow.directory.records import KINDS, District, Enterprise, Person, Register, Unit
from workflow.directory.validate import Existing
from workflow.store.schema import Tables, build_tables

__all__ = [
    "LINK_KIND",
    "count_entries",
    "existing_entries",
    "load_register",
    "tables_for",
    "write_entries",
]

LINK_KIND = {
    "districts": "district",
    "units": "unit",
    "enterprises": "enterprise",
    "people": "person",
}
"""The ``kind`` a link row gives an entry of each kind (as role bindings name it)."""
GROUP = "group"
MEMBERS = "members"

# Bound parameters per statement stay well under every driver's limit.
_CHUNK = 500


@functools.lru_cache(maxsize=16)
def tables_for(prefix: str) -> Tables:
    """Return the tables for ``prefix`` (declared once per prefix)."""
    return build_tables(prefix)


def _table(t: Tables, kind: str) -> Table:
    return {
        "districts": t.dir_districts,
        "units": t.dir_units,
        "enterprises": t.dir_enterprises,
        "people": t.dir_people,
    }[kind]


def count_entries(conn: Connection, t: Tables) -> dict[str, int]:
    """Return how many entries of each kind the register holds."""
    return {
        kind: int(conn.execute(select(func.count()).select_from(_table(t, kind))).scalar_one())
        for kind in KINDS
    }


def existing_entries(conn: Connection, t: Tables) -> Existing:
    """Return the ids of each kind and the credit codes (what a merge may refer to)."""
    ids = {kind: frozenset(conn.execute(select(_table(t, kind).c.id)).scalars()) for kind in KINDS}
    e = t.dir_enterprises
    codes = {
        code: holder
        for code, holder in conn.execute(
            select(e.c.credit_code, e.c.id).where(e.c.credit_code.is_not(None))
        )
    }
    return Existing(ids=ids, credit_codes=codes)


def write_entries(
    conn: Connection, t: Tables, entries: Mapping[str, Sequence[Entry]], *, replace: bool
) -> None:
    """Write the entries of an import on ``conn`` (the caller commits or rolls back).

    ``replace``: the register becomes exactly these entries. Otherwise each
    entry given replaces the one with its id (fields and owned links), and the
    others stay.
    """
    links = t.dir_links
    if replace:
        conn.execute(delete(links))
        for kind in ("enterprises", "people", "units", "districts"):
            conn.execute(delete(_table(t, kind)))
    for kind in ("districts", "units", "people", "enterprises"):
        rows = [_row(entry) for entry in entries.get(kind, ())]
        if not rows:
            continue
        table = _table(t, kind)
        new = rows
        if not replace:
            ids = [r["id"] for r in rows]
            present: set[str] = set()
            for chunk in _chunks(ids):
                present.update(
                    conn.execute(select(table.c.id).where(table.c.id.in_(chunk))).scalars()
                )
                conn.execute(
                    delete(links).where(
                        and_(links.c.kind == LINK_KIND[kind], links.c.entry.in_(chunk))
                    )
                )
                if kind == "people":
                    conn.execute(
                        delete(links).where(
                            and_(links.c.kind == GROUP, links.c.person_id.in_(chunk))
                        )
                    )
            old = [r for r in rows if r["id"] in present]
            new = [r for r in rows if r["id"] not in present]
            if old:
                values: dict[str, Any] = {c: bindparam(f"v_{c}") for c in old[0] if c != "id"}
                conn.execute(
                    update(table).where(table.c.id == bindparam("v_id")).values(values),
                    [{f"v_{k}": v for k, v in r.items()} for r in old],
                )
        if new:
            conn.execute(insert(table), new)
    link_rows = list(_link_rows(entries))
    for chunk_start in range(0, len(link_rows), _CHUNK):
        conn.execute(insert(links), link_rows[chunk_start : chunk_start + _CHUNK])


def load_register(conn: Connection, t: Tables) -> Register:
    """Read the whole register (for export and ``directory show``), entries by id."""
    links: dict[tuple[str, str], dict[str, list[str]]] = {}
    groups: dict[str, list[str]] = {}
    l = t.dir_links  # noqa: E741 - the table's conventional short name
    for kind, entry, relation, person in conn.execute(
        select(l.c.kind, l.c.entry, l.c.relation, l.c.person_id).order_by(
            l.c.kind, l.c.entry, l.c.relation, l.c.position, l.c.person_id
        )
    ):
        if kind == GROUP:
            groups.setdefault(person, []).append(entry)
        else:
            links.setdefault((kind, entry), {}).setdefault(relation, []).append(person)

    def owned(kind: str, entry_id: str) -> dict[str, tuple[str, ...]]:
        return {r: tuple(p) for r, p in links.get((LINK_KIND[kind], entry_id), {}).items()}

    d, u, e, p = t.dir_districts, t.dir_units, t.dir_enterprises, t.dir_people
    districts = tuple(
        District(r.id, r.name_zh or "", r.name_en or "", owned("districts", r.id))
        for r in conn.execute(select(d).order_by(d.c.id))
    )
    units = tuple(
        Unit(r.id, r.name_zh or "", r.name_en or "", owned("units", r.id))
        for r in conn.execute(select(u).order_by(u.c.id))
    )
    enterprises = tuple(
        enterprise_from_row(dict(r._mapping), owned("enterprises", r.id))
        for r in conn.execute(select(e).order_by(e.c.id))
    )
    people = tuple(
        person_from_row(
            dict(r._mapping), tuple(sorted(groups.get(r.id, ()))), owned("people", r.id)
        )
        for r in conn.execute(select(p).order_by(p.c.id))
    )
    return Register(districts, units, enterprises, people)


def enterprise_from_row(row: Mapping[str, Any], links: Mapping[str, tuple[str, ...]]) -> Enterprise:
    """Build an enterprise from its row and links."""
    return Enterprise(
        id=row["id"],
        name_zh=row["name_zh"] or "",
        name_en=row["name_en"] or "",
        credit_code=row["credit_code"],
        sector=row["sector"],
        district=row["district_id"],
        links=dict(links),
    )


def person_from_row(
    row: Mapping[str, Any], groups: tuple[str, ...], links: Mapping[str, tuple[str, ...]]
) -> Person:
    """Build a person from their row, groups and links."""
    return Person(
        id=row["id"],
        name=row["name"] or "",
        locale=row["locale"],
        addresses=dict(row["addresses"] or {}),
        digest=row["digest"],
        groups=groups,
        links=dict(links),
    )


def _row(entry: Entry) -> dict[str, Any]:
    if isinstance(entry, Person):
        return {
            "id": entry.id,
            "name": entry.name or None,
            "locale": entry.locale,
            "addresses": dict(entry.addresses) or None,
            "digest": entry.digest,
        }
    row: dict[str, Any] = {
        "id": entry.id,
        "name_zh": entry.name_zh or None,
        "name_en": entry.name_en or None,
    }
    if isinstance(entry, Enterprise):
        row.update(credit_code=entry.credit_code, sector=entry.sector, district_id=entry.district)
    return row


def _link_rows(entries: Mapping[str, Sequence[Entry]]) -> Iterator[dict[str, Any]]:
    for kind in KINDS:
        for entry in entries.get(kind, ()):
            for relation, people in entry.links.items():
                for position, person in enumerate(people):
                    yield {
                        "kind": LINK_KIND[kind],
                        "entry": entry.id,
                        "relation": relation,
                        "person_id": person,
                        "position": position,
                    }
    # A group keeps the order of the people rows that name it.
    for position, entry in enumerate(entries.get("people", ())):
        if isinstance(entry, Person):
            for group in entry.groups:
                yield {
                    "kind": GROUP,
                    "entry": group,
                    "relation": MEMBERS,
                    "person_id": entry.id,
                    "position": position,
                }


def _chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]
