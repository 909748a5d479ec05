"""Directory files: credit codes, cells, headers and cross-file checks, without a database."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from workflow.directory.creditcode import (
    ALPHABET,
    check_character,
    credit_code_problem,
    is_valid_credit_code,
    make_credit_code,
)
from workflow.directory.files import kind_of
from workflow.directory.generate import generate_register
from workflow.directory.importer import read_directory_files
from workflow.directory.records import SECTORS, sector_code
from workflow.directory.validate import Existing, check_entries
from workflow.errors import DirectoryImportError, ImportProblem

# Codes of well-known companies, as printed on their business licences.
KNOWN_VALID = (
    "91350100M000100Y43",
    "91440300708461136T",
    "91330100716105852F",
    "91110108551385082Q",
)

first17 = st.text(alphabet=ALPHABET, min_size=17, max_size=17).filter(lambda s: s[2:8].isdigit())
valid_codes = first17.map(lambda s: s + check_character(s))


# --- credit codes -------------------------------------------------------------------


@pytest.mark.parametrize("code", KNOWN_VALID)
def test_published_codes_are_valid(code: str) -> None:
    assert credit_code_problem(code) is None


@given(valid_codes)
def test_a_code_with_its_check_character_is_valid(code: str) -> None:
    assert is_valid_credit_code(code)


@given(valid_codes, st.integers(0, 16), st.sampled_from(ALPHABET))
def test_changing_one_character_breaks_the_check(code: str, where: int, new: str) -> None:
    changed = code[:where] + new + code[where + 1 :]
    if changed != code and changed[2:8].isdigit():
        # The weights 3**i mod 31 are all non-zero in a prime field: any single
        # substitution changes the sum mod 31, so the check must fail.
        assert credit_code_problem(changed) is not None


@given(valid_codes, st.integers(0, 15))
def test_swapping_neighbours_breaks_the_check(code: str, where: int) -> None:
    swapped = code[:where] + code[where + 1] + code[where] + code[where + 2 :]
    if swapped[:17] != code[:17] and swapped[2:8].isdigit():
        assert credit_code_problem(swapped) is not None


@pytest.mark.parametrize(
    ("code", "fragment"),
    [
        ("91350100M000100Y4", "18 characters, not 17"),
        ("91350100M000100Y433", "not 19"),
        ("91350100M000100I43", "'I' cannot appear"),
        ("91350100m000100y43", "'m', 'y' cannot appear"),
        ("913501A0M000100Y43", "administrative division code"),
        ("91350100M000100Y44", "check character is '4' but the first 17 characters give '3'"),
    ],
)
def test_what_is_wrong_with_a_code_is_said(code: str, fragment: str) -> None:
    problem = credit_code_problem(code)
    assert problem is not None
    assert fragment in problem


@given(
    st.sampled_from("159Y"),
    st.sampled_from("123"),
    st.from_regex(r"4201[0-9]{2}", fullmatch=True),
    st.text(alphabet=ALPHABET, min_size=8, max_size=8),
)
def test_made_codes_are_valid(authority: str, category: str, division: str, org: str) -> None:
    code = make_credit_code(authority, category, division, org)
    assert is_valid_credit_code(code)
    assert code.startswith(authority + category + division + org)


# --- sectors and file names -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("animation_games", "animation_games"),
        ("數字網絡視聽", "online_audiovisual"),
        ("网络视听", "online_audiovisual"),
        ("Digital application services", "digital_services"),
        ("  digital-creative SMART manufacturing ", "smart_manufacturing"),
        ("games", None),
    ],
)
def test_sectors_by_code_or_label(text: str, code: str | None) -> None:
    assert sector_code(text) == code


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("enterprises", "enterprises"),
        ("2026-enterprises", "enterprises"),
        ("register_people", "people"),
        ("Units", "units"),
        ("企業", "enterprises"),
        ("contacts", None),
        ("peoples", None),
    ],
)
def test_the_kind_is_read_from_the_name(name: str, kind: str | None) -> None:
    assert kind_of(name) == kind


# --- reading files --------------------------------------------------------------------

DISTRICTS = "id,name_zh,name_en,contacts\nd_jianghan,江漢區,Jianghan District,district.he\n"
PEOPLE = (
    "id,name,locale,groups,digest,address.email,address.office_robot\n"
    "district.he,何主任,zh,,,he@example.gov.cn,13800000001\n"
    "comm.sun,孫專員,zh,commissioners_pool,true,sun@example.gov.cn,\n"
    "ent.zhao,趙經理,en,,no,zhao@pixel.example.com,\n"
)
ENTERPRISES = (
    "id,name_zh,name_en,credit_code,sector,district,contacts,commissioners\n"
    "e_pixel,像素工坊,Pixel Forge,91350100M000100Y43,數字動漫游戲,d_jianghan,ent.zhao,comm.sun\n"
)


def write(folder: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = folder / name
    path.write_text(text, encoding=encoding)
    return path


def problems_of(paths: list[Path]) -> list[ImportProblem]:
    with pytest.raises(DirectoryImportError) as caught:
        read_directory_files(paths)
    return caught.value.problems


def test_good_files_give_their_entries(tmp_path: Path) -> None:
    paths = [
        write(tmp_path, "districts.csv", DISTRICTS),
        write(tmp_path, "people.csv", PEOPLE),
        write(tmp_path, "enterprises.csv", ENTERPRISES),
    ]
    entries = read_directory_files(paths)
    assert check_entries(entries) == []
    by_id = {e.entry.id: e.entry for e in entries}
    pixel = by_id["e_pixel"]
    assert pixel.sector == "animation_games"  # type: ignore[union-attr]
    assert pixel.links == {"members": ("ent.zhao",), "commissioners": ("comm.sun",)}
    he = by_id["district.he"]
    assert he.addresses == {"email": "he@example.gov.cn", "office_robot": "13800000001"}  # type: ignore[union-attr]
    assert by_id["comm.sun"].digest is True  # type: ignore[union-attr]
    assert by_id["ent.zhao"].digest is False  # type: ignore[union-attr]
    assert by_id["district.he"].digest is None  # type: ignore[union-attr]


def test_gbk_csv_as_excel_saves_it_is_read(tmp_path: Path) -> None:
    path = write(tmp_path, "districts.csv", DISTRICTS, encoding="gbk")
    [district] = read_directory_files([path])
    assert district.entry.name_zh == "江漢區"  # type: ignore[union-attr]


def test_every_bad_cell_is_reported_with_row_and_column(tmp_path: Path) -> None:
    bad = (
        "id,name_zh,name_en,credit_code,sector,district,contacts,commissioners\n"
        "e_one,一,One,91350100M000100Y44,animation_games,d_jianghan,,\n"
        ",二,Two,,games,,,\n"
        "e three,三,Three,123,online_audiovisual,,,\n"
    )
    people_bad = "id,name,locale,digest\nx.one,一,Chinese,maybe\n"
    found = problems_of(
        [write(tmp_path, "enterprises.csv", bad), write(tmp_path, "people.csv", people_bad)]
    )
    where = {(p.file.rsplit("/", 1)[-1], p.row, p.column) for p in found}
    assert where == {
        ("enterprises.csv", 2, "credit_code"),
        ("enterprises.csv", 3, "id"),
        ("enterprises.csv", 3, "sector"),
        ("enterprises.csv", 4, "id"),
        ("enterprises.csv", 4, "credit_code"),
        ("people.csv", 2, "locale"),
        ("people.csv", 2, "digest"),
    }
    sector = next(p for p in found if p.column == "sector")
    assert "unknown sector 'games'" in sector.message
    assert str(sector).endswith(
        "enterprises.csv, row 3, column sector: unknown sector 'games' (expected one of "
        + ", ".join(SECTORS)
        + ")"
    )


def test_header_problems(tmp_path: Path) -> None:
    found = problems_of(
        [
            write(tmp_path, "units.csv", "name_zh,colour,name_zh\n市財政局,red,x\n"),
            write(tmp_path, "people.csv", "id,address.,related.Members\n"),
            write(tmp_path, "things.csv", "id\nx\n"),
            write(tmp_path, "units.txt", "id\nx\n"),
        ]
    )
    messages = sorted((Path(p.file).name, p.row, p.column, p.message) for p in found)
    assert [(f, r, c) for f, r, c, _ in messages] == [
        ("people.csv", 1, "address."),
        ("people.csv", 1, "related.members"),
        ("things.csv", 0, ""),
        ("units.csv", 1, "colour"),
        ("units.csv", 1, "id"),
        ("units.csv", 1, "name_zh"),
        ("units.txt", 0, ""),
    ]
    assert "unknown column for units" in messages[3][3]
    assert "the column appears twice" in messages[5][3]
    assert "name it after one of districts, units, enterprises, people" in messages[2][3]


def test_duplicates_and_unknown_references_across_files(tmp_path: Path) -> None:
    paths = [
        write(tmp_path, "districts.csv", DISTRICTS),
        write(tmp_path, "people.csv", PEOPLE),
        write(
            tmp_path,
            "enterprises.csv",
            ENTERPRISES
            + "e_pixel,像素,Pixel,,,,,\n"
            + "e_other,別的,Other,91350100M000100Y43,,d_nowhere,ent.nobody,comm.sun\n",
        ),
    ]
    problems = check_entries(read_directory_files(paths))
    found = {(p.row, p.column): p.message for p in problems}
    assert set(found) == {(3, "id"), (4, "credit_code"), (4, "district"), (4, "contacts")}
    assert "duplicate id 'e_pixel' (first at" in found[(3, "id")]
    assert "row 2)" in found[(3, "id")]
    assert "also given to 'e_pixel'" in found[(4, "credit_code")]
    assert found[(4, "district")].startswith("unknown district 'd_nowhere'")
    assert found[(4, "contacts")].startswith("unknown person 'ent.nobody'")


def test_a_merge_may_refer_to_what_the_register_holds(tmp_path: Path) -> None:
    entries = read_directory_files([write(tmp_path, "enterprises.csv", ENTERPRISES)])
    assert len(check_entries(entries)) == 3  # alone: district and two people unknown
    existing = Existing(
        ids={"districts": frozenset({"d_jianghan"}), "people": frozenset({"ent.zhao", "comm.sun"})},
        credit_codes={"91350100M000100Y43": "e_pixel"},
    )
    assert check_entries(entries, existing) == []
    taken = Existing(ids=existing.ids, credit_codes={"91350100M000100Y43": "e_bank"})
    [problem] = check_entries(entries, taken)
    assert problem.column == "credit_code"
    assert "already belongs to 'e_bank'" in problem.message


def test_the_yaml_form_reads_as_entries() -> None:
    sample = Path(__file__).resolve().parents[2] / "definitions" / "_directory" / "sample.yaml"
    entries = read_directory_files([sample])
    assert check_entries(entries) == []
    people = {e.entry.id: e.entry for e in entries if e.kind == "people"}
    assert people["office.li"].groups == ("coordinating_office",)  # type: ignore[union-attr]
    pixel = next(e.entry for e in entries if e.entry.id == "e_pixel")
    assert pixel.links == {"members": ("ent.zhao",), "commissioners": ("comm.sun",)}


def test_a_bad_yaml_file_is_one_problem(tmp_path: Path) -> None:
    path = write(tmp_path, "directory.yaml", "units:\n  u_x: nobody\n")
    [problem] = problems_of([path])
    assert problem.row == 0
    assert "units.u_x" in problem.message


def test_the_generated_register_is_valid_and_repeatable() -> None:
    register = generate_register(40, seed=7)
    assert register == generate_register(40, seed=7)
    assert register != generate_register(40, seed=8)
    assert len(register.enterprises) == 40
    assert {e.sector for e in register.enterprises} == set(SECTORS)
    assert {e.district for e in register.enterprises} == {d.id for d in register.districts}
    codes = [e.credit_code for e in register.enterprises]
    assert all(c is not None and is_valid_credit_code(c) for c in codes)
    assert len(set(codes)) == len(codes)
    people = {p.id for p in register.people}
    for enterprise in register.enterprises:
        assert enterprise.name_zh.startswith("武漢")
        assert enterprise.name_en.startswith("Wuhan ")
        assert enterprise.commissioners
        assert set(enterprise.commissioners) <= people
        assert set(enterprise.contacts) <= people
    groups = register.group_members()
    assert groups["coordinating_office"] == ["office.li", "office.wang", "office.zhang"]
    assert set(groups) == {
        "coordinating_office",
        "task_force_leaders",
        "opinion_monitors",
        "star_judges",
    }


def test_a_workbook_reports_problems_by_sheet(tmp_path: Path) -> None:
    from openpyxl import Workbook

    workbook = Workbook()
    first = workbook.active
    assert first is not None
    first.title = "enterprises"
    first.append(["ID", "Name_zh", "credit_code", "sector"])
    first.append(["e_one", "一號", "91350100M000100Y43", "animation_games"])
    first.append([None, None, None, None])  # an empty row is skipped, but still counted
    first.append(["e_two", "二號", 913501001000100, "Online audio-visual"])
    people = workbook.create_sheet("人員")
    people.append(["id", "name", "address.office_robot", "digest"])
    people.append(["p.one", "一", 13800000001, True])
    workbook.create_sheet("notes").append(["anything"])
    path = tmp_path / "register.xlsx"
    workbook.save(path)

    found = problems_of([path])
    assert [(p.sheet, p.row, p.column) for p in found] == [
        ("enterprises", 4, "credit_code"),
        ("notes", 0, ""),
    ]
    assert str(found[0]).startswith(f"{path} [enterprises], row 4, column credit_code: ")
    assert "18 characters, not 15" in found[0].message

    first.delete_rows(4)
    workbook.remove(workbook["notes"])
    workbook.save(path)
    entries = {e.entry.id: e.entry for e in read_directory_files([path])}
    # A number typed into a cell reads back as the digits (a mobile number).
    assert entries["p.one"].addresses == {"office_robot": "13800000001"}  # type: ignore[union-attr]
    assert entries["p.one"].digest is True  # type: ignore[union-attr]
    assert entries["e_one"].name_zh == "一號"  # type: ignore[union-attr]
