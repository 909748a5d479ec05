"""Who takes part in a simulated year: enterprises, units, the office and the leaders."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from workflow.directory.records import Register
from workflow.errors import WorkflowError

__all__ = ["EnterpriseSeat", "World"]

OFFICE_GROUP = "coordinating_office"
LEADER_GROUP = "task_force_leaders"


@dataclass(frozen=True)
class EnterpriseSeat:
    """An enterprise as the simulation needs it: who speaks for it, who serves it."""

    id: str
    name: str
    district: str
    sector: str
    member: str
    """The person who raises its problems and signs off."""
    commissioner: str
    """Its service commissioner (掛點), who collects problems and does the revisits."""


@dataclass(frozen=True)
class World:
    """The cast of a simulated year (ids as the directory knows them)."""

    enterprises: Sequence[EnterpriseSeat]
    units: Mapping[str, str]
    """Each responsible unit and the person who acts for it."""
    office: Sequence[str]
    """The coordinating office's people."""
    leaders: Sequence[str]
    """The task-force leaders."""

    @classmethod
    def from_register(cls, register: Register) -> World:
        """Cast a world from a directory register (e.g. a generated one).

        Every enterprise needs a contact, a commissioner, a district and a
        sector; every unit a person; the office and the leaders their groups.
        """
        seats = []
        for e in register.enterprises:
            if not (e.contacts and e.commissioners and e.district and e.sector):
                raise WorkflowError(
                    f"enterprise {e.id!r} cannot take part: it needs a contact, a commissioner, "
                    "a district and a sector"
                )
            seats.append(
                EnterpriseSeat(
                    e.id,
                    e.name_zh or e.name_en or e.id,
                    e.district,
                    e.sector,
                    e.contacts[0],
                    e.commissioners[0],
                )
            )
        units = {u.id: u.links["members"][0] for u in register.units if u.links.get("members")}
        office = [p.id for p in register.people if OFFICE_GROUP in p.groups]
        leaders = [p.id for p in register.people if LEADER_GROUP in p.groups]
        if not seats or len(units) < 3 or not office or not leaders:
            raise WorkflowError(
                "a simulated year needs enterprises, at least three units with a person each, "
                f"someone in {OFFICE_GROUP!r} and someone in {LEADER_GROUP!r}"
            )
        return cls(tuple(seats), units, tuple(office), tuple(leaders))
