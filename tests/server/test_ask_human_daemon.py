"""The ask_human tool through a daemon in a subprocess: a question asked by a step waits across a killed
daemon (SIGKILL), is answered over HTTP after the restart, and was asked (and paid for) once."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from tests.server.support import Daemon, recv_until, running_daemon, wait_run

pytestmark = pytest.mark.slow

ASK = {"name": "ask_human", "arguments": {"question": "Which colour?"}}
FLOW = f"""
agents:
  - id: asker
    provider: mock
    tools: [ask_human]
    options: {{tool_calls: {json.dumps([ASK])}, reply: "chose {{tool_result}}"}}
  - id: painter
    provider: mock
    depends_on: [asker]
    options: {{reply: "painted: {{input_head}}"}}
workflows:
  - id: paint
    agents: [asker, painter]
"""


def test_a_question_survives_a_killed_daemon_and_is_asked_once(tmp_path: Path) -> None:
    with running_daemon(tmp_path, FLOW) as daemon, daemon.client() as client:
        started = client.post("/api/workflows/paint/execute", json={"input": "the shed"}).json()
        before = wait_run(client, started["run_id"], statuses=("waiting",))
        asker = before["steps"][0]
        assert (asker["status"], asker["question"]) == ("waiting", "Which colour?")
        assert client.get("/api/runs?status=waiting").json()[0]["run_id"] == started["run_id"]
        daemon.kill()  # SIGKILL while the question waits
    again = Daemon(tmp_path).start()
    try:
        with again.client() as client:
            assert client.get("/api/runs?status=interrupted").json() == []
            shown = client.get(f"/api/runs/{started['run_id']}").json()
            assert shown["status"] == "waiting" and shown["steps"] == before["steps"]
            wrong = client.post(f"/api/runs/{started['run_id']}/answer", json={"answer": "x", "step": "painter"})
            assert wrong.status_code == 404 and "asker" in wrong.json()["hint"]
            done = client.post(f"/api/runs/{started['run_id']}/answer?wait=true", json={"answer": "blue"}).json()
        assert done["status"] == "completed", done
        asker, painter = done["steps"]
        assert asker["output"] == "chose blue" and asker["answer"] == "blue"
        assert painter["output"].startswith("painted: ") and "chose blue" in painter["input"]
    finally:
        again.stop()
    db = sqlite3.connect(tmp_path / "data" / "axocoatl.db")
    try:
        asked = db.execute(
            "SELECT status, result FROM tool_journal WHERE run_id = ? AND name = 'ask_human'", (started["run_id"],)
        ).fetchall()
        llm_calls = db.execute(
            "SELECT COUNT(*) FROM token_ledger WHERE run_id = ? AND agent_id = 'asker'", (started["run_id"],)
        ).fetchone()[0]
    finally:
        db.close()
    assert asked == [("done", "blue")]  # one question record, answered
    assert llm_calls == 2  # the round that asked (replayed after the answer, not called again) and the reply


def test_answer_a_question_over_the_websocket(tmp_path: Path) -> None:
    with running_daemon(tmp_path, FLOW) as daemon, daemon.client() as client:
        started = client.post("/api/workflows/paint/execute", json={"input": "the shed"}).json()
        wait_run(client, started["run_id"], statuses=("waiting",))
        with daemon.ws() as ws:
            recv_until(ws, "ready")
            ws.send(json.dumps({"cmd": "answer", "run_id": started["run_id"], "answer": "green", "ref": 3}))
            frame, _ = recv_until(ws, "answered")
            assert frame["ref"] == 3
            recv_until(ws, "run-status", status="completed", run_id=started["run_id"])
        assert wait_run(client, started["run_id"])["steps"][0]["output"] == "chose green"
