"""/api/agents/{id}/memory/...: blocks (read, edit), semantic search and the daily log over HTTP,
against a daemon in a subprocess; and the dashboard's session store."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from tests.server.support import Daemon, running_daemon

from axocoatl.server.auth import Credentials
from axocoatl.server.sessions import Sessions

CONFIG = """
agents:
  - id: assistant
    provider: mock
    options:
      reply: "noted: {input}"
    memory:
      core:
        blocks:
          - {label: persona, value: "I am terse.", limit: 40}
          - {label: team, value: "", limit: 100, shared: true, description: "what the team knows"}
  - id: helper
    provider: mock
    memory:
      core:
        blocks:
          - {label: team, value: "", limit: 100, shared: true}
"""


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with running_daemon(tmp_path_factory.mktemp("memory-routes"), CONFIG) as d:
        yield d


@pytest.mark.slow
def test_blocks_read_and_edit(daemon: Daemon) -> None:
    with daemon.client() as client:
        blocks = client.get("/api/agents/assistant/memory/blocks").json()
        assert [(b["label"], b["shared"], b["limit"]) for b in blocks] == [("persona", False, 40), ("team", True, 100)]
        edited = client.put("/api/agents/assistant/memory/blocks/team", json={"value": "ship on Friday"}).json()
        assert edited == {"label": "team", "value": "ship on Friday", "chars": 14, "limit": 100, "shared": True,
                          "description": "what the team knows"}  # fmt: skip
        # A shared block is one memory: the other agent holds the edit too.
        helper = client.get("/api/agents/helper/memory/blocks").json()
        assert helper[0]["value"] == "ship on Friday"
        # The agent sees it in its next request.
        client.post("/api/agents/assistant/execute", json={"input": "hello"})
        over = client.put("/api/agents/assistant/memory/blocks/persona", json={"value": "x" * 41})
        unknown = client.put("/api/agents/assistant/memory/blocks/persnoa", json={"value": "x"})
        ghost = client.get("/api/agents/ghost/memory/blocks")
        bad = client.put("/api/agents/assistant/memory/blocks/persona", json={"text": "x"})
        after = client.get("/api/agents/assistant/memory/blocks").json()
    assert over.status_code == 422 and "over its limit of 40" in over.json()["error"]
    assert over.json()["field"] == "body.value"
    assert unknown.status_code == 404 and "did you mean 'persona'" in unknown.json()["hint"]
    assert ghost.status_code == 404
    assert bad.status_code == 422
    assert after[0]["value"] == "I am terse."  # the refused edits changed nothing


@pytest.mark.slow
def test_blocks_survive_a_restart(tmp_path_factory: pytest.TempPathFactory) -> None:
    directory = tmp_path_factory.mktemp("memory-restart")
    with running_daemon(directory, CONFIG) as first, first.client() as client:
        assert client.put("/api/agents/assistant/memory/blocks/persona", json={"value": "durable"}).status_code == 200
    with running_daemon(directory, CONFIG) as second, second.client() as client:
        assert client.get("/api/agents/assistant/memory/blocks").json()[0]["value"] == "durable"


@pytest.mark.slow
def test_search_and_daily_log(daemon: Daemon) -> None:
    with daemon.client() as client:
        client.post("/api/agents/assistant/execute", json={"input": "the sediment cores are in freezer B"})
        found = client.get("/api/agents/assistant/memory/search", params={"q": "where are the cores?", "k": 3}).json()
        log = client.get("/api/agents/assistant/memory/log", params={"date": date.today().isoformat()}).json()
        empty_day = client.get("/api/agents/assistant/memory/log", params={"date": "2001-01-01"}).json()
        bad_day = client.get("/api/agents/assistant/memory/log", params={"date": "yesterday"})
        # A lax date parser reads "0" as the Unix epoch and "" as nothing: neither is a day.
        odd_days = [client.get("/api/agents/assistant/memory/log", params={"date": d}) for d in ("0", "", "2026-13-01")]
        long_query = client.get("/api/agents/assistant/memory/search", params={"q": "x" * 1001})
        no_query = client.get("/api/agents/assistant/memory/search")
    assert found["agent_id"] == "assistant" and found["count"] >= 1
    assert "freezer B" in found["results"][0]["text"]
    assert log["count"] >= 1 and any("freezer B" in str(e["content"]) for e in log["entries"])
    assert {"id", "timestamp", "day", "type", "content"} <= set(log["entries"][0])
    assert empty_day["count"] == 0 and empty_day["date"] == "2001-01-01"
    assert bad_day.status_code == 422 and bad_day.json()["field"] == "query.date"
    assert "use YYYY-MM-DD" in bad_day.json()["error"]
    assert [r.status_code for r in odd_days] == [422, 422, 422]
    assert all(r.json()["field"] == "query.date" for r in odd_days)
    assert long_query.status_code == 422 and long_query.json()["field"] == "query.q"
    assert no_query.status_code == 422


def test_sessions_end_on_expiry_logout_and_new_keys() -> None:
    now = [1000.0]
    sessions = Sessions(clock=lambda: now[0], ttl=60)
    keys = Credentials(api_keys=(b"k1",))
    token = sessions.open(keys)
    assert sessions.valid(token, keys)
    assert not sessions.valid(token + "x", keys)
    assert not sessions.valid(token, Credentials(api_keys=(b"k2",)))  # the keys changed: over
    assert not sessions.valid(token, keys)  # ... for good
    second = sessions.open(keys)
    now[0] += 61
    assert not sessions.valid(second, keys)
    third = sessions.open(keys)
    sessions.close(third)
    assert not sessions.valid(third, keys)
    assert len({sessions.open(keys) for _ in range(50)}) == 50  # random, never reused


@pytest.mark.slow
def test_thread_messages(daemon: Daemon) -> None:
    with daemon.client() as client:
        client.post("/api/agents/helper/execute", json={"input": "first", "thread": "t-1"})
        client.post("/api/agents/helper/execute", json={"input": "second", "thread": "t-1"})
        both = client.get("/api/agents/helper/threads/t-1/messages").json()
        last = client.get("/api/agents/helper/threads/t-1/messages", params={"limit": 1}).json()
        never = client.get("/api/agents/helper/threads/never-used/messages").json()
        bad = client.get("/api/agents/helper/threads/bad name!/messages")
    assert [m["role"] for m in both["messages"]] == ["user", "assistant", "user", "assistant"]
    assert both["messages"][0]["content"] == "first" and both["messages"][2]["content"] == "second"
    assert both["count"] == both["total"] == 4
    assert last["count"] == 1 and last["total"] == 4 and last["messages"][0]["role"] == "assistant"
    assert never["count"] == 0
    assert bad.status_code == 422


@pytest.mark.slow
def test_run_graph(tmp_path_factory: pytest.TempPathFactory) -> None:
    config = """
    agents:
      - {id: a, provider: mock}
      - {id: b, provider: mock}
      - {id: join, provider: mock, depends_on: [a, b]}
    workflows:
      - {id: flow, agents: [a, b, join]}
    """
    with running_daemon(tmp_path_factory.mktemp("graph"), config) as daemon, daemon.client() as client:
        run = client.post("/api/workflows/flow/execute", params={"wait": "true"}, json={"input": "x"}).json()
        graph = client.get(f"/api/runs/{run['run_id']}/graph").json()
        missing = client.get("/api/runs/run-nope/graph")
    nodes = {n["id"]: n for n in graph["nodes"]}
    assert graph["workflow_id"] == "flow" and set(nodes) == {"a", "b", "join"}
    assert nodes["a"]["entry"] and nodes["a"]["inputs"] == []
    assert nodes["join"] == {
        "id": "join",
        "kind": "agent",
        "entry": False,
        "inputs": [{"from": "a", "strength": 0.5, "event": None}, {"from": "b", "strength": 0.5, "event": None}],
        "threshold": 1.0,
        "interrupt": None,
    }
    assert missing.status_code == 404
