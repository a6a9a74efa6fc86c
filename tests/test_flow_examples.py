"""The control-flow examples (examples/control-flow/*) validate and do what their README says, on the mock."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import run_cli

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "control-flow"


def cli(name: str, tmp_path: Path, *args: str, code: int = 0) -> Any:
    config = EXAMPLES / name / "axocoatl.yaml"
    result = run_cli("--config", str(config), "--data-dir", str(tmp_path / "data"), *args, cwd=tmp_path)
    assert result.returncode == code, result.stderr
    return json.loads(result.stdout) if "--json" in args else result.stdout


def statuses(run: dict[str, Any]) -> dict[str, str]:
    return {s["agent_id"]: s["status"] for s in run["steps"]}


@pytest.mark.parametrize("name", ["conditions", "map", "interrupt", "ask-human", "subworkflow", "fork"])
def test_every_control_flow_example_validates(name: str, tmp_path: Path) -> None:
    assert "valid" in cli(name, tmp_path, "validate")


def test_conditions_example(tmp_path: Path) -> None:
    run = cli("conditions", tmp_path, "workflow", "run", "ticket", "-i", "charged twice", "--json")
    assert run["status"] == "completed"
    assert statuses(run) == {
        "triage": "completed",
        "scorer": "completed",
        "billing": "completed",
        "technical": "skipped",
        "escalate": "completed",
        "reply": "completed",
    }
    technical = next(s for s in run["steps"] if s["agent_id"] == "technical")
    assert technical["error"].startswith("condition: triage's output")


def test_map_example(tmp_path: Path) -> None:
    run = cli("map", tmp_path, "workflow", "run", "trip", "-i", "Portugal", "--json")
    items = [s for s in run["steps"] if s["item"] is not None]
    assert [s["item"] for s in items] == [0, 1, 2, 3, 4]
    assert "city 3 of 5: Coimbra" in items[2]["input"]
    guide = next(s for s in run["steps"] if s["agent_id"] == "guide")
    assert json.loads(guide["output"]) == [s["output"] for s in items]


def test_interrupt_example(tmp_path: Path) -> None:
    run = cli("interrupt", tmp_path, "workflow", "run", "post", "-i", "release", "--json")
    assert run["status"] == "waiting" and statuses(run)["editor"] == "waiting"
    run = cli("interrupt", tmp_path, "runs", "answer", run["run_id"], "editor", "-m", "ok", "--json")
    assert run["status"] == "waiting" and statuses(run)["legal"] == "waiting"
    assert next(s for s in run["steps"] if s["agent_id"] == "legal")["wait_until"]
    # The hint of how to answer names this project, so it works pasted from any directory.
    config, data = EXAMPLES / "interrupt" / "axocoatl.yaml", tmp_path / "data"
    shown = cli("interrupt", tmp_path, "runs", "show", run["run_id"])
    assert f"answer with: axocoatl -c {config} --data-dir {data} runs answer {run['run_id']} legal -m TEXT" in shown
    run = cli("interrupt", tmp_path, "runs", "answer", run["run_id"], "-m", "cleared", "--json")
    assert run["status"] == "completed"


def test_ask_human_example(tmp_path: Path) -> None:
    run = cli("ask-human", tmp_path, "workflow", "run", "trip", "-i", "Lisbon in May", "--json")
    assert run["status"] == "waiting" and statuses(run) == {"planner": "waiting", "booker": "pending"}
    planner = run["steps"][0]
    assert planner["question"] == "Which budget should the trip fit, in euros?" and planner["wait_until"]
    run = cli("ask-human", tmp_path, "runs", "answer", run["run_id"], "-m", "900", "--json")
    assert run["status"] == "completed"
    assert run["steps"][0]["output"] == "Plan for a budget of 900"
    assert "Plan for a budget of 900" in run["steps"][1]["output"]


def test_subworkflow_example(tmp_path: Path) -> None:
    run = cli("subworkflow", tmp_path, "workflow", "run", "article", "-i", "WAL", "--json")
    assert run["status"] == "completed"
    runs = cli("subworkflow", tmp_path, "runs", "list", "--json")
    child = next(r for r in runs if r["relation"] == "child")
    assert (child["parent_run_id"], child["parent_step"], child["workflow_id"]) == (
        run["run_id"],
        "research",
        "deep-dive",
    )


def test_fork_example(tmp_path: Path) -> None:
    run = cli("fork", tmp_path, "workflow", "run", "essay", "-i", "tides", "--json")
    history = cli("fork", tmp_path, "runs", "history", run["run_id"], "--json")
    assert [c["step"] for c in history["checkpoints"]] == ["research", "draft", "polish"]
    fork = cli(
        "fork", tmp_path, "runs", "fork", run["run_id"], "--from", "draft", "-i", "tides, for children", "--json"
    )
    research = fork["steps"][0]
    assert research["reused_from"] == run["run_id"] and research["tokens"] == {"input": 0, "output": 0}
    assert "tides, for children" in fork["steps"][1]["input"]
    shown = cli("fork", tmp_path, "runs", "show", fork["run_id"])
    assert f"a fork of {run['run_id']} from draft" in shown
    assert f"research — completed, attempts 0, 0/0 tokens · reused from {run['run_id']}" in shown
    assert "draft — completed, attempts 1" in shown and "reused" not in shown.split("draft — ")[1]
