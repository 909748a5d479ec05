"""The directory kept in the database: the key-enterprise register.

:class:`RegisterDirectory` answers the engine's questions (the
:class:`~workflow.core.ports.Directory` port: groups, who acts for an entry,
an enterprise's commissioners) and the dispatcher's
(:class:`~workflow.notify.recipients.ContactDirectory`: who holds a role,
how to reach them) from the ``<prefix>dir_*`` tables, with the same meaning
as :class:`~workflow.directory.static.StaticDirectory`. It also gives the
reports what they print: an enterprise's names, sector and district, a
unit's or district's display name.

Each question is one indexed query (never a table load). Answers are kept in
a small cache per instance for ``max_age`` seconds (default 30): a long-running
daemon sees an import within that time, and :meth:`RegisterDirectory.refresh`
drops the cache at once (the CLI's ``directory import`` runs in its own
process, so its engine commands start with a cold cache anyway).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, and_, exists, select
from sqlalchemy.exc import SQLAlchemyError

from workflow.directory.records import SECTOR_LABELS, District, Enterprise, Register, Unit
from workflow.directory.store import (
    GROUP,
    MEMBERS,
    enterprise_from_row,
    load_register,
    tables_for,
)
from workflow.errors import StoreError
from workflow.notify.recipients import Contact
from workflow.store.schema import DEFAULT_PREFIX

__all__ = ["RegisterDirectory"]

T = TypeVar("T")


class RegisterDirectory:
    """The Directory port and ContactDirectory over the register's tables."""

    def __init__(
        self,
        bind: Engine,
        *,
        prefix: str = DEFAULT_PREFIX,
        schema: str | None = None,
        max_age: float = 30.0,
        cache_size: int = 2048,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._bind = bind.execution_options(schema_translate_map={None: schema}) if schema else bind
        self._t = tables_for(prefix)
        self._max_age = max_age
        self._cache_size = cache_size
        self._monotonic = monotonic
        self._cache: OrderedDict[tuple[Any, ...], tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    # -- the Directory port -------------------------------------------------------------

    def is_member(self, person: str, group: str) -> bool:
        """Tell whether ``person`` is in ``group``."""
        return person in self.group_members(group)

    def represents(self, person: str, kind: str, entry: str) -> bool:
        """Tell whether ``person`` acts for the entry (a person always acts for themself)."""
        if kind == "person" and person == entry:
            return True
        return person in self.acting_for(kind, entry)

    def related(self, kind: str, entry: str, relation: str) -> Sequence[str]:
        """Return the people related to the entry by ``relation``, in the order given."""
        links = self._t.dir_links

        def load(conn: Connection) -> tuple[str, ...]:
            query = (
                select(links.c.person_id)
                .where(
                    and_(
                        links.c.kind == kind,
                        links.c.entry == entry,
                        links.c.relation == relation,
                    )
                )
                .order_by(links.c.position, links.c.person_id)
            )
            return tuple(conn.execute(query).scalars())

        return self._cached(("related", kind, entry, relation), load)

    # -- ContactDirectory ---------------------------------------------------------------

    def group_members(self, group: str) -> Sequence[str]:
        """Return the members of ``group``, in the order of the people rows that named it."""
        return self.related(GROUP, group, MEMBERS)

    def acting_for(self, kind: str, entry: str) -> Sequence[str]:
        """Return the people who act for the entry (for a person: their delegates)."""
        return self.related(kind, entry, MEMBERS)

    def contact(self, person: str) -> Contact | None:
        """Return how to reach ``person``, or None if the register does not know them."""
        people = self._t.dir_people

        def load(conn: Connection) -> Contact | None:
            row = conn.execute(select(people).where(people.c.id == person)).first()
            if row is None:
                return None
            return Contact(
                person=row.id,
                name=row.name or "",
                locale=row.locale,
                addresses=dict(row.addresses or {}),
                digest=row.digest,
            )

        return self._cached(("contact", person), load)

    # -- lookups for the CLI and the reports --------------------------------------------

    def units_of(self, person: str) -> list[str]:
        """Return the units ``person`` acts for, sorted."""
        links = self._t.dir_links

        def load(conn: Connection) -> list[str]:
            query = select(links.c.entry).where(
                and_(
                    links.c.person_id == person,
                    links.c.kind == "unit",
                    links.c.relation == MEMBERS,
                )
            )
            return sorted(conn.execute(query).scalars())

        return list(self._cached(("units_of", person), load))

    def enterprise(self, enterprise_id: str) -> Enterprise | None:
        """Return an enterprise with its names, credit code, sector, district and links."""
        table, links = self._t.dir_enterprises, self._t.dir_links

        def load(conn: Connection) -> Enterprise | None:
            row = conn.execute(select(table).where(table.c.id == enterprise_id)).first()
            if row is None:
                return None
            found: dict[str, list[str]] = {}
            query = (
                select(links.c.relation, links.c.person_id)
                .where(and_(links.c.kind == "enterprise", links.c.entry == enterprise_id))
                .order_by(links.c.relation, links.c.position, links.c.person_id)
            )
            for relation, person in conn.execute(query):
                found.setdefault(relation, []).append(person)
            return enterprise_from_row(dict(row._mapping), {k: tuple(v) for k, v in found.items()})

        return self._cached(("enterprise", enterprise_id), load)

    def unit(self, unit_id: str) -> Unit | None:
        """Return a unit's names (without its links), or None."""
        table = self._t.dir_units

        def load(conn: Connection) -> Unit | None:
            row = conn.execute(select(table).where(table.c.id == unit_id)).first()
            return None if row is None else Unit(row.id, row.name_zh or "", row.name_en or "")

        return self._cached(("unit", unit_id), load)

    def district(self, district_id: str) -> District | None:
        """Return a district's names (without its links), or None."""
        table = self._t.dir_districts

        def load(conn: Connection) -> District | None:
            row = conn.execute(select(table).where(table.c.id == district_id)).first()
            if row is None:
                return None
            return District(row.id, row.name_zh or "", row.name_en or "")

        return self._cached(("district", district_id), load)

    def display_name(self, kind: str, entry: str, locale: str = "zh", /) -> str | None:
        """Return the name to print for an entry in ``locale`` (zh or en), or None if unknown.

        ``kind`` is ``enterprise``, ``unit``, ``district``, ``person`` or
        ``sector``. The other language's name stands in for a missing one;
        None (an unknown entry, or one without names) lets the caller show the
        id (:class:`workflow.reports.names.NameDirectory`).
        """
        if kind == "sector":
            labels = SECTOR_LABELS.get(entry)
            return None if labels is None else labels[0 if locale == "zh" else 1]
        if kind == "person":
            contact = self.contact(entry)
            return contact.name if contact is not None and contact.name else None
        lookups: dict[str, Callable[[str], District | Unit | Enterprise | None]] = {
            "enterprise": self.enterprise,
            "unit": self.unit,
            "district": self.district,
        }
        lookup = lookups.get(kind)
        record = None if lookup is None else lookup(entry)
        if record is None:
            return None
        first, second = (
            (record.name_zh, record.name_en) if locale == "zh" else (record.name_en, record.name_zh)
        )
        return first or second or None

    def is_empty(self) -> bool:
        """Tell whether the register holds no entry at all (one cheap query per table)."""
        t = self._t

        def load(conn: Connection) -> bool:
            for table in (t.dir_people, t.dir_enterprises, t.dir_units, t.dir_districts):
                if conn.execute(select(exists().select_from(table))).scalar():
                    return False
            return True

        return self._cached(("is_empty",), load)

    def load(self) -> Register:
        """Read the whole register (for export; not for per-event questions)."""
        return self._query(lambda conn: load_register(conn, self._t))

    def refresh(self) -> None:
        """Forget every cached answer (call after changing the register in this process)."""
        with self._lock:
            self._cache.clear()

    # -- internals ----------------------------------------------------------------------

    def _cached(self, key: tuple[Any, ...], load: Callable[[Connection], T]) -> T:
        now = self._monotonic()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and now - hit[0] < self._max_age:
                self._cache.move_to_end(key)
                cached: T = hit[1]
                return cached
        value = self._query(load)
        with self._lock:
            self._cache[key] = (now, value)
            self._cache.move_to_end(key)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return value

    def _query(self, load: Callable[[Connection], T]) -> T:
        try:
            with self._bind.connect() as conn:
                return load(conn)
        except SQLAlchemyError as error:
            detail = str(getattr(error, "orig", None) or error).strip().splitlines()
            raise StoreError(
                "the directory register cannot be read (is the database at revision 0005? "
                f"run `workflow db upgrade`): {detail[0] if detail else type(error).__name__}"
            ) from error
