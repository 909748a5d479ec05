"""Turning the rows of a directory file into entries, and saying what is wrong with each cell.

The columns of each kind (headers are matched case-insensitively; a column
may be left out, an unknown one is an error):

=============  ===============================================================
kind           columns
=============  ===============================================================
districts      id, name_zh, name_en, contacts, related.<relation>
units          id, name_zh, name_en, contacts, related.<relation>
enterprises    id, name_zh, name_en, credit_code, sector, district, contacts,
               commissioners, related.<relation>
people         id, name, locale, groups, delegates, digest, address.<channel>,
               related.<relation>
=============  ===============================================================

List cells (contacts, commissioners, groups, delegates, related.*) hold ids
separated by ``;`` or ``,`` (or their full-width forms). Only the cells are
judged here; references between entries are checked by :mod:`.validate`,
which sees every file of an import at once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from workflow.directory.creditcode import credit_code_problem
from workflow.directory.files import Sheet
from workflow.directory.records import SECTORS, District, Enterprise, Person, Unit, sector_code
from workflow.errors import ImportProblem

__all__ = ["COLUMNS", "Entry", "Parsed", "parse_sheet"]

Entry = District | Unit | Enterprise | Person

COLUMNS: Mapping[str, tuple[str, ...]] = {
    "districts": ("id", "name_zh", "name_en", "contacts"),
    "units": ("id", "name_zh", "name_en", "contacts"),
    "enterprises": (
        "id",
        "name_zh",
        "name_en",
        "credit_code",
        "sector",
        "district",
        "contacts",
        "commissioners",
    ),
    "people": ("id", "name", "locale", "groups", "delegates", "digest"),
}
"""The fixed columns of each kind, in export order (then address.* and related.*)."""

ADDRESS = "address."
RELATED = "related."

# Ids are what definitions and items store: no spaces, no list separators.
# The full-width semicolon and comma (U+FF1B, U+FF0C) separate lists too.
_ID = re.compile("[^\\s;,\uff1b\uff0c]+")
_LIST_SPLIT = re.compile("[;,\uff1b\uff0c\\s]+")
_RELATION = re.compile(r"[a-z][a-z0-9_]*")
_LOCALE = re.compile(r"[a-z]{2,3}([-_][A-Za-z0-9]{2,8})*")
_ID_LENGTH = {"districts": 64, "units": 64, "enterprises": 64, "people": 128}
_NAME_LENGTH = 200
_TRUE = {"true", "yes", "y", "1", "是", "on"}
_FALSE = {"false", "no", "n", "0", "否", "off"}
# Columns that hold the links of the entry under these relation names.
_LINK_COLUMNS = {"contacts": "members", "delegates": "members", "commissioners": "commissioners"}


@dataclass(frozen=True)
class Parsed:
    """An entry read from a file, with where it came from (for later problems)."""

    kind: str
    entry: Entry
    file: str
    sheet: str
    row: int
    references: tuple[tuple[str, str, tuple[str, ...]], ...]
    """(column, kind referred to, ids) for :mod:`.validate` to resolve."""

    def problem(self, column: str, message: str) -> ImportProblem:
        """Return a problem at this entry's row, in ``column``."""
        return ImportProblem(self.file, self.row, column, message, self.sheet)


class _Row:
    """The cells of one row by column name, collecting the problems found in them."""

    def __init__(self, sheet: Sheet, row: int, cells: Mapping[str, str]) -> None:
        self.sheet = sheet
        self.row = row
        self.cells = cells
        self.problems: list[ImportProblem] = []

    def fail(self, column: str, message: str) -> None:
        self.problems.append(
            ImportProblem(self.sheet.file, self.row, column, message, self.sheet.sheet)
        )

    def text(self, column: str, limit: int = _NAME_LENGTH) -> str:
        value = self.cells.get(column, "")
        if len(value) > limit:
            self.fail(column, f"longer than {limit} characters ({len(value)})")
        return value

    def ids(self, column: str) -> tuple[str, ...]:
        value = self.cells.get(column, "")
        found = tuple(dict.fromkeys(i for i in _LIST_SPLIT.split(value) if i))
        for each in found:
            if len(each) > _ID_LENGTH["people"]:
                self.fail(column, f"id {each[:20]!r}… is longer than {_ID_LENGTH['people']}")
        return found


def parse_sheet(sheet: Sheet) -> tuple[list[Parsed], list[ImportProblem]]:
    """Read every row of ``sheet``; return the entries and every problem found."""
    problems = _header_problems(sheet)
    if problems:
        return [], problems
    parsed: list[Parsed] = []
    for number, cells in sheet.rows:
        extra = [c for c in cells[len(sheet.header) :] if c]
        row = _Row(sheet, number, dict(zip(sheet.header, cells, strict=False)))
        if extra:
            row.fail("", f"{len(extra)} cell(s) right of the last column, e.g. {extra[0]!r}")
        # Kept even with problems: the checks across files report on it too.
        parsed.append(_READERS[sheet.kind](row))
        problems.extend(row.problems)
    return parsed, problems


