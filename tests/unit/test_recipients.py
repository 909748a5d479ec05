"""Who a notification reaches: role bindings resolved to people, and directory contacts.

Resolution must agree with authorization: everyone it names holds the role
for the item (``holds_role``), for group roles, field roles (one entry or a
list, a person field) and relation roles.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from workflow.core.authz import holds_role
from workflow.core.values import Actor
from workflow.definition.loader import load_definition
from workflow.directory.static import StaticDirectory
from workflow.errors import WorkflowError
from workflow.notify.recipients import Contact, ContactDirectory, people_for, recipients_for

DEFINITION = """\
id: reach
version: 1
title: {zh: 送達, en: Reach}
initial: open
started_by: office
fields:
  lead_unit: {type: ref, ref: unit}
  co_units: {type: list, items: ref, ref: unit}
  enterprise: {type: ref, ref: enterprise}
  owner: {type: ref, ref: person}
roles:
  office: {group: coordinating_office}
  unit: {field: lead_unit}
  co_unit: {field: co_units}
  commissioner: {field: enterprise, relation: commissioners}
  owner: {field: owner}
states:
  open: {label: {zh: 開, en: Open}}
  done: {label: {zh: 完, en: Done}, final: true}
events:
  - name: finish
    label: {zh: 完成, en: Finish}
    from: open
    to: done
    roles: [office, unit, co_unit, commissioner, owner]
"""

DIRECTORY = {
    "groups": {"coordinating_office": ["li", "wang", "li"]},
    "units": {"u_culture": ["chen", "chen.deputy"], "u_finance": ["qian"], "u_hr": ["chen"]},
    "enterprises": {"e_pixel": {"members": ["zhao"], "commissioners": ["sun", "guo"]}},
    "people": {
        "chen": {
            "name": "陳科長",
            "locale": "zh",
            "addresses": {"email": "chen@culture.example.gov.cn", "office_robot": 13800000201},
            "digest": True,
            "members": ["chen.secretary"],
        },
        "sun": ["sun.deputy"],
        "guo": {"name": "Guo", "locale": "en", "addresses": {"email": "guo@example.gov.cn"}},
    },
}


@pytest.fixture(scope="module")
def definition(tmp_path_factory: pytest.TempPathFactory) -> object:
    path = Path(tmp_path_factory.mktemp("reach")) / "reach.yaml"
    path.write_text(DEFINITION, encoding="utf-8")
    return load_definition(str(path))


DATA = {
    "lead_unit": "u_culture",
    "co_units": ["u_finance", "u_hr"],
    "enterprise": "e_pixel",
    "owner": "chen",
}


@pytest.mark.parametrize(
    ("role", "people"),
    [
        ("office", ["li", "wang"]),
        ("unit", ["chen", "chen.deputy"]),
        ("co_unit", ["qian", "chen"]),
        ("commissioner", ["sun", "guo"]),
        ("owner", ["chen", "chen.secretary"]),
        ("nobody", []),
    ],
)
def test_roles_resolve_to_the_people_authorization_accepts(
    definition: object, role: str, people: list[str]
) -> None:
    directory = StaticDirectory.from_mapping(DIRECTORY)
    found = people_for(definition, role, DATA, directory)  # type: ignore[arg-type]
    assert found == people
    for person in found:
        assert holds_role(definition, role, Actor(person, frozenset({role})), DATA, directory)  # type: ignore[arg-type]


def test_empty_fields_reach_no_one(definition: object) -> None:
    directory = StaticDirectory.from_mapping(DIRECTORY)
    for role in ("unit", "co_unit", "commissioner", "owner"):
        assert people_for(definition, role, {}, directory) == []  # type: ignore[arg-type]
    assert people_for(definition, "unit", {"lead_unit": "u_none"}, directory) == []  # type: ignore[arg-type]


def test_each_person_is_reached_once_under_the_first_role_naming_them(definition: object) -> None:
    directory = StaticDirectory.from_mapping(DIRECTORY)
    found = recipients_for(definition, ["unit", "co_unit", "owner"], DATA, directory)  # type: ignore[arg-type]
    assert [(r.person, r.role) for r in found] == [
        ("chen", "unit"),
        ("chen.deputy", "unit"),
        ("qian", "co_unit"),
        ("chen.secretary", "owner"),
    ]
    assert found[0].contact is not None
    assert found[0].contact.name == "陳科長"
    assert found[1].contact is None


def test_the_static_directory_reads_contacts_and_keeps_its_older_forms() -> None:
    directory = StaticDirectory.from_mapping(DIRECTORY)
    assert isinstance(directory, ContactDirectory)
    assert directory.contact("chen") == Contact(
        "chen",
        "陳科長",
        "zh",
        {"email": "chen@culture.example.gov.cn", "office_robot": "13800000201"},
        True,
    )
    guo = directory.contact("guo")
    assert guo is not None
    assert guo.digest is None
    assert directory.contact("sun") is None
    # The list form still names who acts for a person; the contact keys are not relations.
    assert directory.represents("sun.deputy", "person", "sun")
    assert directory.represents("chen.secretary", "person", "chen")
    assert directory.related("person", "chen", "name") == ()
    assert directory.group_members("coordinating_office") == ("li", "wang")
    assert directory.is_member("wang", "coordinating_office")
    assert directory.acting_for("unit", "u_culture") == ("chen", "chen.deputy")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"name": 3}, "people.p.name must be text"),
        ({"locale": ["zh"]}, "people.p.locale must be a language code"),
        ({"addresses": ["a@b"]}, "people.p.addresses must map channel names to addresses"),
        ({"addresses": {"email": ""}}, "people.p.addresses.email must be an address"),
        ({"addresses": {"email": True}}, "people.p.addresses.email must be an address"),
        ({"digest": "daily"}, "people.p.digest must be true or false"),
    ],
)
def test_bad_contacts_are_refused_with_where_they_are(
    entry: dict[str, object], message: str
) -> None:
    with pytest.raises(WorkflowError, match=message):
        StaticDirectory.from_mapping({"people": {"p": entry}})


def test_the_sample_directory_has_a_contact_for_everyone_it_names() -> None:
    sample = Path(__file__).resolve().parents[2] / "definitions" / "_directory" / "sample.yaml"
    directory = StaticDirectory.from_file(str(sample))
    people = {
        person
        for group in ("coordinating_office", "task_force_leaders")
        for person in directory.group_members(group)
    }
    people |= {
        person
        for unit in ("u_culture", "u_finance", "u_hr", "u_jianghan", "u_bank", "u_stats")
        for person in directory.acting_for("unit", unit)
    }
    missing = sorted(p for p in people if directory.contact(p) is None)
    assert not missing
    for person in people:
        contact = directory.contact(person)
        assert contact is not None
        assert contact.addresses["email"].endswith(".example.gov.cn")
