"""The YAML reader's caches: the same data and positions as a fresh parse, never stale."""

from __future__ import annotations

import os
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


def test_the_disk_cache_keeps_the_most_recently_used_entries(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(yamlsource, "_CACHE_LIMIT", 4)
    monkeypatch.setattr(yamlsource, "_CACHE_KEEP", 2)
    paths = []
    for n in range(4):
        path = tmp_path / f"wf{n}.yaml"
        path.write_text(TEXT.replace("mini", f"mini{n}"), encoding="utf-8")
        _read(path)
        paths.append(path)
    entries = sorted(cache.glob("*.json"))
    assert len(entries) == 4
    # Age the entries (the order of their last use: wf0 oldest), then use wf0 again.
    for age, entry in enumerate(sorted(entries, key=lambda e: e.stat().st_mtime)):
        stamp = 1_000_000 + age
        os.utime(entry, (stamp, stamp))
    _read(paths[0])  # a hit: touched, now the most recent
    fifth = tmp_path / "wf4.yaml"
    fifth.write_text(TEXT.replace("mini", "mini4"), encoding="utf-8")
    _read(fifth)  # a miss past the limit: prunes down to two

    assert len(list(cache.glob("*.json"))) == 2
    # The two most recently used survive: wf0 (touched) and wf4 (new); both read from disk.
    yamlsource._READ.clear()
    for path in (paths[0], fifth):
        assert yamlsource._from_disk(str(path), path.read_text(encoding="utf-8")) is not None
    assert yamlsource._from_disk(str(paths[1]), paths[1].read_text(encoding="utf-8")) is None


def test_a_stale_partial_file_is_removed(cache: Path, tmp_path: Path) -> None:
    path = tmp_path / "wf.yaml"
    path.write_text(TEXT, encoding="utf-8")
    _read(path)
    stale = cache / "dead.json.123.tmp"
    fresh = cache / "busy.json.456.tmp"
    stale.write_text("{", encoding="utf-8")
    fresh.write_text("{", encoding="utf-8")
    os.utime(stale, (1_000_000, 1_000_000))
    other = tmp_path / "other.yaml"
    other.write_text(TEXT.replace("mini", "other"), encoding="utf-8")
    _read(other)  # a write: the folder is looked over
    assert not stale.exists()
    assert fresh.exists()