def _header_problems(sheet: Sheet) -> list[ImportProblem]:
    def fail(column: str, message: str) -> ImportProblem:
        return ImportProblem(sheet.file, 1, column, message, sheet.sheet)

    if not sheet.header:
        return [fail("", "no header row: the first row names the columns, e.g. id, name_zh")]
    found: list[ImportProblem] = []
    fixed = COLUMNS[sheet.kind]
    seen: set[str] = set()
    for column in sheet.header:
        if column in seen:
            found.append(fail(column, "the column appears twice"))
        seen.add(column)
        if column in fixed:
            continue
        if column.startswith(RELATED):
            name = column.removeprefix(RELATED)
            if not _RELATION.fullmatch(name) or name in ("members", "commissioners"):
                found.append(
                    fail(
                        column,
                        "a relation name is lower-case letters, digits and _ "
                        "(members and commissioners have their own columns)",
                    )
                )
            continue
        if sheet.kind == "people" and column.startswith(ADDRESS):
            if not column.removeprefix(ADDRESS):
                found.append(fail(column, "name the channel, e.g. address.email"))
            continue
        if not column:
            found.append(fail("", "a column has no name"))
            continue
        extra = " address.<channel>," if sheet.kind == "people" else ""
        found.append(
            fail(
                column,
                f"unknown column for {sheet.kind} (expected {', '.join(fixed)},{extra} "
                "related.<relation>)",
            )
        )
    if "id" not in seen:
        found.append(fail("id", "the id column is missing"))
    return found


def _id(row: _Row, kind: str) -> str:
    value = row.cells.get("id", "")
    if not value:
        row.fail("id", "the id is empty")
    elif not _ID.fullmatch(value):
        row.fail("id", f"an id has no spaces, commas or semicolons: {value!r}")
    elif len(value) > _ID_LENGTH[kind]:
        row.fail("id", f"longer than {_ID_LENGTH[kind]} characters")
    return value


def _links(row: _Row, columns: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    links: dict[str, tuple[str, ...]] = {}
    for column in columns:
        if column in row.sheet.header:
            links[_LINK_COLUMNS[column]] = row.ids(column)
    for column in row.sheet.header:
        if column.startswith(RELATED):
            links[column.removeprefix(RELATED)] = row.ids(column)
    return {k: v for k, v in links.items() if v}


def _person_references(
    links: Mapping[str, tuple[str, ...]],
) -> list[tuple[str, str, tuple[str, ...]]]:
    out: list[tuple[str, str, tuple[str, ...]]] = []
    for relation, people in links.items():
        column = {"members": "contacts", "commissioners": "commissioners"}.get(
            relation, RELATED + relation
        )
        out.append((column, "people", people))
    return out


def _named(row: _Row, kind: str, make: Callable[..., Entry]) -> Parsed:
    links = _links(row, ("contacts",))
    entry = make(
        id=_id(row, kind),
        name_zh=row.text("name_zh"),
        name_en=row.text("name_en"),
        links=links,
    )
    return _parsed(row, kind, entry, _person_references(links))


def _district(row: _Row) -> Parsed:
    return _named(row, "districts", District)


def _unit(row: _Row) -> Parsed:
    return _named(row, "units", Unit)


def _enterprise(row: _Row) -> Parsed:
    code = row.cells.get("credit_code", "").replace(" ", "").upper() or None
    if code is not None:
        problem = credit_code_problem(code)
        if problem is not None:
            row.fail("credit_code", problem)
    sector: str | None = None
    given = row.cells.get("sector", "")
    if given:
        sector = sector_code(given)
        if sector is None:
            row.fail("sector", f"unknown sector {given!r} (expected one of {', '.join(SECTORS)})")
    district = row.cells.get("district", "") or None
    links = _links(row, ("contacts", "commissioners"))
    # In column order, so problems read left to right.
    references: list[tuple[str, str, tuple[str, ...]]] = (
        [("district", "districts", (district,))] if district is not None else []
    )
    references.extend(_person_references(links))
    entry = Enterprise(
        id=_id(row, "enterprises"),
        name_zh=row.text("name_zh"),
        name_en=row.text("name_en"),
        credit_code=code,
        sector=sector,
        district=district,
        links=links,
    )
    return _parsed(row, "enterprises", entry, references)


def _person(row: _Row) -> Parsed:
    locale = row.cells.get("locale", "") or None
    if locale is not None and not _LOCALE.fullmatch(locale):
        row.fail("locale", f"expected a language code such as zh or en, not {locale!r}")
    digest: bool | None = None
    given = row.cells.get("digest", "").casefold()
    if given in _TRUE:
        digest = True
    elif given in _FALSE:
        digest = False
    elif given:
        row.fail("digest", f"expected true or false (or empty: as the channel says), not {given!r}")
    addresses = {
        column.removeprefix(ADDRESS): row.text(column, 512)
        for column in row.sheet.header
        if column.startswith(ADDRESS) and row.cells.get(column)
    }
    groups = row.ids("groups")
    for group in groups:
        if len(group) > _ID_LENGTH["districts"]:
            row.fail("groups", f"group name {group[:20]!r}… is longer than 64 characters")
    links = _links(row, ("delegates",))
    references = [
        ("delegates" if relation == "members" else RELATED + relation, "people", people)
        for relation, people in links.items()
    ]
    entry = Person(
        id=_id(row, "people"),
        name=row.text("name"),
        locale=locale,
        addresses=addresses,
        digest=digest,
        groups=groups,
        links=links,
    )
    return _parsed(row, "people", entry, references)


def _parsed(
    row: _Row, kind: str, entry: Entry, references: list[tuple[str, str, tuple[str, ...]]]
) -> Parsed:
    return Parsed(kind, entry, row.sheet.file, row.sheet.sheet, row.row, tuple(references))


_READERS: Mapping[str, Callable[[_Row], Parsed]] = {
    "districts": _district,
    "units": _unit,
    "enterprises": _enterprise,
    "people": _person,
}
