"""The report functions are pure: rows made by hand in, a report out, with display names."""

from __future__ import annotations

import datetime as dt

from workflow.app import load_definitions
from workflow.reports.circular import circular
from workflow.reports.names import NameDirectory, Names, NoNames
from workflow.reports.periods import parse_period
from workflow.reports.query import ItemRow, ReportRows, StepRow
from workflow.reports.rules import rules_for
from workflow.schedule.calendar import BusinessCalendar

UTC = dt.UTC


class Register:
    """Names for two districts in both languages; nothing else."""

    def display_name(self, kind: str, entry: str, locale: str = "zh") -> str | None:
        names = {("district", "d_jianghan"): ("江漢區", "Jianghan District")}
        found = names.get((kind, entry))
        return None if found is None else found[0 if locale == "zh" else 1]


def _item(item_id: int, sector: str, district: str | None) -> ItemRow:
    data = {"sector": sector, "lead_unit": "u_culture"}
    if district is not None:
        data["district"] = district
    return ItemRow(
        id=item_id,
        workflow_id="enterprise_issue",
        state="handling",
        data=data,
        is_open=True,
        created_at=dt.datetime(2026, 11, 2, 2, 0, tzinfo=UTC),
        closed_at=None,
    )


def _signed(item_id: int) -> StepRow:
    return StepRow(
        item_id=item_id,
        seq=2,
        event="sign_for",
        from_state="dispatched",
        to_state="handling",
        actor_id="chen",
        input=None,
        reason=None,
        at=dt.datetime(2026, 11, 4, 2, 0, tzinfo=UTC),
    )


ROWS = ReportRows(
    until=dt.datetime(2026, 11, 30, 16, 0, tzinfo=UTC),
    items=(
        _item(1, "animation_games", "d_jianghan"),
        _item(2, "online_audiovisual", "d_hanyang"),
        _item(3, "online_audiovisual", None),
    ),
    history=(_signed(1), _signed(2), _signed(3)),
    timers=(),
    escalations=(),
)


def _groups(by: str, directory: NameDirectory, lang: str) -> list[tuple[object, object, object]]:
    definition = load_definitions(None).get("enterprise_issue")
    rules = rules_for("enterprise_issue")
    report = circular(
        ROWS,
        parse_period("2026-11", "Asia/Shanghai"),
        by,
        BusinessCalendar(),
        Names(directory, definition, rules.fields),
        rules,
        definition,
        "zh" if lang == "zh" else "en",
        ROWS.until,
    )
    section = report.sections[0]
    at = section.column("sign_for_median")
    return [(row[1], row[2], row[at]) for row in section.rows]


def test_groups_are_named_by_the_directory_and_fall_back_to_the_id() -> None:
    # Ranked alike (nothing closed): by id; an item without a district is its own group.
    assert _groups("district", Register(), "zh") == [
        ("—", 1, 2.0),
        ("d_hanyang", 1, 2.0),
        ("江漢區", 1, 2.0),
        ("合計", 3, 2.0),
    ]
    assert _groups("district", Register(), "en")[2] == ("Jianghan District", 1, 2.0)
    assert _groups("district", NoNames(), "en")[2] == ("d_jianghan", 1, 2.0)


def test_sectors_are_named_by_the_definition_s_labels() -> None:
    assert _groups("sector", NoNames(), "zh") == [
        ("數字動漫游戲", 1, 2.0),
        ("數字網絡視聽", 2, 2.0),
        ("合計", 3, 2.0),
    ]
    assert _groups("sector", NoNames(), "en")[0][0] == "Digital animation and games"


def test_the_register_fits_the_name_directory_interface() -> None:
    import inspect

    from workflow.directory.register import RegisterDirectory

    assert isinstance(Register(), NameDirectory)
    # Positional (kind, id, locale): the register's own parameter names do not matter.
    parameters = list(inspect.signature(RegisterDirectory.display_name).parameters.values())
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    assert [p.kind in positional for p in parameters[1:4]] == [True, True, True]
