"""A coordinator run as a user sees it: `workflow run` shows the plan, the bids and each worker's
progress; `runs show` lists the subtasks; `runs show --json` has the plan; the daemon's WebSocket
sends coordinator-plan, coordinator-bid and subtask frames."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.e2e.support import Project
from tests.server.support import recv_until, running_daemon

pytestmark = pytest.mark.slow

CONFIG = """\
agents:
  - id: boss
    provider: mock
    role: coordinator
  - id: searcher
    provider: mock
    role: worker
    tools: [web_search, echo]
    options: {tool_calls: [{name: echo, arguments: {text: looked it up}}]}
  - id: reader
    provider: mock
    role: worker
    tools: [read_file, web_search]
    options: {fail_when: "Read the files"}
workflows:
  - id: team
    agents: [boss, searcher, reader]
    htn_methods_file: methods.yaml
    goal_task: report
    retries: 0
"""
METHODS = """\
- task_pattern: report
  subtasks:
    - {name: search, parameters: {description: Search the web, tools: [web_search]}}
    - {name: read, parameters: {description: Read the files, tools: [read_file]}}
    - {name: write, parameters: {description: Write it up}, after: [search]}
"""


def project_at(root: Path) -> Project:
    project = Project(root, CONFIG)
    (root / "methods.yaml").write_text(METHODS)
    return project


def test_workflow_run_and_runs_show_display_the_pass(tmp_path: Path) -> None:
    project = project_at(tmp_path)
    result = project.cli("workflow", "run", "team", "-i", "report on tides")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "▤ plan (htn): 3 subtask(s): search, read, write (after search)" in out
    assert "⚖ search → searcher 0.95 (runner-up: reader 0.95)" in out
    assert "⚖ read → reader 0.95\n" in out
    assert "▶ search on searcher (attempt 1)" in out
    assert "✓ search by searcher (" in out
    assert "✗ read by reader failed: the mock provider was asked to fail" in out
    assert "2/3 subtasks" in out

    listed = json.loads(project.cli("runs", "list", "--json").stdout)
    run_id = listed[0]["run_id"]
    shown = project.cli("runs", "show", run_id)
    assert shown.returncode == 0, shown.stderr
    assert "plan (htn, root task report)" in shown.stdout
    assert "search — completed, worker searcher score 0.95, attempts 1" in shown.stdout
    assert "read tools read_file — failed, worker reader score 0.95, attempts 1" in shown.stdout
    assert "attempt 1 (reader): " in shown.stdout
    assert "searcher (worker) tool calls" in shown.stdout and "echo" in shown.stdout
    data = json.loads(project.cli("runs", "show", run_id, "--json").stdout)
    plan = data["plan"]
    assert [(t["id"], t["status"], t["worker"], len(t["attempts"])) for t in plan["tasks"]] == [
        ("search", "completed", "searcher", 1),
        ("read", "failed", "reader", 1),
        ("write", "completed", "searcher", 1),
    ]
    assert plan["bids"][0]["bids"] == [{"worker": "searcher", "score": 0.95}, {"worker": "reader", "score": 0.95}]


def test_websocket_frames_of_a_coordinator_run(tmp_path: Path) -> None:
    (tmp_path / "methods.yaml").parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / "methods.yaml").write_text(METHODS)
    with running_daemon(tmp_path, CONFIG) as daemon, daemon.ws() as ws:
        ws.send(json.dumps({"cmd": "subscribe", "runs": [], "agents": []}))
        recv_until(ws, "snapshot")
        ws.send(json.dumps({"cmd": "run-workflow", "id": "team", "input": "report on tides"}))
        started, _ = recv_until(ws, "workflow-started")
        _, frames = recv_until(ws, "run-status", run_id=started["run_id"], status="completed")
        with daemon.client() as client:
            shown = client.get(f"/api/runs/{started['run_id']}").json()
    assert [t["status"] for t in shown["plan"]["tasks"]] == ["completed", "failed", "completed"]
    [plan] = [f for f in frames if f["kind"] == "coordinator-plan"]
    assert plan["source"] == "htn" and [t["id"] for t in plan["tasks"]] == ["search", "read", "write"]
    bids = [f for f in frames if f["kind"] == "coordinator-bid"]
    assert [(b["task"], b["winner"], b["adhoc"]) for b in bids] == [
        ("search", "searcher", False),
        ("read", "reader", False),
        ("write", "searcher", False),
    ]
    subtasks = [(f["task"], f["phase"], f.get("status")) for f in frames if f["kind"] == "subtask"]
    assert ("search", "start", None) in subtasks and ("search", "finish", "completed") in subtasks
    assert ("read", "finish", "failed") in subtasks
    assert subtasks.index(("search", "finish", "completed")) < subtasks.index(("write", "start", None))
    finish = next(f for f in frames if f["kind"] == "subtask" and f["task"] == "read" and f["phase"] == "finish")
    assert finish["agent_id"] == "reader" and "asked to fail" in finish["error"] and finish["retry"] is False


def test_a_snapshot_of_running_runs_has_the_coordinators_plan(tmp_path: Path) -> None:
    (tmp_path / "methods.yaml").write_text(METHODS)
    slow = CONFIG.replace("    options: {tool_calls:", "    options: {latency_ms: 1500, tool_calls:")
    with running_daemon(tmp_path, slow) as daemon, daemon.ws() as ws:
        ws.send(json.dumps({"cmd": "subscribe", "runs": [], "agents": []}))
        recv_until(ws, "snapshot")
        ws.send(json.dumps({"cmd": "run-workflow", "id": "team", "input": "report on tides"}))
        started, _ = recv_until(ws, "workflow-started")
        recv_until(ws, "subtask", phase="start", task="search")
        with daemon.ws() as watcher:
            watcher.send(json.dumps({"cmd": "subscribe", "runs": "*", "agents": []}))
            snapshot, _ = recv_until(watcher, "snapshot")
        recv_until(ws, "run-status", run_id=started["run_id"], status="completed")
    [run] = [r for r in snapshot["runs"] if r["run_id"] == started["run_id"]]
    assert run["status"] == "running"
    assert [t["id"] for t in run["plan"]["tasks"]] == ["search", "read", "write"]
