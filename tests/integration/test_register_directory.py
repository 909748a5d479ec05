"""The register in the database, on SQLite, PostgreSQL and MariaDB.

It answers exactly as the YAML directory it was loaded from; imports are all
or nothing, merge or replace; exports import back unchanged; the engine runs
on it; and its cache expires.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import inspect

from tests.backends import Backend
from tests.conftest import DEFINITIONS
from workflow.app import Engine
from workflow.core.values import Actor
from workflow.definition.yamlsource import read_yaml
from workflow.directory.export import export_directory
from workflow.directory.generate import generate_register
from workflow.directory.importer import import_directory, import_register
from workflow.directory.records import Register
from workflow.directory.register import RegisterDirectory
from workflow.directory.static import StaticDirectory
from workflow.directory.store import count_entries, tables_for
from workflow.errors import DirectoryImportError
from workflow.notify.recipients import people_for
from workflow.store.migrate import alembic_config, current_revision, upgrade

SAMPLE = DEFINITIONS / "_directory" / "sample.yaml"


def _counts(backend: Backend) -> dict[str, int]:
    with backend.engine.connect() as conn:
        return count_entries(conn, tables_for(backend.prefix))


def _register(backend: Backend, **kwargs: Any) -> RegisterDirectory:
    return RegisterDirectory(backend.engine, prefix=backend.prefix, **kwargs)


@pytest.fixture
def migrated(backend: Backend) -> Backend:
    upgrade(backend.engine, prefix=backend.prefix)
    return backend


def test_the_register_answers_as_the_yaml_it_was_loaded_from(migrated: Backend) -> None:
    import_directory(migrated.engine, [SAMPLE], prefix=migrated.prefix)
    static = StaticDirectory.from_file(str(SAMPLE))
    register = _register(migrated)
    data = read_yaml(str(SAMPLE)).data
    people = list(data["people"])
    assert not register.is_empty()
    for group in data["groups"]:
        assert register.group_members(group) == static.group_members(group)
        for person in people:
            assert register.is_member(person, group) == static.is_member(person, group)
    for section, kind in (
        ("units", "unit"),
        ("enterprises", "enterprise"),
        ("districts", "district"),
    ):
        for entry in data[section]:
            assert register.acting_for(kind, entry) == static.acting_for(kind, entry)
            for person in people:
                assert register.represents(person, kind, entry) == static.represents(
                    person, kind, entry
                )
            assert register.related(kind, entry, "commissioners") == static.related(
                kind, entry, "commissioners"
            )
    for person in people:
        assert register.contact(person) == static.contact(person)
        assert register.represents(person, "person", person)
        assert register.units_of(person) == static.units_of(person)
    assert register.contact("nobody") is None
    assert register.group_members("no_such_group") == ()


def test_the_engine_authorizes_and_addresses_through_the_register(migrated: Backend) -> None:
    import_register(migrated.engine, generate_register(12, seed=3), prefix=migrated.prefix)
    register = _register(migrated)
    engine = Engine.from_engine(migrated.engine, directory=register, prefix=migrated.prefix)
    enterprise = register.load().enterprises[0]
    [contact] = enterprise.contacts
    item = engine.start(
        "enterprise_issue",
        Actor.parse(f"enterprise:{contact}"),
        {
            "enterprise": enterprise.id,
            "district": enterprise.district,
            "sector": enterprise.sector,
            "category": "venues",
            "title": "A hall for an esports final",
            "description": "2,000 seats in December.",
        },
    )
    definition = engine.catalog.get("enterprise_issue")
    assert people_for(definition, "commissioner", item.data, register) == list(
        enterprise.commissioners
    )
    assert people_for(definition, "office", item.data, register) == [
        "office.li",
        "office.wang",
        "office.zhang",
    ]


def test_lookups_for_reports(migrated: Backend) -> None:
    generated = generate_register(20, seed=11)
    import_register(migrated.engine, generated, prefix=migrated.prefix)
    register = _register(migrated)
    first = generated.enterprises[0]
    assert register.enterprise(first.id) == first
    assert register.display_name("enterprise", first.id, "en") == first.name_en
    assert register.display_name("enterprise", first.id, "zh") == first.name_zh
    assert register.display_name("district", "d_donghu", "zh") == "東湖高新區"
    assert register.display_name("unit", "u_culture", "en") == "Culture and Tourism Bureau"
    assert register.display_name("sector", "online_audiovisual", "en") == "Online audio-visual"
    assert register.display_name("person", "office.li", "zh") == "李主任"
    assert register.display_name("enterprise", "e_unknown", "zh") is None
    assert register.enterprise("e_unknown") is None
    assert register.unit("u_culture") is not None
    assert register.district("d_nowhere") is None


def test_a_bad_file_writes_nothing(migrated: Backend, tmp_path: Path) -> None:
    import_directory(migrated.engine, [SAMPLE], prefix=migrated.prefix)
    before = _register(migrated).load()
    good_people = tmp_path / "people.csv"
    good_people.write_text("id,name\nnew.person,新人\n", encoding="utf-8")
    bad = tmp_path / "enterprises.csv"
    bad.write_text(
        "id,name_zh,credit_code,sector,district,contacts\n"
        "e_new,新企業,91350100M000100Y43,animation_games,d_jianghan,new.person\n"
        "e_bad,壞企業,91350100M000100Y40,animation_games,d_nowhere,\n",
        encoding="utf-8",
    )
    for replace in (False, True):
        with pytest.raises(DirectoryImportError) as caught:
            import_directory(
                migrated.engine, [good_people, bad], replace=replace, prefix=migrated.prefix
            )
        # Replacing, d_jianghan is not in the files: row 2 refers to nothing either.
        expected = {(3, "credit_code"), (3, "district")} | ({(2, "district")} if replace else set())
        assert {(p.row, p.column) for p in caught.value.problems} == expected
        assert _register(migrated).load() == before


def test_merge_replaces_the_entries_named_and_keeps_the_others(
    migrated: Backend, tmp_path: Path
) -> None:
    import_directory(migrated.engine, [SAMPLE], prefix=migrated.prefix)
    people = tmp_path / "people.csv"
    people.write_text(
        "id,name,locale,groups,address.email\n"
        "office.li,李主任,en,task_force_leaders,li@new.example.gov.cn\n"
        "unit.new,新科長,zh,,\n",
        encoding="utf-8",
    )
    units = tmp_path / "units.csv"
    units.write_text("id,name_zh,name_en,contacts\nu_culture,市文旅局,Culture,unit.new\n")
    report = import_directory(migrated.engine, [people, units], prefix=migrated.prefix)
    assert not report.replaced
    assert report.counts == {"districts": 0, "units": 1, "enterprises": 0, "people": 2}
    register = _register(migrated)
    # office.li's row replaced their groups and contact; the others kept theirs.
    assert register.group_members("coordinating_office") == ("office.wang", "office.zhang")
    assert set(register.group_members("task_force_leaders")) == {"leader.wu", "office.li"}
    li = register.contact("office.li")
    assert li is not None
    assert li.locale == "en"
    assert li.addresses == {"email": "li@new.example.gov.cn"}
    assert register.acting_for("unit", "u_culture") == ("unit.new",)
    assert register.acting_for("unit", "u_finance") == ("unit.qian",)
    assert register.display_name("unit", "u_culture", "en") == "Culture"
    assert register.related("enterprise", "e_pixel", "commissioners") == ("comm.sun",)

    # Replace: the register is exactly the files (the people file alone is valid).
    people.write_text("id,name\nonly.one,獨一\n", encoding="utf-8")
    report = import_directory(migrated.engine, [people], replace=True, prefix=migrated.prefix)
    assert report.replaced
    assert _counts(migrated) == {"districts": 0, "units": 0, "enterprises": 0, "people": 1}


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_an_export_imports_back_unchanged(migrated: Backend, tmp_path: Path, fmt: str) -> None:
    import_register(migrated.engine, generate_register(15, seed=5), prefix=migrated.prefix)
    # A person with a delegate and another relation, which only the YAML form had.
    import_directory(migrated.engine, [SAMPLE], prefix=migrated.prefix)
    original = _register(migrated).load()
    target = tmp_path / ("register.xlsx" if fmt == "xlsx" else "register")
    paths = export_directory(migrated.engine, target, format=fmt, prefix=migrated.prefix)
    again = f"{migrated.prefix}b_"
    upgrade(migrated.engine, prefix=again)
    import_directory(migrated.engine, paths, replace=True, prefix=again)
    assert RegisterDirectory(migrated.engine, prefix=again).load() == original
    assert len(original) > 90


def test_the_cache_expires_and_refreshes(migrated: Backend, tmp_path: Path) -> None:
    import_directory(migrated.engine, [SAMPLE], prefix=migrated.prefix)
    now = [100.0]
    register = _register(migrated, max_age=30.0, monotonic=lambda: now[0])
    assert register.acting_for("unit", "u_culture") == ("unit.chen",)
    units = tmp_path / "units.csv"
    units.write_text("id,contacts\nu_culture,unit.qian\n", encoding="utf-8")
    import_directory(migrated.engine, [units], prefix=migrated.prefix)
    now[0] += 29.0
    assert register.acting_for("unit", "u_culture") == ("unit.chen",)  # still cached
    now[0] += 1.0
    assert register.acting_for("unit", "u_culture") == ("unit.qian",)  # expired
    units.write_text("id,contacts\nu_culture,unit.zhou\n", encoding="utf-8")
    import_directory(migrated.engine, [units], prefix=migrated.prefix)
    register.refresh()
    assert register.acting_for("unit", "u_culture") == ("unit.zhou",)


def test_the_generated_register_imports_cleanly(migrated: Backend) -> None:
    generated = generate_register(60, seed=2026)
    report = import_register(migrated.engine, generated, replace=True, prefix=migrated.prefix)
    assert report.counts["enterprises"] == 60
    loaded = _register(migrated).load()
    assert {e.id for e in loaded.enterprises} == {e.id for e in generated.enterprises}
    assert loaded.group_members() == generated.group_members()


def test_an_in_memory_register_is_checked_like_files(migrated: Backend) -> None:
    generated = generate_register(4, seed=1)
    broken = Register(
        districts=generated.districts[1:],  # the first district is gone
        units=generated.units,
        enterprises=generated.enterprises,
        people=generated.people,
    )
    gone = generated.districts[0].id
    with pytest.raises(DirectoryImportError) as caught:
        import_register(migrated.engine, broken, replace=True, prefix=migrated.prefix)
    assert any(
        p.file == "<enterprises>" and p.column == "district" and gone in p.message
        for p in caught.value.problems
    )
    assert _register(migrated).is_empty()


def test_downgrade_to_0004_drops_the_register(backend: Backend) -> None:
    engine, prefix = backend.engine, backend.prefix
    upgrade(engine, prefix=prefix)
    import_directory(engine, [SAMPLE], prefix=prefix)
    with engine.connect() as conn, conn.begin():
        command.downgrade(alembic_config(conn, prefix=prefix), "0004")
    assert current_revision(engine, prefix=prefix) == "0004"
    assert not any(t.startswith(f"{prefix}dir_") for t in inspect(engine).get_table_names())
    upgrade(engine, prefix=prefix)
    assert _register(backend).is_empty()


def test_an_import_on_a_host_connection_joins_its_transaction(migrated: Backend) -> None:
    engine, prefix = migrated.engine, migrated.prefix
    with engine.connect() as conn:
        conn.begin()
        import_directory(conn, [SAMPLE], prefix=prefix)
        assert count_entries(conn, tables_for(prefix))["people"] > 0
        conn.rollback()
    assert _register(migrated).is_empty()
    with engine.connect() as conn, conn.begin():
        import_directory(conn, [SAMPLE], prefix=prefix)
    assert not _register(migrated).is_empty()
