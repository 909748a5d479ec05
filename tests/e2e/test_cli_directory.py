"""`workflow directory import|export|show`, and which directory the other commands use.

Through the `workflow` command line, in-process (``tests/e2e/cli.py``), on a
SQLite file migrated in-process.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from tests.conftest import DEFINITIONS
from tests.e2e.cli import run
from workflow.directory.export import write_csv
from workflow.directory.generate import generate_register
from workflow.directory.records import SECTORS
from workflow.store.migrate import upgrade
from workflow.store.sql import create_database_engine

SAMPLE = DEFINITIONS / "_directory" / "sample.yaml"
GENERATED = generate_register(16, seed=42)


def workflow(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run one command on the database ``db`` (no WORKFLOW_* settings leak in)."""
    return run("--db", f"sqlite:///{db}", *args)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"{result.args}: {result.stdout}{result.stderr}"
    assert "Traceback" not in result.stderr
    return result.stdout


def show(db: Path, *args: str) -> Any:
    return json.loads(ok(workflow(db, "directory", "show", "--json", *args)))


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "workflow.db"
    bind = create_database_engine(f"sqlite:///{path}")
    upgrade(bind)
    bind.dispose()
    return path


def test_a_fresh_database_uses_the_sample_then_the_imported_register(
    db: Path, tmp_path: Path
) -> None:
    before = show(db)
    assert before["source"].startswith("the shipped sample file (the register is empty)")
    assert before["register"] == {"districts": 0, "units": 0, "enterprises": 0, "people": 0}

    files = write_csv(GENERATED, tmp_path / "register")
    out = ok(workflow(db, "directory", "import", *map(str, files)))
    assert out.strip() == (
        f"merged 10 districts, 20 units, 16 enterprises, {len(GENERATED.people)} people"
    )
    after = show(db)
    assert after["source"] == "the register in the database (wf_dir_*)"
    assert after["register"]["enterprises"] == 16

    # The engine's commands now authorize with the register's people ...
    enterprise = GENERATED.enterprises[0]
    data = {
        "enterprise": enterprise.id,
        "district": enterprise.district,
        "sector": enterprise.sector,
        "category": "venues",
        "title": "A hall for an esports final",
        "description": "2,000 seats in December.",
    }
    actor = f"enterprise:{enterprise.contacts[0]}"
    started = json.loads(
        ok(
            workflow(
                db, "start", "enterprise_issue", "--as", actor, "--data", json.dumps(data), "--json"
            )
        )
    )
    assert started["item"]["data"]["enterprise"] == enterprise.id
    # ... and a YAML file given explicitly still wins (its people do not include this one).
    refused = workflow(
        db, "--directory", str(SAMPLE), "start", "enterprise_issue", "--as", actor,
        "--data", json.dumps(data),
    )  # fmt: skip
    assert refused.returncode == 6, refused.stderr
    explicit = json.loads(
        ok(workflow(db, "--directory", str(SAMPLE), "directory", "show", "--json"))
    )
    assert explicit["source"] == f"the file {SAMPLE}"


def test_directory_db_selects_the_register_even_when_empty(db: Path) -> None:
    shown = json.loads(ok(workflow(db, "--directory", "db", "directory", "show", "--json")))
    assert shown["source"] == "the register in the database (wf_dir_*)"
    # Nobody is in the empty register: nobody may start an item.
    refused = workflow(
        db, "--directory", "db", "start", "enterprise_issue", "--as", "enterprise:ent.zhao",
        "--data", json.dumps({"enterprise": "e_pixel"}),
    )  # fmt: skip
    assert refused.returncode != 0
    assert "Traceback" not in refused.stderr


def test_show_an_enterprise_and_a_kind(db: Path, tmp_path: Path) -> None:
    ok(workflow(db, "directory", "import", *map(str, write_csv(GENERATED, tmp_path / "r"))))
    enterprise = GENERATED.enterprises[1]
    text = ok(workflow(db, "directory", "show", enterprise.id))
    assert enterprise.name_zh in text
    assert enterprise.credit_code is not None
    assert enterprise.credit_code in text
    english = ok(workflow(db, "directory", "show", enterprise.id, "--lang", "en"))
    district = next(d for d in GENERATED.districts if d.id == enterprise.district)
    assert district.name_en in english
    listed = show(db, "--kind", "enterprises")
    assert [e["id"] for e in listed["enterprises"]] == sorted(e.id for e in GENERATED.enterprises)
    assert {e["sector"] for e in listed["enterprises"]} == set(SECTORS)
    table = ok(workflow(db, "directory", "show", "--kind", "units"))
    assert "市文化和旅遊局" in table
    missing = workflow(db, "directory", "show", "e_nowhere")
    assert missing.returncode == 3
    assert missing.stderr.strip() == "workflow: no enterprise 'e_nowhere' in the register"


