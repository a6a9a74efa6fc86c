"""The HTTP API of a daemon running in a subprocess: shapes, JSON errors, SSE, workflows and runs."""

from __future__ import annotations

import json

import httpx
import pytest
from tests.contracts import check_run_contract
from tests.server.support import Daemon, wait_run

pytestmark = pytest.mark.slow


def assert_error(response: httpx.Response, status: int, *, contains: str = "") -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) >= {"error", "hint"}
    assert contains in body["error"] + (body["hint"] or "")
    return body


def test_health_is_public_and_reports_agents_and_version(daemon: Daemon) -> None:
    with daemon.client() as client:
        body = client.get("/health").json()
    assert body == {"status": "healthy", "agents": 5, "version": body["version"]}
    assert body["version"]


def test_openapi_lists_every_route(daemon: Daemon) -> None:
    with daemon.client() as client:
        spec = client.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    for path in (
        "/health",
        "/api/agents",
        "/api/agents/{agent_id}/status",
        "/api/agents/{agent_id}/execute",
        "/api/agents/{agent_id}/restart",
        "/api/agents/{agent_id}/reset",
        "/api/agents/{agent_id}/threads",
        "/api/memory/consolidate",
        "/api/tokens/report",
        "/api/workflows",
        "/api/workflows/{workflow_id}/execute",
        "/api/runs",
        "/api/runs/{run_id}",
        "/api/runs/{run_id}/resume",
        "/api/mcp/servers",
        "/api/mcp/tools",
        "/api/events/recent",
    ):
        assert path in spec["paths"], path


def test_agents_list_and_status(daemon: Daemon) -> None:
    with daemon.client() as client:
        agents = client.get("/api/agents").json()
        status = client.get("/api/agents/assistant/status").json()
    assert [a["id"] for a in agents] == ["assistant", "tooler", "researcher", "summarizer", "broken"]
    assert agents[0]["provider"] == "mock" and agents[0]["tools"] == ["echo"]
    assert status["agent_id"] == "assistant"
    assert status["status"] in ("idle", "running")
    assert status["supervision"]["restarts"] == 0
    assert set(status["usage"]) == {"input", "output", "total"}


def test_unknown_agent_is_404_with_did_you_mean(daemon: Daemon) -> None:
    with daemon.client() as client:
        body = assert_error(client.get("/api/agents/asistant/status"), 404)
        assert_error(client.post("/api/agents/nobody/execute", json={"input": "x"}), 404, contains="unknown agent")
    assert body["error"] == "unknown agent 'asistant'"
    assert "did you mean 'assistant'" in str(body["hint"])


def test_execute_returns_output_and_usage(daemon: Daemon) -> None:
    with daemon.client() as client:
        body = client.post("/api/agents/assistant/execute", json={"input": "hello"}).json()
    assert body["output"] == "Hello from assistant: hello"
    assert body["usage"]["total"] == body["usage"]["input"] + body["usage"]["output"] > 0
    assert body["stateless"] is False and body["llm_calls"] == 1


def test_any_override_implies_stateless(daemon: Daemon) -> None:
    with daemon.client() as client:
        before = client.get("/api/agents/assistant/status").json()["turns"]
        body = client.post(
            "/api/agents/assistant/execute", json={"input": "hi", "system_override": "You are terse."}
        ).json()
        after = client.get("/api/agents/assistant/status").json()["turns"]
    assert body["stateless"] is True
    assert body["output"] == "Hello from assistant: hi"
    assert after == before + 1  # the turn ran, but no session was written (checked in runtime tests)


def test_execute_streams_sse_with_tool_calls(daemon: Daemon) -> None:
    events: list[tuple[str, dict[str, object]]] = []
    with (
        daemon.client() as client,
        client.stream(
            "POST", "/api/agents/tooler/execute", json={"input": "go"}, headers={"accept": "text/event-stream"}
        ) as response,
    ):
        assert response.headers["content-type"].startswith("text/event-stream")
        name = ""
        for line in response.iter_lines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                events.append((name, json.loads(line[5:])))
    kinds = [k for k, _ in events]
    assert kinds[0] == "llm-call" or "tool-start" in kinds
    assert kinds.index("tool-start") < kinds.index("tool-result") < kinds.index("done")
    assert "token" in kinds
    tool = dict(events)["tool-start"]
    assert tool["name"] == "echo" and tool["arguments"] == {"text": "ping"}
    done = dict(events)["done"]
    assert done["output"] == 'tool said {"text": "ping"}'
    assert done["tool_calls"][0]["name"] == "echo"
    assert "".join(str(d["delta"]) for k, d in events if k == "token") == done["output"]


