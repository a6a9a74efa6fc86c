"""Crash test of a coordinator pass through the CLI: SIGKILL `workflow run` at points of the pass
(after the plan, with subtasks done and in flight, during the synthesis), then `runs resume`.

Finished subtasks never run again (their attempts, outputs and times are unchanged), an attempt in
flight runs again on the same worker without a new attempt, and the synthesis commits once.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.support import TASK, Project
from tests.seed import session_random

pytestmark = pytest.mark.slow

METHODS = """\
- task_pattern: explain
  subtasks:
    - {name: define, parameters: {description: Define it}}
    - {name: history, parameters: {description: Its history}}
    - {name: example, parameters: {description: An example}, after: [define]}
    - {name: pitfalls, parameters: {description: The pitfalls}, after: [define]}
    - {name: summary, parameters: {description: Sum up}, after: [example, pitfalls, history]}
"""
NAMES = ["define", "history", "example", "pitfalls", "summary"]


def config(boss_latency: int = 1500) -> str:
    # Replies depend on the input only (not on which worker ran it), so any assignment gives the
    # reference's final output.
    worker = (
        "    provider: mock\n    role: worker\n    options: {latency_ms: 400, reply: 'done: {digest} {input_head}'}\n"
    )
    return (
        "agents:\n"
        "  - id: boss\n    provider: mock\n    role: coordinator\n"
        f"    options: {{latency_ms: {boss_latency}, reply: 'synthesis {{digest}}'}}\n"
        f"  - id: w1\n{worker}  - id: w2\n{worker}"
        "workflows:\n  - id: pipeline\n    agents: [boss, w1, w2]\n"
        "    htn_methods_file: methods.yaml\n    goal_task: explain\n    max_parallel: 2\n"
    )


def project_at(root: Path) -> Project:
    project = Project(root, config())
    (root / "methods.yaml").write_text(METHODS)
    return project


def tasks_with(run: dict[str, Any] | None, status: str) -> list[str]:
    plan = (run or {}).get("plan") or {"tasks": []}
    return [t["id"] for t in plan["tasks"] if t["status"] == status]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    project = project_at(tmp_path_factory.mktemp("reference"))
    result = project.cli("workflow", "run", "pipeline", "-i", TASK, "--json")
    assert result.returncode == 0, result.stderr
    run: dict[str, Any] = json.loads(result.stdout)
    assert run["status"] == "completed"
    assert all(len(t["attempts"]) == 1 for t in run["plan"]["tasks"])
    return run


def kill_when(project: Project, ready: Any, what: str) -> dict[str, Any]:
    proc = project.start()
    try:
        runs = project.wait_for(proc, lambda: project.peek("runs", "list", "--json"), "the run to start")
        run_id = runs[0]["run_id"]
        project.wait_for(proc, lambda: ready(project.peek("runs", "show", run_id, "--json")), what)
    finally:
        proc.kill()
        proc.communicate()
    assert proc.returncode == -9
    shown = project.cli("runs", "show", run_id, "--json")
    assert shown.returncode == 0, shown.stderr
    before: dict[str, Any] = json.loads(shown.stdout)
    assert before["status"] == "interrupted"
    return before


def check_resumed(before: dict[str, Any], after: dict[str, Any], reference: dict[str, Any]) -> None:
    assert after["status"] == "completed", after["error"]
    assert after["final_output"] == reference["final_output"]
    if "plan" not in before:  # killed before the plan committed: the resume planned it
        assert [t["output"] for t in after["plan"]["tasks"]] == [t["output"] for t in reference["plan"]["tasks"]]
        assert all(len(t["attempts"]) == 1 for t in after["plan"]["tasks"])
        return
    was = {t["id"]: t for t in before["plan"]["tasks"]}
    for task in after["plan"]["tasks"]:
        old = was[task["id"]]
        assert task["status"] == "completed"
        if old["status"] == "completed":
            assert task == old, "a finished subtask ran again"
        elif old["status"] == "running":
            assert len(task["attempts"]) == len(old["attempts"])  # resumed on the same worker, same attempt
            assert task["worker"] == old["worker"]
        else:
            assert len(task["attempts"]) == 1
    assert [t["output"] for t in after["plan"]["tasks"]] == [t["output"] for t in reference["plan"]["tasks"]]
    # Bid rounds committed before the kill are kept as they were.
    assert after["plan"]["bids"][: len(before["plan"]["bids"])] == before["plan"]["bids"]
    [boss] = after["steps"]
    [old_boss] = before["steps"]
    assert boss["status"] == "completed" and boss["output"] == reference["steps"][0]["output"]
    assert boss["attempts"] == old_boss["attempts"] + 1  # the synthesis committed once


def resume(project: Project, before: dict[str, Any]) -> dict[str, Any]:
    resumed = project.cli("runs", "resume", before["run_id"], "--json")
    assert resumed.returncode == 0, resumed.stderr
    after: dict[str, Any] = json.loads(resumed.stdout)
    assert project.peek("runs", "show", before["run_id"], "--json") == after
    return after


_RANDOM = session_random(__name__)
WANTED = _RANDOM.randint(1, 4)


@pytest.mark.parametrize(
    "done",
    [pytest.param(0, id="after-the-plan"), pytest.param(2, id="mid-pass"), pytest.param(WANTED, id=f"random-{WANTED}")],
)
def test_sigkill_mid_pass_then_resume(tmp_path: Path, reference: dict[str, Any], done: int) -> None:
    project = project_at(tmp_path / "project")

    def ready(run: dict[str, Any] | None) -> bool:
        if run is None or not run.get("plan"):
            return False
        return len(tasks_with(run, "completed")) >= done and bool(tasks_with(run, "running"))

    before = kill_when(project, ready, f"{done} finished subtasks and one in flight")
    assert len(tasks_with(before, "completed")) < len(NAMES)
    check_resumed(before, resume(project, before), reference)


def test_sigkill_during_the_synthesis_then_resume(tmp_path: Path, reference: dict[str, Any]) -> None:
    project = project_at(tmp_path / "project")

    def ready(run: dict[str, Any] | None) -> bool:
        return len(tasks_with(run, "completed")) == len(NAMES) and run is not None and run["steps"][0]["attempts"] == 1

    before = kill_when(project, ready, "the synthesis to start")
    assert before["steps"][0]["status"] == "running"
    shown = project.cli("runs", "resume", before["run_id"])  # as a user watches it
    assert shown.returncode == 0, shown.stderr
    assert "▤ plan (htn, committed): 5/5 subtask(s) done" in shown.stdout
    assert "⚖" not in shown.stdout and "▶ boss started" in shown.stdout
    after = json.loads(project.cli("runs", "show", before["run_id"], "--json").stdout)
    check_resumed(before, after, reference)
    assert after["plan"]["bids"] == before["plan"]["bids"]  # nothing was auctioned again


KILL_AT = round(_RANDOM.uniform(0.0, 2.0), 2)


@pytest.mark.parametrize("delay", [pytest.param(KILL_AT, id=f"at-{KILL_AT}s")])
def test_sigkill_at_a_random_moment_then_resume(tmp_path: Path, reference: dict[str, Any], delay: float) -> None:
    project = project_at(tmp_path / "project")
    started: list[float] = []

    def ready(run: dict[str, Any] | None) -> bool:
        if run is None:
            return False
        if not started:
            started.append(time.monotonic())
        return time.monotonic() - started[0] >= delay

    before = kill_when(project, ready, f"{delay} s into the run")
    check_resumed(before, resume(project, before), reference)