def test_a_bad_file_is_rejected_with_rows_and_columns_and_nothing_written(
    db: Path, tmp_path: Path
) -> None:
    ok(workflow(db, "directory", "import", str(SAMPLE)))
    before = show(db, "--kind", "enterprises")
    bad = tmp_path / "enterprises.csv"
    bad.write_text(
        "id,name_zh,name_en,credit_code,sector,district,contacts,colour\n"
        "e_good,好企業,Good,91350100M000100Y43,animation_games,d_jianghan,ent.zhao,\n"
        "e_bad,壞企業,Bad,91350100M000100Y40,games,d_nowhere,ent.nobody,\n",
        encoding="utf-8",
    )
    result = workflow(db, "directory", "import", str(bad))
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"{bad}, row 1, column colour: unknown column for enterprises (expected id, name_zh, "
        "name_en, credit_code, sector, district, contacts, commissioners, related.<relation>)",
        "1 problem: nothing imported",
    ]
    bad.write_text(bad.read_text(encoding="utf-8").replace(",colour", "").replace(",\n", "\n"))
    result = workflow(db, "directory", "import", str(bad))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"{bad}, row 3, column credit_code: check character is '0' but the first 17 "
        "characters give '3'",
        f"{bad}, row 3, column sector: unknown sector 'games' (expected one of "
        + ", ".join(SECTORS)
        + ")",
        f"{bad}, row 3, column district: unknown district 'd_nowhere' "
        "(not in the districts of the register)",
        f"{bad}, row 3, column contacts: unknown person 'ent.nobody' "
        "(not in the people of the register)",
        "4 problems: nothing imported",
    ]
    assert show(db, "--kind", "enterprises") == before


def test_xlsx_round_trip(db: Path, tmp_path: Path) -> None:
    ok(workflow(db, "directory", "import", *map(str, write_csv(GENERATED, tmp_path / "r"))))
    ok(workflow(db, "directory", "import", str(SAMPLE)))
    workbook_path = tmp_path / "register.xlsx"
    assert ok(workflow(db, "directory", "export", "-o", str(workbook_path))).strip() == str(
        workbook_path
    )
    workbook = load_workbook(workbook_path)
    assert workbook.sheetnames == ["districts", "units", "enterprises", "people"]
    sheet = workbook["enterprises"]
    header = [c.value for c in sheet[1]]
    assert header[:6] == ["id", "name_zh", "name_en", "credit_code", "sector", "district"]
    assert all(c.font.bold for c in sheet[1])
    assert sheet.freeze_panes == "A2"
    codes = [row[3] for row in sheet.iter_rows(min_row=2)]
    assert all(isinstance(c.value, str) and c.number_format == "@" for c in codes if c.value)
    assert {c.value for c in codes} >= {e.credit_code for e in GENERATED.enterprises}
    people = workbook["people"]
    people_header = [c.value for c in people[1]]
    robot = people_header.index("address.office_robot")
    mobiles = [r[robot].value for r in people.iter_rows(min_row=2) if r[robot].value]
    assert mobiles
    assert all(isinstance(m, str) and m.startswith("138") for m in mobiles)
    assert sheet.column_dimensions["B"].width > 10  # fitted to the Chinese names

    other = tmp_path / "other.db"
    bind = create_database_engine(f"sqlite:///{other}")
    upgrade(bind)
    bind.dispose()
    ok(workflow(other, "directory", "import", "--replace", str(workbook_path)))
    for kind in ("districts", "units", "enterprises", "people"):
        assert show(other, "--kind", kind) == show(db, "--kind", kind)

    # CSV export: one file per kind, which import back the same way.
    folder = tmp_path / "csv"
    written = ok(workflow(db, "directory", "export", "--format", "csv", "-o", str(folder)))
    assert sorted(Path(p).name for p in written.split()) == [
        "districts.csv",
        "enterprises.csv",
        "people.csv",
        "units.csv",
    ]
    imported = json.loads(
        ok(workflow(other, "directory", "import", "--replace", "--json", *written.split()))
    )
    assert imported["mode"] == "replace"
    assert imported["imported"] == show(db)["register"]


def test_import_needs_a_migrated_database(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    bind = create_database_engine(f"sqlite:///{path}")
    upgrade(bind, revision="0004")
    bind.dispose()
    result = workflow(path, "directory", "import", str(SAMPLE))
    assert result.returncode == 8
    assert "workflow db upgrade" in result.stderr
