"""Routes that start runs: 202, ?wait=true, or the run streamed as Server-Sent Events; /api/skills."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.server.support import Daemon, running_daemon, wait_run

pytestmark = pytest.mark.slow

CONFIG = """
agents:
  - id: researcher
    provider: mock
    options: {latency_ms: 200}
  - id: summarizer
    provider: mock
    depends_on: [researcher]
    options: {latency_ms: 200}
  - id: broken
    provider: mock
    options: {fail: true}
  - id: responder
    provider: mock
    options: {reply: "on it: {input_head}"}
skills:
  - id: alert
    description: raise the alarm
    emits: [alarm]
  - id: respond
    reacts_to: [alarm]
    agents: [responder]
  - id: shout
    emits: [nobody-listens]
workflows:
  - id: research
    agents: [researcher, summarizer]
  - id: fails
    agents: [broken]
consolidation: {enabled: false}
"""
SSE = {"accept": "text/event-stream"}


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    directory: Path = tmp_path_factory.mktemp("streams")
    with running_daemon(directory, CONFIG) as d:
        yield d


def read_sse(client: httpx.Client, path: str, body: Any = None) -> list[tuple[str, dict[str, Any]]]:
    """POST with Accept: text/event-stream; every (event, data) pair until the server ends the stream."""
    events: list[tuple[str, dict[str, Any]]] = []
    with client.stream("POST", path, json=body, headers=SSE) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        name, data = "message", []
        for line in response.iter_lines():
            if not line:
                if data:
                    events.append((name, json.loads("\n".join(data))))
                name, data = "message", []
            elif line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
    return events


def test_openapi_lists_the_skill_routes(daemon: Daemon) -> None:
    with daemon.client() as client:
        spec = client.get("/openapi.json").json()
    assert "/api/skills" in spec["paths"] and "/api/skills/{skill_id}/fire" in spec["paths"]
    for path in ("/api/workflows/{workflow_id}/execute", "/api/runs/{run_id}/resume", "/api/skills/{skill_id}/fire"):
        post = spec["paths"][path]["post"]
        assert "text/event-stream" in post["responses"]["200"]["content"], path
        assert "wait" in [p["name"] for p in post.get("parameters", [])], path


def test_workflow_execute_streams_the_run_then_its_json(daemon: Daemon) -> None:
    with daemon.client() as client:
        events = read_sse(client, "/api/workflows/research/execute", {"input": "streamed"})
        names = [name for name, _ in events]
        assert names[0] == "started" and names[-1] == "done" and set(names[1:-1]) == {"event"}
        started, done = events[0][1], events[-1][1]
        run_id = started["run_id"]
        assert started["status"] == "running" and [s["agent_id"] for s in started["steps"]] == [
            "researcher",
            "summarizer",
        ]
        types = [data["type"] for name, data in events if name == "event"]
        assert all(data["run_id"] == run_id for name, data in events if name == "event")
        assert types[0] == "RunStarted" and types[-1] == "WorkflowCompleted"
        assert types.index("AgentActivated") < types.index("TaskCompleted")
        assert {"LLMCallFinished", "TokenDelta"} <= set(types)
        assert done == client.get(f"/api/runs/{run_id}").json()
        assert done["status"] == "completed"


def test_concurrent_streams_carry_only_their_own_run(daemon: Daemon) -> None:
    with daemon.client() as client, ThreadPoolExecutor(3) as pool:
        streams = list(
            pool.map(lambda n: read_sse(client, "/api/workflows/research/execute", {"input": f"n{n}"}), range(3))
        )
    for events in streams:
        run_id = events[0][1]["run_id"]
        assert {data["run_id"] for name, data in events if name == "event"} == {run_id}
        assert events[-1][0] == "done" and events[-1][1]["input"] in ("n0", "n1", "n2")
    assert len({events[0][1]["run_id"] for events in streams}) == 3


def test_a_failed_run_streams_done_with_the_failed_run_and_resume_streams_too(daemon: Daemon) -> None:
    with daemon.client() as client:
        events = read_sse(client, "/api/workflows/fails/execute", {"input": "x"})
        failed = events[-1]
        assert failed[0] == "done" and failed[1]["status"] == "failed"
        run_id = failed[1]["run_id"]
        resumed = read_sse(client, f"/api/runs/{run_id}/resume")
        assert resumed[0][0] == "started" and resumed[0][1]["run_id"] == run_id
        types = [data["type"] for name, data in resumed if name == "event"]
        assert types[0] == "RunResumed" and "AgentFailed" in types
        assert resumed[-1][0] == "done" and resumed[-1][1]["steps"][0]["attempts"] == 2
        waited = client.post(f"/api/runs/{run_id}/resume", params={"wait": "true"})
        assert waited.status_code == 200 and waited.json()["steps"][0]["attempts"] == 3


def test_refusals_answer_json_not_a_stream(daemon: Daemon) -> None:
    with daemon.client() as client:
        unknown = client.post("/api/workflows/reserch/execute", json={"input": "x"}, headers=SSE)
        done = client.post("/api/workflows/research/execute", params={"wait": "true"}, json={"input": "once"})
        again = client.post(f"/api/runs/{done.json()['run_id']}/resume", headers=SSE)
    assert unknown.status_code == 404 and "did you mean 'research'" in unknown.json()["hint"]
    assert again.status_code == 409 and "already completed" in again.json()["error"]


def test_skills_list_and_fire(daemon: Daemon) -> None:
    with daemon.client() as client:
        skills = client.get("/api/skills").json()
        started = client.post("/api/skills/alert/fire", json={"input": "fire!"})
        assert started.status_code == 202, started.text
        run = wait_run(client, started.json()["run_id"])
        waited = client.post("/api/skills/alert/fire", params={"wait": "true"})  # no body: empty input
        streamed = read_sse(client, "/api/skills/alert/fire", {"input": "live"})
        unknown = client.post("/api/skills/alrt/fire", json={})
        silent = client.post("/api/skills/shout/fire", json={})
        bad = client.post("/api/skills/alert/fire", json={"input": 5})
        extra = client.post("/api/skills/alert/fire", json={"input": "x", "urgent": True})
    assert [s["id"] for s in skills] == ["alert", "respond", "shout"]
    assert skills[0] == {
        "id": "alert",
        "name": None,
        "description": "raise the alarm",
        "emits": ["alarm"],
        "reacts_to": [],
        "agents": [],
        "prompt": "",
    }
    assert started.json() == {"run_id": run["run_id"], "workflow_id": "skill:alert", "status": "running"}
    assert run["status"] == "completed" and run["steps"][0]["output"] == "on it: fire!"
    assert waited.status_code == 200 and waited.json()["status"] == "completed"
    assert streamed[0][0] == "started" and streamed[-1][1]["steps"][0]["output"] == "on it: live"
    assert unknown.status_code == 404 and "did you mean 'alert'" in unknown.json()["hint"]
    assert silent.status_code == 409 and "no agent holds a skill reacting" in silent.json()["error"]
    assert bad.status_code == 422 and bad.json()["field"] == "body.input"
    assert extra.status_code == 422 and extra.json()["field"] == "body.urgent"
