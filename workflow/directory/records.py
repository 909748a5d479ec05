"""The register's entries as plain values: districts, units, enterprises, people.

These cross module boundaries (file readers, the importer, the database
directory, the exporter, the generator), so they are frozen. Each entry
keeps its links by relation name: ``members`` are the people who act for it
(its contacts; for a person, their delegates), ``commissioners`` the service
commissioners assigned to an enterprise (掛點), and any other name a relation
a definition's role binding may follow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "KINDS",
    "SECTORS",
    "SECTOR_LABELS",
    "District",
    "Enterprise",
    "Person",
    "Register",
    "Unit",
    "sector_code",
]

SECTORS = ("animation_games", "online_audiovisual", "digital_services", "smart_manufacturing")
"""The four sectors of the key digital-creative enterprises (see DOMAIN.md)."""

SECTOR_LABELS: Mapping[str, tuple[str, str]] = {
    "animation_games": ("數字動漫游戲", "Digital animation and games"),
    "online_audiovisual": ("數字網絡視聽", "Online audio-visual"),
    "digital_services": ("數字化應用服務", "Digital application services"),
    "smart_manufacturing": ("數字創意智能制造", "Digital-creative smart manufacturing"),
}
"""Each sector's name in Chinese and English, as the shipped definitions label them."""

# What an import accepts for a sector: the code, either label, or a common
# variant of the Chinese (simplified characters, shorter forms).
_VARIANTS = {
    "数字动漫游戏": "animation_games",
    "數字動漫遊戲": "animation_games",
    "数字网络视听": "online_audiovisual",
    "網絡視聽": "online_audiovisual",
    "网络视听": "online_audiovisual",
    "数字化应用服务": "digital_services",
    "數字應用服務": "digital_services",
    "数字应用服务": "digital_services",
    "数字创意智能制造": "smart_manufacturing",
    "數字創意智能製造": "smart_manufacturing",
}
_SECTOR_ALIASES = {
    **{code: code for code in SECTORS},
    **{zh: code for code, (zh, _) in SECTOR_LABELS.items()},
    **{en.casefold(): code for code, (_, en) in SECTOR_LABELS.items()},
    **_VARIANTS,
}

KINDS = ("districts", "units", "enterprises", "people")
"""The kinds of entry, in the order an import reads them (references point backwards)."""

Links = Mapping[str, tuple[str, ...]]


def sector_code(text: str) -> str | None:
    """Return the sector code ``text`` names (code, Chinese or English label), or None."""
    given = text.strip()
    return _SECTOR_ALIASES.get(given) or _SECTOR_ALIASES.get(given.casefold())


@dataclass(frozen=True)
class District:
    """A district, development zone or scenic area (區、開發區、風景區)."""

    id: str
    name_zh: str = ""
    name_en: str = ""
    links: Links = field(default_factory=dict)


@dataclass(frozen=True)
class Unit:
    """A city department or district office that handles problems (承辦單位)."""

    id: str
    name_zh: str = ""
    name_en: str = ""
    links: Links = field(default_factory=dict)


@dataclass(frozen=True)
class Enterprise:
    """A key digital-creative enterprise of the register."""

    id: str
    name_zh: str = ""
    name_en: str = ""
    credit_code: str | None = None
    """The unified social credit code (GB 32100-2015), checked on import."""
    sector: str | None = None
    """One of :data:`SECTORS`."""
    district: str | None = None
    links: Links = field(default_factory=dict)

    @property
    def commissioners(self) -> tuple[str, ...]:
        """The service commissioners assigned to the enterprise (掛點)."""
        return self.links.get("commissioners", ())

    @property
    def contacts(self) -> tuple[str, ...]:
        """The people who act for the enterprise."""
        return self.links.get("members", ())


@dataclass(frozen=True)
class Person:
    """Someone the engine authorizes or notifies, and how to reach them."""

    id: str
    name: str = ""
    locale: str | None = None
    addresses: Mapping[str, str] = field(default_factory=dict)
    """Channel name to address."""
    digest: bool | None = None
    """True: a digest a day; False: never; None: as the channel is configured."""
    groups: tuple[str, ...] = ()
    """The fixed groups the person belongs to (``coordinating_office``)."""
    links: Links = field(default_factory=dict)
    """``members``: the people who act for this person (delegates); other relations."""


@dataclass(frozen=True)
class Register:
    """A whole register, or the part of one that some files hold."""

    districts: tuple[District, ...] = ()
    units: tuple[Unit, ...] = ()
    enterprises: tuple[Enterprise, ...] = ()
    people: tuple[Person, ...] = ()

    def __len__(self) -> int:
        """Return how many entries of all kinds the register holds."""
        return len(self.districts) + len(self.units) + len(self.enterprises) + len(self.people)

    def group_members(self) -> dict[str, list[str]]:
        """Return each group's members, in the order of the people."""
        groups: dict[str, list[str]] = {}
        for person in self.people:
            for group in person.groups:
                groups.setdefault(group, []).append(person.id)
        return groups