def test_provider_failure_is_502_json(daemon: Daemon) -> None:
    with daemon.client() as client:
        body = assert_error(client.post("/api/agents/broken/execute", json={"input": "x"}), 502)
    assert "mock provider was asked to fail" in str(body["error"])


def test_sse_error_event(daemon: Daemon) -> None:
    with daemon.client() as client:
        response = client.post(
            "/api/agents/broken/execute", json={"input": "x"}, headers={"accept": "text/event-stream"}
        )
    assert "event: error" in response.text
    assert '"status": 502' in response.text


def test_validation_errors_name_the_field(daemon: Daemon) -> None:
    with daemon.client() as client:
        body = assert_error(client.post("/api/agents/assistant/execute", json={"inptu": "x"}), 422)
        assert_error(client.post("/api/agents/assistant/execute", json={"input": "x", "stateless": 1}), 422)
        malformed = assert_error(
            client.post(
                "/api/agents/assistant/execute", content=b"{not json", headers={"content-type": "application/json"}
            ),
            400,
            contains="not valid JSON",
        )
        assert_error(client.get("/api/events/recent", params={"limit": 201}), 422, contains="limit")
        assert_error(client.get("/api/tokens/report", params={"since": "yesterday"}), 422, contains="since")
    assert body["field"] in ("body.input", "body.inptu")
    assert malformed["field"] == "body" and "position 1" in str(malformed["error"])


def test_unknown_route_and_method_are_json(daemon: Daemon) -> None:
    with daemon.client() as client:
        assert_error(client.get("/api/nothing"), 404, contains="no route")
        assert_error(client.delete("/api/agents"), 405)


def test_body_too_large_is_413(daemon: Daemon) -> None:
    big = b'{"input": "' + b"x" * 1_100_000 + b'"}'
    with daemon.client() as client:
        assert_error(
            client.post("/api/agents/assistant/execute", content=big, headers={"content-type": "application/json"}),
            413,
            contains="max_body_bytes",
        )

        def chunks():  # no Content-Length: the limit applies while the body streams in
            yield b'{"input": "'
            for _ in range(40):
                yield b"y" * 50_000
            yield b'"}'

        assert_error(
            client.post(
                "/api/agents/assistant/execute", content=chunks(), headers={"content-type": "application/json"}
            ),
            413,
        )


def test_workflow_starts_at_once_and_runs_to_completion(daemon: Daemon) -> None:
    with daemon.client() as client:
        workflows = client.get("/api/workflows").json()
        response = client.post("/api/workflows/research/execute", json={"input": "WAL"})
        assert response.status_code == 202
        started = response.json()
        run = wait_run(client, started["run_id"])
    assert [w["id"] for w in workflows] == ["research", "fails"]
    assert started == {"run_id": started["run_id"], "workflow_id": "research", "status": "running"}
    assert run["status"] == "completed"
    assert [(s["agent_id"], s["status"], s["attempts"]) for s in run["steps"]] == [
        ("researcher", "completed", 1),
        ("summarizer", "completed", 1),
    ]


def test_workflow_wait_returns_the_run_json(daemon: Daemon) -> None:
    with daemon.client() as client:
        response = client.post("/api/workflows/research/execute", params={"wait": "true"}, json={"input": "B-trees"})
        assert response.status_code == 200
        run = response.json()
        again = client.get(f"/api/runs/{run['run_id']}").json()
    assert run == again
    check_run_contract(run)
    assert run["final_output"].startswith("[summarizer]")


def test_unknown_workflow_is_404(daemon: Daemon) -> None:
    with daemon.client() as client:
        body = assert_error(client.post("/api/workflows/reserch/execute", json={"input": "x"}), 404)
    assert "did you mean 'research'" in str(body["hint"])


