"""The YAML reader's caches: the same data and positions as a fresh parse, never stale."""

from __future__ import annotations

from pathlib import Path

import pytest

from workflow.definition import yamlsource
from workflow.definition.yamlsource import read_yaml

TEXT = "id: mini\nfields:\n  title: {type: string}\nlist: [1, 2.5, true, null, 'x']\n"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("WORKFLOW_YAML_CACHE", str(folder))
    yamlsource._READ.clear()
    return folder


def _read(path: Path) -> yamlsource.YamlDocument:
    yamlsource._READ.clear()  # as a new process would: only the disk cache is left
    return read_yaml(str(path))


def test_a_cached_file_reads_back_the_same(cache: Path, tmp_path: Path) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(TEXT, encoding="utf-8")
    first = _read(path)
    assert len(list(cache.iterdir())) == 1
    again = _read(path)
    assert (
        again.data
        == first.data
        == {
            "id": "mini",
            "fields": {"title": {"type": "string"}},
            "list": [1, 2.5, True, None, "x"],
        }
    )
    assert dict(again.positions.items()) == dict(first.positions.items())
    # Callers get their own copy: changing one read does not change the next.
    again.data["id"] = "changed"
    assert read_yaml(str(path)).data["id"] == "mini"


def test_an_edited_file_is_read_again(cache: Path, tmp_path: Path) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(TEXT, encoding="utf-8")
    _read(path)
    path.write_text(TEXT.replace("mini", "maxi"), encoding="utf-8")  # same size
    assert read_yaml(str(path)).data["id"] == "maxi"


def test_a_damaged_entry_is_parsed_again(cache: Path, tmp_path: Path) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(TEXT, encoding="utf-8")
    _read(path)
    (entry,) = cache.iterdir()
    entry.write_text('{"data": 1, "positions": [["bad"]]}', encoding="utf-8")
    assert _read(path).data["id"] == "mini"


def test_the_disk_cache_can_be_turned_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKFLOW_YAML_CACHE", "off")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    path = tmp_path / "wf.yaml"
    path.write_text(TEXT, encoding="utf-8")
    assert _read(path).data["id"] == "mini"
    assert not (tmp_path / "xdg").exists()
