"""Includes, anchors and merge keys, and the content hash that pins versions."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.definition_texts import MINIMAL
from workflow import DefinitionError, load_definition


def _write(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return str(path)


def _split(tmp_path: Path) -> str:
    """MINIMAL with its roles and one event moved into an included partial."""
    main, rest = MINIMAL.split("roles:\n", 1)
    roles, after = rest.split("states:\n", 1)
    body, last_event = after.split("  - name: finish\n", 1)
    _write(
        tmp_path / "_parts" / "roles.yaml",
        "roles:\n" + roles + "events:\n  - name: finish\n" + last_event,
    )
    return _write(
        tmp_path / "wf.yaml", "include: [_parts/roles.yaml]\n" + main + "states:\n" + body
    )


def test_include_merges_sections(tmp_path: Path) -> None:
    definition = load_definition(_split(tmp_path))
    assert set(definition.spec.roles) == {"office", "unit"}
    assert [e.name for e in definition.spec.events] == ["start", "finish"]
    assert [Path(s.path).name for s in definition.sources] == ["wf.yaml", "roles.yaml"]


def test_hash_ignores_layout_comments_and_the_split_into_files(tmp_path: Path) -> None:
    whole = load_definition(_write(tmp_path / "a" / "wf.yaml", MINIMAL))
    split = load_definition(_split(tmp_path / "b"))
    commented = load_definition(
        _write(tmp_path / "c" / "wf.yaml", "# a comment\n" + MINIMAL.replace("\n", "  \n"))
    )
    assert whole.hash == split.hash == commented.hash
    again = load_definition(_write(tmp_path / "d" / "wf.yaml", MINIMAL))
    assert again.hash == whole.hash


def test_hash_changes_with_meaning(tmp_path: Path) -> None:
    one = load_definition(_write(tmp_path / "a.yaml", MINIMAL))
    two = load_definition(_write(tmp_path / "b.yaml", MINIMAL.replace("amount: 2", "amount: 3")))
    assert one.hash != two.hash
    assert len(one.hash) == 64


def test_anchors_merge_keys_and_x_keys(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "fields:\n  unit:\n    type: ref\n    ref: unit\n",
        "x-ref: &ref {type: ref, ref: unit}\nfields:\n  unit:\n    <<: *ref\n    required: false\n",
    )
    definition = load_definition(_write(tmp_path / "wf.yaml", text))
    assert definition.spec.fields["unit"].ref == "unit"


def _include_problem(tmp_path: Path, include: str, partial: str | None = None) -> list[str]:
    if partial is not None:
        _write(tmp_path / "_p.yaml", partial)
    path = _write(tmp_path / "wf.yaml", f"include: [{include}]\n" + MINIMAL)
    with pytest.raises(DefinitionError) as caught:
        load_definition(path)
    return [str(p) for p in caught.value.problems]


def test_include_of_a_missing_file(tmp_path: Path) -> None:
    found = _include_problem(tmp_path, "_q.yaml", "fields: {}\n")
    assert found == [
        f"{tmp_path / 'wf.yaml'}:1:11: no such file to include: '_q.yaml'; did you mean '_p.yaml'?"
    ]


def test_include_outside_the_folder_is_refused(tmp_path: Path) -> None:
    found = _include_problem(tmp_path / "sub", "../../etc/passwd")
    assert "outside this definition's folder" in found[0]


def test_included_duplicate_points_at_the_partial(tmp_path: Path) -> None:
    found = _include_problem(tmp_path, "_p.yaml", "roles:\n  office:\n    group: x\n")
    assert found == [
        f"{tmp_path / '_p.yaml'}:2:3: role 'office' is already defined "
        f"at {tmp_path / 'wf.yaml'}:20:3"
    ]


def test_partial_may_not_set_top_level_keys(tmp_path: Path) -> None:
    found = _include_problem(tmp_path, "_p.yaml", "id: other\n")
    assert found[0].startswith(f"{tmp_path / '_p.yaml'}:1:1: an included file may not set 'id'")


def test_problems_inside_a_partial_point_into_it(tmp_path: Path) -> None:
    found = _include_problem(tmp_path, "_p.yaml", "roles:\n  boss:\n    grup: leaders\n")
    assert f"{tmp_path / '_p.yaml'}:3:5: unknown key 'grup'; did you mean 'group'?" in found


def test_a_failed_include_reports_itself_not_its_consequences(tmp_path: Path) -> None:
    # Without the partial, the roles and the `finish` event are missing: the include
    # problem is the one to report, not "missing key 'roles'" or "unknown role".
    path = _split(tmp_path)
    text = Path(path).read_text(encoding="utf-8").replace("_parts/roles.yaml", "_parts/rolse.yaml")
    Path(path).write_text(text, encoding="utf-8")
    with pytest.raises(DefinitionError) as caught:
        load_definition(path)
    assert [str(p) for p in caught.value.problems] == [
        f"{tmp_path / 'wf.yaml'}:1:11: no such file to include: '_parts/rolse.yaml'; "
        "did you mean 'roles.yaml'?"
    ]


def test_a_failed_include_still_reports_shape_problems(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "wf.yaml", "include: [_q.yaml]\n" + MINIMAL.replace("amount: 2", "amount: 0")
    )
    with pytest.raises(DefinitionError) as caught:
        load_definition(path)
    messages = [p.message for p in caught.value.problems]
    assert messages == [
        "no such file to include: '_q.yaml'",
        "should be greater than or equal to 1",
    ]


def test_a_mapping_made_only_of_a_merge(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "fields:\n  unit:\n    type: ref\n    ref: unit\n",
        "x-ref: &ref {type: ref, ref: unit}\nfields:\n  unit:\n    <<: *ref\n",
    )
    definition = load_definition(_write(tmp_path / "wf.yaml", text))
    assert definition.spec.fields["unit"].ref == "unit"


def test_partials_may_hold_anchor_slots(tmp_path: Path) -> None:
    partial = "x-group: &office {group: office}\nroles:\n  boss:\n    <<: *office\n"
    _write(tmp_path / "_p.yaml", partial)
    definition = load_definition(_write(tmp_path / "wf.yaml", "include: [_p.yaml]\n" + MINIMAL))
    assert definition.spec.roles["boss"].group == "office"
