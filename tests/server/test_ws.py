"""GET /ws: snapshot, live run frames, workflow and chat commands, errors, reconnects."""

from __future__ import annotations

import json

import pytest
from tests.server.support import Daemon, recv_until, wait_run

pytestmark = pytest.mark.slow


def subscribe(ws, **selection: object) -> dict[str, object]:  # type: ignore[no-untyped-def]
    ws.send(json.dumps({"cmd": "subscribe", **selection}))
    recv_until(ws, "subscribed")
    snapshot, _ = recv_until(ws, "snapshot")
    return snapshot


def test_ready_then_snapshot_of_agents(daemon: Daemon) -> None:
    with daemon.ws() as ws:
        ready, _ = recv_until(ws, "ready")
        snapshot = subscribe(ws, runs="*", agents="*")
    assert ready["agents"] == sorted(["assistant", "tooler", "researcher", "summarizer", "broken"])
    assert ready["workflows"] == ["research", "fails"]
    assert {a["agent_id"] for a in snapshot["agents"]} == set(ready["agents"])
    assert isinstance(snapshot["runs"], list)


def test_run_workflow_command_streams_the_run(daemon: Daemon) -> None:
    with daemon.ws() as ws:
        subscribe(ws, runs=[], agents=[])
        ws.send(json.dumps({"cmd": "run-workflow", "id": "research", "input": "WAL", "ref": 7}))
        started, _ = recv_until(ws, "workflow-started")
        _done, frames = recv_until(ws, "run-status", run_id=started["run_id"], status="completed")
    assert started["ref"] == 7 and started["workflow_id"] == "research"
    kinds = [f["kind"] for f in frames]
    assert {"step-status", "token", "event", "llm-call"} <= set(kinds)
    steps = [(f["agent_id"], f["status"]) for f in frames if f["kind"] == "step-status"]
    assert steps == [
        ("researcher", "running"),
        ("researcher", "completed"),
        ("summarizer", "running"),
        ("summarizer", "completed"),
    ]
    tokens = "".join(f["delta"] for f in frames if f["kind"] == "token" and f["agent_id"] == "researcher")
    assert tokens == "[researcher] WAL"
    assert all(f.get("run_id") == started["run_id"] for f in frames if f["kind"] != "agent-status")


def test_watch_a_workflow_started_over_http(daemon: Daemon) -> None:
    with daemon.ws() as ws, daemon.client() as client:
        subscribe(ws, runs="*")
        run_id = client.post("/api/workflows/research/execute", json={"input": "http"}).json()["run_id"]
        _done, frames = recv_until(ws, "run-status", run_id=run_id, status="completed")
        run = wait_run(client, run_id)
    assert any(f["kind"] == "run-status" and f["status"] == "running" for f in frames)
    completed = [f for f in frames if f["kind"] == "step-status" and f["status"] == "completed"]
    assert [f["output"] for f in completed] == [s["output"] for s in run["steps"]]


def test_agent_subscription_gets_agent_frames_only(daemon: Daemon) -> None:
    with daemon.ws() as ws, daemon.client() as client:
        subscribe(ws, agents=["summarizer"])
        run_id = client.post("/api/workflows/research/execute", json={"input": "agents"}).json()["run_id"]
        status, frames = recv_until(ws, "step-status", agent_id="summarizer", status="completed")
        agent_frame, _ = recv_until(ws, "agent-status", agent_id="summarizer")
    assert status["run_id"] == run_id
    assert all(f.get("agent_id") == "summarizer" for f in frames)
    assert agent_frame["agent"]["agent_id"] == "summarizer"


def test_reconnect_gets_a_fresh_snapshot_with_the_running_run(daemon: Daemon) -> None:
    with daemon.client() as client:
        with daemon.ws() as ws:
            subscribe(ws, runs="*")
            run_id = client.post("/api/workflows/research/execute", json={"input": "reconnect"}).json()["run_id"]
            recv_until(ws, "step-status", run_id=run_id, agent_id="researcher", status="completed")
        with daemon.ws() as ws:
            snapshot = subscribe(ws, runs="*", agents="*")
        wait_run(client, run_id)
    runs = {r["run_id"]: r for r in snapshot["runs"]}
    assert run_id in runs
    steps = {s["agent_id"]: s["status"] for s in runs[run_id]["steps"]}
    assert steps["researcher"] == "completed"
    assert steps["summarizer"] in ("running", "completed")


def test_snapshot_of_a_finished_run_by_id(daemon: Daemon) -> None:
    with daemon.client() as client:
        run = client.post("/api/workflows/research/execute", params={"wait": "true"}, json={"input": "done"}).json()
    with daemon.ws() as ws:
        snapshot = subscribe(ws, runs=[run["run_id"]])
    assert snapshot["runs"] == [run]


def test_chat_turn_streams_and_finishes(daemon: Daemon) -> None:
    with daemon.ws() as ws:
        ws.send(json.dumps({"cmd": "chat-turn", "agent": "tooler", "content": "use a tool"}))
        start, _ = recv_until(ws, "chat-start")
        done, frames = recv_until(ws, "chat-done")
    kinds = [f["kind"] for f in frames]
    assert kinds.index("chat-tool-start") < kinds.index("chat-tool-result") < len(kinds)
    assert "chat-token" in kinds
    assert done["content"] == 'tool said {"text": "ping"}'
    assert done["usage"]["total"] > 0
    assert start["turn_id"] == done["turn_id"]


def test_chat_errors(daemon: Daemon) -> None:
    with daemon.ws() as ws:
        ws.send(json.dumps({"cmd": "chat-turn", "agent": "broken", "content": "x"}))
        error, _ = recv_until(ws, "chat-error")
        ws.send(json.dumps({"cmd": "chat-turn", "agent": "asistant", "content": "x"}))
        unknown, _ = recv_until(ws, "error")
    assert "mock provider was asked to fail" in error["error"]
    assert "did you mean 'assistant'" in unknown["hint"]


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("{not json", "bad command: not JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"cmd": "dance"}', "unknown cmd 'dance'"),
        ('{"nocmd": 1}', "unknown cmd missing"),
        ('{"cmd": "subscribe", "runs": 5}', 'subscribe "runs" must be'),
        ('{"cmd": "run-workflow"}', 'run-workflow needs "id"'),
        ('{"cmd": "run-workflow", "id": "nope"}', "unknown workflow 'nope'"),
        ('{"cmd": "chat-turn", "agent": "assistant"}', 'needs "content"'),
        ('{"cmd": "chat-stop"}', "no chat turn is running"),
    ],
)
def test_bad_commands_get_error_frames_and_the_connection_stays(daemon: Daemon, message: str, expected: str) -> None:
    with daemon.ws() as ws:
        recv_until(ws, "ready")
        ws.send(message)
        error, _ = recv_until(ws, "error")
        ws.send(json.dumps({"cmd": "ping", "ref": "still-there"}))
        pong, _ = recv_until(ws, "pong")
    assert expected in error["message"]
    assert pong["ref"] == "still-there"


def test_binary_frames_are_refused(daemon: Daemon) -> None:
    with daemon.ws() as ws:
        ws.send(b"\x00\x01")
        error, _ = recv_until(ws, "error")
    assert "JSON text frames" in error["message"]