def test_runs_list_show_and_resume(daemon: Daemon) -> None:
    with daemon.client() as client:
        failed = client.post("/api/workflows/fails/execute", params={"wait": "true"}, json={"input": "x"}).json()
        assert failed["status"] == "failed"
        runs = client.get("/api/runs", params={"limit": 50}).json()
        only_fails = client.get("/api/runs", params={"workflow": "fails"}).json()
        assert_error(client.get("/api/runs/run-nope"), 404, contains="unknown run")
        # A failed run can be retried; a completed one cannot.
        resumed = client.post(f"/api/runs/{failed['run_id']}/resume")
        assert resumed.status_code == 202, resumed.text
        retried = wait_run(client, failed["run_id"])
        completed = client.post("/api/workflows/research/execute", params={"wait": "true"}, json={"input": "y"})
        conflict = client.post(f"/api/runs/{completed.json()['run_id']}/resume")
    assert failed["run_id"] in [r["run_id"] for r in runs]
    assert {r["workflow_id"] for r in only_fails} == {"fails"}
    assert {"steps_completed", "steps_total"} <= set(runs[0])
    assert retried["steps"][0]["attempts"] == 2
    assert_error(conflict, 409, contains="already completed")


def test_token_report_per_agent_and_totals(daemon: Daemon) -> None:
    with daemon.client() as client:
        client.post("/api/agents/assistant/execute", json={"input": "count me"})
        report = client.get("/api/tokens/report").json()
        only = client.get("/api/tokens/report", params={"agent": "assistant"}).json()
        future = client.get("/api/tokens/report", params={"since": "2999-01-01T00:00:00Z"}).json()
        numeric = client.get("/api/tokens/report", params={"since": "0"}).json()
    totals = report["totals"]
    assert totals["total"] == sum(a["total"] for a in report["agents"]) > 0
    assert [a["agent_id"] for a in only["agents"]] == ["assistant"]
    assert future["agents"] == [] and future["totals"]["total"] == 0
    assert numeric["totals"] == totals


def test_mcp_lists_are_empty(daemon: Daemon) -> None:
    with daemon.client() as client:
        assert client.get("/api/mcp/servers").json() == []
        assert client.get("/api/mcp/tools").json() == []


def test_recent_events_from_the_log(daemon: Daemon) -> None:
    with daemon.client() as client:
        client.post("/api/workflows/research/execute", params={"wait": "true"}, json={"input": "events"})
        events = client.get("/api/events/recent", params={"limit": 200}).json()
        few = client.get("/api/events/recent", params={"limit": 3}).json()
    types = {e["type"] for e in events}
    assert {"RunStarted", "AgentActivated", "TaskCompleted", "WorkflowCompleted"} <= types
    assert len(few) == 3 and few == events[-3:]


def test_restart_and_reset(daemon: Daemon) -> None:
    with daemon.client() as client:
        restarted = client.post("/api/agents/assistant/restart").json()
        reset = client.post("/api/agents/assistant/reset").json()
        assert_error(client.post("/api/agents/ghost/restart"), 404)
    assert restarted == {"agent_id": "assistant", "restarted": True, "status": "idle"}
    assert reset == {"agent_id": "assistant", "thread": "main", "reset": True}


def test_dashboard_page(daemon: Daemon) -> None:
    with daemon.client() as client:
        response = client.get("/")
    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]
    assert "<title>axocoatl</title>" in response.text
    assert '<script type="module" src="/static/app.js">' in response.text
    with daemon.client() as client:
        app = client.get("/static/app.js")
        vendor = client.get("/static/vendor/htm-preact-standalone.js")
        missing = client.get("/static/nope.js")
        escape = client.get("/static/../dashboard.html")
    assert app.status_code == 200 and app.headers["content-type"] == "text/javascript; charset=utf-8"
    assert 'from "/static/vendor/htm-preact-standalone.js"' in app.text
    assert vendor.status_code == 200 and "export{" in vendor.text
    assert missing.status_code == 404 and "no static file 'nope.js'" in missing.json()["error"]
    assert escape.status_code == 404


def test_every_route_with_a_json_body_documents_the_body_errors(daemon: Daemon) -> None:
    # Any JSON body can be malformed (400), too large (413), not JSON at all (415) or not fit the schema (422):
    # the error handlers answer so before the route runs, so each such route must declare them. (/v1 reads its
    # own body and, as OpenAI does, answers any bad one with a 400.)
    with daemon.client() as client:
        spec = client.get("/openapi.json").json()
    missing = {
        f"{method.upper()} {path}": sorted({"400", "413", "415", "422"} - set(op["responses"]))
        for path, operations in spec["paths"].items()
        for method, op in operations.items()
        if "application/json" in op.get("requestBody", {}).get("content", {}) and not path.startswith("/v1/")
    }
    assert {route: codes for route, codes in missing.items() if codes} == {}
