"""Control flow through a daemon in a subprocess: fork and history over HTTP, answers over HTTP and the
WebSocket, and a daemon killed (SIGKILL) while a run waits for its answer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.server.support import Daemon, recv_until, running_daemon, wait_run

pytestmark = pytest.mark.slow

FLOW = """
agents:
  - id: writer
    provider: mock
    options: {reply: "draft about {input_head}"}
  - id: editor
    provider: mock
    depends_on: [writer]
    interrupt: {when: before, question: "Go ahead?"}
  - id: publisher
    provider: mock
    depends_on: [editor]
  - id: first
    provider: mock
  - id: second
    provider: mock
    depends_on: [first]
  - id: quick
    provider: mock
    options: {reply: "quick {input_head}"}
  - id: late
    provider: mock
    depends_on: [quick]
    interrupt: {when: before, timeout_secs: 1, on_timeout: answer, default_answer: "nobody objected"}
workflows:
  - id: review
    agents: [writer, editor, publisher]
  - id: chain
    agents: [first, second]
  - id: deadline
    agents: [quick, late]
"""


def test_fork_history_and_answer_over_http(tmp_path: Path) -> None:
    with running_daemon(tmp_path, FLOW) as daemon, daemon.client() as client:
        done = client.post("/api/workflows/chain/execute?wait=true", json={"input": "tea"}).json()
        assert done["status"] == "completed"
        history = client.get(f"/api/runs/{done['run_id']}/history").json()
        assert [c["step"] for c in history["checkpoints"]] == ["first", "second"]
        assert history["checkpoints"][1]["fork_reuses"] == ["first"]
        forked = client.post(
            f"/api/runs/{done['run_id']}/fork?wait=true", json={"from_step": "second", "input": "coffee"}
        )
        assert forked.status_code == 200, forked.text
        fork = forked.json()
        assert (fork["parent_run_id"], fork["parent_step"], fork["relation"]) == (done["run_id"], "second", "fork")
        assert fork["steps"][0]["reused_from"] == done["run_id"]
        assert "Original task: coffee" in fork["steps"][1]["input"]
        bad = client.post(f"/api/runs/{done['run_id']}/fork", json={"from_step": "nope"})
        assert bad.status_code == 404 and "no step 'nope'" in bad.json()["error"]
        assert client.post(f"/api/runs/{done['run_id']}/fork", json={}).status_code == 422

        started = client.post("/api/workflows/review/execute", json={"input": "tea"}).json()
        waiting = wait_run(client, started["run_id"], statuses=("waiting",))
        assert waiting["steps"][1]["question"] == "Go ahead?"
        assert client.get("/api/runs?status=waiting").json()[0]["run_id"] == started["run_id"]
        wrong = client.post(f"/api/runs/{started['run_id']}/answer", json={"answer": "x", "step": "writer"})
        assert wrong.status_code == 404 and "editor" in wrong.json()["hint"]
        conflict = client.post(f"/api/runs/{done['run_id']}/answer", json={"answer": "x"})
        assert conflict.status_code == 409 and "not waiting" in conflict.json()["error"]
        answered = client.post(
            f"/api/runs/{started['run_id']}/answer?wait=true", json={"answer": "go", "step": "editor"}
        )
        assert answered.status_code == 200, answered.text
        assert answered.json()["status"] == "completed"
        assert answered.json()["steps"][1]["answer"] == "go"

        # The daemon applies the deadline by itself: on_timeout answer goes on with the default answer.
        timed = client.post("/api/workflows/deadline/execute", json={"input": "x"}).json()
        run = wait_run(client, timed["run_id"], timeout=30)
        assert run["status"] == "completed" and run["steps"][1]["answer"] == "nobody objected"


def test_answer_over_the_websocket(tmp_path: Path) -> None:
    with running_daemon(tmp_path, FLOW) as daemon, daemon.client() as client:
        started = client.post("/api/workflows/review/execute", json={"input": "tea"}).json()
        wait_run(client, started["run_id"], statuses=("waiting",))
        with daemon.ws() as ws:
            recv_until(ws, "ready")
            ws.send(json.dumps({"cmd": "answer", "run_id": started["run_id"], "answer": "ship it", "ref": 7}))
            frame, _ = recv_until(ws, "answered")
            assert frame["ref"] == 7 and frame["run_id"] == started["run_id"]
            recv_until(ws, "run-status", status="completed", run_id=started["run_id"])
            ws.send(json.dumps({"cmd": "answer", "run_id": started["run_id"], "answer": "again"}))
            error, _ = recv_until(ws, "error")
            assert "not waiting for an answer" in error["message"]
        assert wait_run(client, started["run_id"])["steps"][1]["answer"] == "ship it"


def test_a_waiting_run_survives_a_killed_daemon(tmp_path: Path) -> None:
    with running_daemon(tmp_path, FLOW) as daemon, daemon.client() as client:
        started = client.post("/api/workflows/review/execute", json={"input": "tea"}).json()
        before = wait_run(client, started["run_id"], statuses=("waiting",))
        daemon.kill()  # SIGKILL while the run waits
    again = Daemon(tmp_path).start()
    try:
        with again.client() as client:
            # Not taken for an interrupted run by the new daemon's resume pass: it still waits.
            assert client.get("/api/runs?status=interrupted").json() == []
            shown = client.get(f"/api/runs/{started['run_id']}").json()
            assert shown["status"] == "waiting"
            assert shown["steps"] == before["steps"]
            done = client.post(f"/api/runs/{started['run_id']}/answer?wait=true", json={"answer": "yes"}).json()
        assert done["status"] == "completed"
        writer, editor, publisher = done["steps"]
        assert writer["attempts"] == 1 and writer["output"] == before["steps"][0]["output"]
        assert editor["attempts"] == 1 and editor["input"].endswith("Human answer: yes")
        assert publisher["status"] == "completed"
    finally:
        again.stop()
