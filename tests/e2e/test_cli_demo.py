"""`workflow demo`, the README's main job, run as a user runs it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

WORKFLOW = [sys.executable, "-m", "workflow"]


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKFLOW_")}
    return subprocess.run(
        [*WORKFLOW, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def test_the_demo_plays_every_story_and_verifies_every_item(tmp_path: Path) -> None:
    began = time.monotonic()
    result = run("demo", cwd=tmp_path)
    elapsed = time.monotonic() - began
    assert result.returncode == 0, result.stdout + result.stderr
    # The engine's refusal is printed by the demo itself, not as a logged warning.
    assert result.stderr == ""
    out = result.stdout
    assert elapsed < 20, f"the demo took {elapsed:.1f} s"
    assert "runs `workflow db upgrade` itself" in out
    assert (tmp_path / "workflow-demo.db").exists()

    # Every step is one line: time, actor, event label, move, note.
    step = re.compile(r"^    (Mon|Tue|Wed|Thu|Fri) 11-\d\d \d\d:\d\d  \S+\s+\S.*  \S")
    steps = [line for line in out.splitlines() if step.match(line)]
    assert len(steps) > 40
    assert any("Joint handling complete" in s and "joint_handling → handling" in s for s in steps)
    assert any("Record the revisit" in s and "replied → dispatched" in s for s in steps)
    refused = [s for s in steps if "✗ refused" in s]
    assert len(refused) == 1
    assert "the engine: item 1: 'ent.zhao' may not fire 'strike_off'" in out

    summary = out[out.index("\nSummary\n") :]
    rows = re.findall(
        r"^(\d+)\s{2,}(.+?)\s{2,}(.+?)\s{2,}(.+?)\s{2,}(\d+)\s+(\d+)$", summary, re.MULTILINE
    )
    assert [(r[0], r[3], r[5]) for r in rows] == [
        ("1", "Closed and struck off", "0"),
        ("2", "Closed and struck off", "0"),
        ("3", "Closed and struck off", "1"),
        ("4", "Closed and struck off", "0"),
        ("5", "Rejected", "0"),
        ("6", "Merged into another item", "0"),
        ("7", "Handling", "0"),
    ]
    for item in range(1, 8):
        assert re.search(rf"^  item {item}: verified, \d+ history rows", out, re.MULTILINE)
    assert "All 7 items verified." in out

    # The database is left for the item commands; a second run starts afresh.
    again = run("demo", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    verified = run("--db", "sqlite:///workflow-demo.db", "verify", "--json", cwd=tmp_path)
    assert verified.returncode == 0, verified.stderr
    assert [(r["id"], r["ok"]) for r in json.loads(verified.stdout)] == [
        (i, True) for i in range(1, 8)
    ]
