"""kill -9 in the middle of control flow, then resume, through the CLI in subprocesses.

A map over two dozen items is killed half-way: on resume the items that completed are not run
again (attempts stays 1, same output) and only the ones in flight run a second time.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.e2e.support import TASK, Project

pytestmark = pytest.mark.slow

ITEMS = [f"item-{i:02d}" for i in range(24)]
MAP_YAML = f"""
agents:
  - id: split
    provider: mock
    options: {{reply: '{json.dumps(ITEMS)}'}}
  - id: visit
    provider: mock
    map: {{over: split, as: stop, max_parallel: 3}}
    options: {{latency_ms: 250, reply: 'visited {{input_head}}'}}
  - id: report
    provider: mock
    depends_on: [visit]
workflows:
  - id: pipeline
    agents: [split, visit, report]
"""


def items_done(run: dict[str, Any] | None) -> int:
    if not run:
        return 0
    return sum(1 for s in run["steps"] if s["item"] is not None and s["status"] == "completed")


def test_kill_a_half_done_map_then_resume_runs_only_the_rest(tmp_path) -> None:  # type: ignore[no-untyped-def]
    project = Project(tmp_path, MAP_YAML)
    proc = project.start()
    try:
        runs = project.wait_for(proc, lambda: project.peek("runs", "list", "--json"), "the run to start")
        run_id = runs[0]["run_id"]
        project.wait_for(proc, lambda: items_done(project.peek("runs", "show", run_id, "--json")) >= 8, "8 items")
    finally:
        proc.kill()
        proc.communicate()
    assert proc.returncode == -9
    shown = project.cli("runs", "show", run_id, "--json")
    before = json.loads(shown.stdout)
    assert before["status"] == "interrupted"
    done_before = {s["agent_id"]: s for s in before["steps"] if s["item"] is not None and s["status"] == "completed"}
    assert 8 <= len(done_before) < len(ITEMS)

    resumed = project.cli("runs", "resume", run_id, "--json")
    assert resumed.returncode == 0, resumed.stderr
    after = json.loads(resumed.stdout)
    assert after["status"] == "completed", after["error"]
    items = [s for s in after["steps"] if s["item"] is not None]
    assert [s["item"] for s in items] == list(range(len(ITEMS)))
    assert all(s["status"] == "completed" for s in items)
    for step in items:
        if step["agent_id"] in done_before:
            assert step["attempts"] == 1 and step["output"] == done_before[step["agent_id"]]["output"]
    # Only the items in flight at the kill (at most max_parallel) ran twice.
    assert sum(1 for s in items if s["attempts"] == 2) <= 3
    assert all(s["attempts"] in (1, 2) for s in items)
    visit = next(s for s in after["steps"] if s["agent_id"] == "visit")
    assert json.loads(visit["output"]) == [s["output"] for s in items]
    assert all(
        f"stop {i + 1} of 24: {name}" in s["input"] for i, (name, s) in enumerate(zip(ITEMS, items, strict=True))
    )
    report = next(s for s in after["steps"] if s["agent_id"] == "report")
    assert report["status"] == "completed" and report["attempts"] == 1
    assert TASK in items[0]["input"]


NESTED_YAML = """
agents:
  - id: plan
    provider: mock
  - id: research
    workflow: inner
    depends_on: [plan]
  - id: write
    provider: mock
    depends_on: [research]
  - id: dig
    provider: mock
    options: {latency_ms: 100}
  - id: slow
    provider: mock
    depends_on: [dig]
    options: {latency_ms: 3000}
workflows:
  - id: pipeline
    agents: [plan, research, write]
  - id: inner
    agents: [dig, slow]
"""


def test_kill_while_a_child_run_is_in_flight_then_resume_the_parent(tmp_path) -> None:  # type: ignore[no-untyped-def]
    project = Project(tmp_path, NESTED_YAML)
    proc = project.start()

    def child_half_done() -> dict[str, Any] | None:
        runs = project.peek("runs", "list", "--json") or []
        child = next((r for r in runs if r["relation"] == "child"), None)
        if child is None:
            return None
        shown = project.peek("runs", "show", child["run_id"], "--json")
        return child if shown and shown["steps"][0]["status"] == "completed" else None

    try:
        child = project.wait_for(proc, child_half_done, "the child run's first step")
    finally:
        proc.kill()
        proc.communicate()
    parent_id = child["parent_run_id"]
    resumed = project.cli("runs", "resume", parent_id, "--json")
    assert resumed.returncode == 0, resumed.stderr
    parent = json.loads(resumed.stdout)
    assert parent["status"] == "completed", parent["error"]
    assert [s["attempts"] for s in parent["steps"]] == [1, 2, 1]
    after = json.loads(project.cli("runs", "show", child["run_id"], "--json").stdout)
    assert after["status"] == "completed"
    assert [s["attempts"] for s in after["steps"]] == [1, 2]  # dig kept, slow in flight ran again
    runs = json.loads(project.cli("runs", "list", "--json").stdout)
    assert len([r for r in runs if r["relation"] == "child"]) == 1
    assert parent["steps"][1]["output"] == after["final_output"]
