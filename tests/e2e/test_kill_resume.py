"""Crash test through the CLI: SIGKILL `workflow run` at several points, then `runs resume`.

The run is a chain of six agents followed by a diamond, every agent on the mock provider with
some latency. The killed process runs a config in which the steps that come after the kill point
hold (a latency far longer than the test): the test watches the run with `runs show --json`
(in-process), kills the `workflow run` subprocess once the wanted number of steps has committed
(exactly that number, however slow the machine), checks that `runs show --json` (a subprocess)
reports the run as interrupted, restores the config, resumes the run with `runs resume RUN_ID --json`
(a subprocess) and checks that nothing committed ran again.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.support import TASK, Project
from tests.seed import session_random

pytestmark = pytest.mark.slow

CHAIN = [f"c{i}" for i in range(1, 7)]
AGENTS = [*CHAIN, "left", "right", "join"]
LATENCY = {"c1": 250, "c2": 150, "c3": 150, "c4": 150, "c5": 150, "c6": 150, "left": 250, "right": 300, "join": 1000}
HOLD_MS = 600_000  # a held step outlasts any test: it is in flight until the process is killed


def held_after(committed: int) -> list[str]:
    """The steps to hold so that exactly ``committed`` steps commit: those that start next (for 7, only
    right: left is the seventh to commit)."""
    if committed < len(CHAIN):
        return [CHAIN[committed]]
    return {6: ["left", "right"], 7: ["right"], 8: ["join"]}[committed]


def scenario_yaml(held: list[str] | None = None) -> str:
    lines = ["agents:"]
    deps = {"c1": [], **{CHAIN[i]: [CHAIN[i - 1]] for i in range(1, 6)}}
    deps |= {"left": ["c6"], "right": ["c6"], "join": ["left", "right"]}
    for agent in AGENTS:
        lines += [f"  - id: {agent}", "    provider: mock"]
        if deps[agent]:
            lines.append(f"    depends_on: [{', '.join(deps[agent])}]")
        latency = HOLD_MS if agent in (held or []) else LATENCY[agent]
        lines.append(f"    options: {{latency_ms: {latency}, reply: '{agent} on {{digest}}: {{input_head}}'}}")
    lines += ["workflows:", "  - id: pipeline", f"    agents: [{', '.join(AGENTS)}]"]
    return "\n".join(lines) + "\n"


def completed(run: dict[str, Any]) -> list[str]:
    return [s["agent_id"] for s in run["steps"] if s["status"] == "completed"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """An uninterrupted run of the same workflow and input."""
    project = Project(tmp_path_factory.mktemp("reference"), scenario_yaml())
    result = project.cli("workflow", "run", "pipeline", "-i", TASK, "--json")
    assert result.returncode == 0, result.stderr
    run: dict[str, Any] = json.loads(result.stdout)
    assert run["status"] == "completed"
    assert all(s["attempts"] == 1 for s in run["steps"])
    return run


def kill_after(project: Project, wanted: int, *command: str) -> tuple[str, dict[str, Any]]:
    """Run ``command`` (default: the workflow) in a subprocess with the steps after ``wanted`` held, SIGKILL
    it once ``wanted`` steps committed, and restore the config."""
    project.config.write_text(scenario_yaml(held=held_after(wanted)))
    proc = project.start(*command)
    try:
        runs = project.wait_for(proc, lambda: project.peek("runs", "list", "--json"), "the run to start")
        run_id = runs[0]["run_id"]
        if wanted:
            project.wait_for(
                proc,
                lambda: len(completed(project.peek("runs", "show", run_id, "--json") or {"steps": []})) >= wanted,
                f"{wanted} completed steps",
            )
    finally:
        proc.kill()  # SIGKILL: no cleanup, no final write
        proc.communicate()
        project.config.write_text(scenario_yaml())
    assert proc.returncode == -9
    shown = project.cli("runs", "show", run_id, "--json")
    assert shown.returncode == 0, shown.stderr
    before: dict[str, Any] = json.loads(shown.stdout)
    return run_id, before


def check_resumed(before: dict[str, Any], after: dict[str, Any], reference: dict[str, Any]) -> None:
    assert after["status"] == "completed", after["error"]
    assert after["error"] is None
    assert after["run_id"] == before["run_id"]
    was = {s["agent_id"]: s for s in before["steps"]}
    for step in after["steps"]:
        old = was[step["agent_id"]]
        assert step["status"] == "completed"
        if old["status"] == "completed":
            # Committed before the kill: never executed again.
            assert step["attempts"] == old["attempts"], step
            assert step["output"] == old["output"]
            assert step["finished_at"] == old["finished_at"]
        elif old["status"] == "running":
            assert step["attempts"] == old["attempts"] + 1, step  # the step in flight runs again
        else:
            assert old["status"] == "pending" and step["attempts"] == 1, step
    assert after["final_output"] == reference["final_output"]
    assert [s["output"] for s in after["steps"]] == [s["output"] for s in reference["steps"]]


RANDOM_POINT = session_random(__name__).randint(1, 7)
KILL_POINTS = [
    pytest.param(0, id="right-after-start"),
    pytest.param(2, id="mid-chain"),
    pytest.param(6, id="diamond-branches-in-flight"),
    pytest.param(8, id="during-the-last-step"),
    pytest.param(RANDOM_POINT, id=f"random-point-{RANDOM_POINT}"),
]


@pytest.mark.parametrize("wanted", KILL_POINTS)
def test_sigkill_then_resume_completes_without_redoing_committed_steps(
    tmp_path: Path, reference: dict[str, Any], wanted: int
) -> None:
    project = Project(tmp_path / "project", scenario_yaml())
    run_id, before = kill_after(project, wanted)
    assert before["status"] == "interrupted"
    assert completed(before) == AGENTS[:wanted]
    assert [s["agent_id"] for s in before["steps"] if s["status"] == "running"] == held_after(wanted)

    assert all(s["attempts"] == 1 for s in before["steps"] if s["status"] == "completed")
    assert project.peek("runs", "list", "--json")[0]["status"] == "interrupted"

    resumed = project.cli("runs", "resume", run_id, "--json")
    assert resumed.returncode == 0, resumed.stderr
    after = json.loads(resumed.stdout)
    check_resumed(before, after, reference)
    assert project.peek("runs", "show", run_id, "--json") == after


def test_a_resume_killed_in_turn_is_resumed_again(tmp_path: Path, reference: dict[str, Any]) -> None:
    project = Project(tmp_path / "project", scenario_yaml())
    run_id, first = kill_after(project, 3)
    # The resume commits two more steps, then it is killed in turn.
    _, second = kill_after(project, 5, "runs", "resume", run_id, "--json")
    assert second["status"] == "interrupted"
    assert completed(second) == AGENTS[:5]
    resumed = project.cli("runs", "resume", run_id, "--json")
    assert resumed.returncode == 0, resumed.stderr
    after = json.loads(resumed.stdout)
    check_resumed(second, after, reference)
    # Steps committed by the first process were not redone by either resume.
    for agent in completed(first):
        step = next(s for s in after["steps"] if s["agent_id"] == agent)
        assert step["attempts"] == 1


def test_a_running_run_cannot_be_resumed_from_another_process(tmp_path: Path) -> None:
    # The step's tool call waits for a file the test writes: the step is in flight until then, however
    # long the refused resume takes to start on a loaded machine.
    held = textwrap.dedent(
        """\
        agents:
          - id: slow
            provider: mock
            tools: [bash]
            options: {tool_calls: [{name: bash, arguments: {command: "until [ -e release ]; do sleep 0.05; done"}}]}
        workflows:
          - {id: pipeline, agents: [slow], workspace: work}
        """
    )
    project = Project(tmp_path / "project", held)
    release = project.root / "work" / "release"
    release.parent.mkdir()
    proc = project.start()
    try:
        runs = project.wait_for(proc, lambda: project.peek("runs", "list", "--json"), "the run to start")
        run_id = runs[0]["run_id"]
        clash = project.cli("runs", "resume", run_id, "--json")
        show = project.peek("runs", "show", run_id, "--json")
    finally:
        release.touch()
        out, err = proc.communicate(timeout=60)
    assert clash.returncode == 2
    assert "being executed by another process" in clash.stderr
    # The refused resume changed nothing: the owner still runs its step, and ran it once.
    assert show["status"] == "running"
    assert proc.returncode == 0, err
    final = json.loads(out)
    assert final["status"] == "completed"
    assert [s["attempts"] for s in final["steps"]] == [1]


def test_the_scenario_validates(tmp_path: Path) -> None:
    project = Project(tmp_path / "project", scenario_yaml())
    result = project.cli("validate")
    assert result.returncode == 0, result.stderr
    assert textwrap.dedent(scenario_yaml()).count("provider: mock") == len(AGENTS)
