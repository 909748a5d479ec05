"""The documentation site builds with MkDocs in strict mode, without a single warning.

This is how CI checks the site: through the ordinary test command. mkdocs.yml turns
broken links and anchors between pages, links to files outside docs/, and pages
missing from the navigation into warnings, and strict mode makes any warning fail
the build; the test also fails on a warning line that strict mode let through.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import REPO

DOCS = REPO / "docs"


def _build(site: Path, config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": str(Path(sys.executable).parent)},
        check=False,
    )


def _nav_pages(nav: object) -> list[str]:
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, list):
        return [page for entry in nav for page in _nav_pages(entry)]
    if isinstance(nav, dict):
        return [page for value in nav.values() for page in _nav_pages(value)]
    return []


def _config() -> dict[str, object]:
    # mkdocs.yml names Python callables with !!python tags; only the nav is read here.
    class _Loader(yaml.SafeLoader):
        pass

    _Loader.add_multi_constructor("tag:yaml.org,2002:python/", lambda *_: None)
    with (REPO / "mkdocs.yml").open(encoding="utf-8") as file:
        loaded = yaml.load(file, Loader=_Loader)  # a SafeLoader: python tags become None
    assert isinstance(loaded, dict)
    return loaded


def test_the_site_builds_strictly_without_warnings(tmp_path: Path) -> None:
    result = _build(tmp_path / "site", REPO / "mkdocs.yml")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    warnings = [line for line in output.splitlines() if "WARNING" in line]
    assert not warnings, "\n".join(warnings)
    for page in _nav_pages(_config()["nav"]):
        built = tmp_path / "site" / ("" if page == "index.md" else page.removesuffix(".md"))
        assert (built / "index.html").is_file(), page


def test_every_page_is_in_the_navigation() -> None:
    in_nav = set(_nav_pages(_config()["nav"]))
    pages = {page.name for page in DOCS.glob("*.md")}
    assert pages == in_nav, (
        f"add to the nav of mkdocs.yml: {sorted(pages - in_nav)}; "
        f"missing files: {sorted(in_nav - pages)}"
    )


def test_a_broken_link_fails_the_build(tmp_path: Path) -> None:
    # The same configuration on a copy of the pages with one bad anchor must not build:
    # otherwise the test above would pass on a configuration that checks nothing.
    docs = tmp_path / "docs"
    docs.mkdir()
    for page in DOCS.glob("*.md"):
        (docs / page.name).write_text(page.read_text(encoding="utf-8"), encoding="utf-8")
    index = docs / "index.md"
    index.write_text(
        index.read_text(encoding="utf-8") + "\n[broken](authoring.md#no-such-section)\n",
        encoding="utf-8",
    )
    config = tmp_path / "mkdocs.yml"
    config.write_text(
        (REPO / "mkdocs.yml")
        .read_text(encoding="utf-8")
        .replace("docs_dir: docs", f"docs_dir: {docs}"),
        encoding="utf-8",
    )
    result = _build(tmp_path / "site", config)
    assert result.returncode != 0
    assert "no-such-section" in result.stdout + result.stderr
