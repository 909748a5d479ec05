"""Display names in reports: a small directory interface, with the id as the fallback.

Reports group and list items by ids kept in item data (``d_jianghan``,
``u_culture``, ``e_pixel``). People read names, so a report asks a
:class:`NameDirectory` for one (the enterprise register implements it) and
shows the id whenever the directory has none. Enumerated fields (the
sector) are named by the definition's own option labels first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from workflow.definition.compiled import Definition

__all__ = ["Lang", "NameDirectory", "Names", "NoNames", "as_text"]

Lang = Literal["zh", "en"]


@runtime_checkable
class NameDirectory(Protocol):
    """Where reports find the display names of districts, units, enterprises and people."""

    def display_name(self, kind: str, id: str, locale: str, /) -> str | None:
        """Return the name of ``id`` of ``kind`` in ``locale``, or None if unknown.

        Kinds are ``district``, ``unit``, ``enterprise``, ``person`` and
        ``sector``; locales ``zh`` and ``en``.
        """
        ...


class NoNames:
    """A directory that knows no names: every report shows ids."""

    def display_name(self, kind: str, id: str, locale: str, /) -> str | None:
        """Return None: the report falls back to the id."""
        return None


@dataclass(frozen=True)
class Names:
    """Names for one report: the definition's option labels, then the directory, then the id."""

    directory: NameDirectory
    definition: Definition | None
    fields: Mapping[str, str]
    """Grouping kind -> item field (to find an enum field's option labels)."""

    def name(self, kind: str, value: object, lang: Lang) -> str:
        """Return the display name of ``value`` of ``kind`` ('—' when there is none).

        ``value`` is what the item's data holds (any JSON value; ids are text).
        """
        value = as_text(value)
        if value is None or value == "":
            return "—"
        label = self._option_label(kind, value, lang)
        if label is not None:
            return label
        found = self.directory.display_name(kind, value, lang)
        return found if found else value

    def _option_label(self, kind: str, value: str, lang: Lang) -> str | None:
        if self.definition is None:
            return None
        spec = self.definition.spec.fields.get(self.fields.get(kind, kind))
        if spec is None or not spec.options or value not in spec.options:
            return None
        text = spec.options[value]
        return text.zh if lang == "zh" else text.en


def as_text(value: object) -> str | None:
    """Return an item-data value as text (None stays None): ids and titles as reports show them."""
    return None if value is None else str(value)
