"""Conversation threads at every entry point of a running daemon: HTTP, WebSocket, `chat`, `agents threads`.

The mock's `{turn}` is the number of user turns in the request: a thread's history plus
this turn. So "turn 3" proves the request carried that thread's two earlier turns, and no
other thread's.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.conftest import run_cli
from tests.server.support import Daemon, recv_until, write_project

pytestmark = pytest.mark.slow

CONFIG = """
agents:
  - id: assistant
    provider: mock
    options: {reply: "turn {turn}: {input_head}"}
  - id: other
    provider: mock
consolidation: {enabled: false}
"""


def cli(directory: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return run_cli("--data-dir", "data", *args, cwd=directory, input=stdin, env={"AXOCOATL_EMBEDDER": "hashed"})


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    directory = write_project(tmp_path_factory.mktemp("threads"), CONFIG)
    d = Daemon(directory).start()
    try:
        yield d
    finally:
        d.stop()


def say(client: httpx.Client, text: str, agent: str = "assistant", **body: Any) -> dict[str, Any]:
    response = client.post(f"/api/agents/{agent}/execute", json={"input": text, **body})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def threads_of(client: httpx.Client, agent: str) -> dict[str, dict[str, Any]]:
    body = client.get(f"/api/agents/{agent}/threads").json()
    assert body["agent_id"] == agent
    return {t["thread"]: t for t in body["threads"]}


def test_each_thread_is_its_own_conversation(daemon: Daemon) -> None:
    with daemon.client() as client:
        first = say(client, "a1", thread="http-a")
        say(client, "b1", thread="http-b")
        second = say(client, "a2", thread="http-a")
        other = say(client, "b2", thread="http-b")
        threads = threads_of(client, "assistant")
    assert first["output"] == "turn 1: a1" and first["thread"] == "http-a" and first["stateless"] is False
    assert second["output"] == "turn 2: a2"  # a1 was in the request, b1 was not
    assert other["output"] == "turn 2: b2"
    assert threads["http-a"]["messages"] == 4 and threads["http-b"]["messages"] == 4
    assert threads["http-a"]["last_active"].endswith("Z")


def test_the_default_thread_is_main(daemon: Daemon) -> None:
    with daemon.client() as client:
        before = threads_of(client, "other").get("main", {}).get("messages", 0)
        body = say(client, "hello", agent="other")
        after = threads_of(client, "other")["main"]["messages"]
    assert body["thread"] == "main"
    assert after == before + 2


def test_reset_starts_one_thread_afresh_and_leaves_the_others(daemon: Daemon) -> None:
    with daemon.client() as client:
        say(client, "x1", thread="reset-x")
        say(client, "y1", thread="reset-y")
        reset = client.post("/api/agents/assistant/reset", params={"thread": "reset-x"})
        fresh = say(client, "x2", thread="reset-x")
        kept = say(client, "y2", thread="reset-y")
        threads = threads_of(client, "assistant")
    assert reset.status_code == 200, reset.text
    assert reset.json() == {"agent_id": "assistant", "thread": "reset-x", "reset": True}
    assert fresh["output"] == "turn 1: x2"  # nothing of x1
    assert kept["output"] == "turn 2: y2"
    assert threads["reset-x"]["messages"] == 2 and threads["reset-y"]["messages"] == 4


def test_reset_without_a_thread_resets_main(daemon: Daemon) -> None:
    with daemon.client() as client:
        say(client, "m1")
        say(client, "side", thread="beside-main")
        assert client.post("/api/agents/assistant/reset").json()["thread"] == "main"
        fresh = say(client, "m2")
        kept = say(client, "side 2", thread="beside-main")
    assert fresh["output"] == "turn 1: m2" and fresh["thread"] == "main"
    assert kept["output"] == "turn 2: side 2"


@pytest.mark.parametrize("name", ["", "two words", "x" * 129, "slash/ed", "new\nline", "ünï"])
def test_bad_thread_names_are_422_naming_the_field(daemon: Daemon, name: str) -> None:
    with daemon.client() as client:
        execute = client.post("/api/agents/assistant/execute", json={"input": "x", "thread": name})
        reset = client.post("/api/agents/assistant/reset", params={"thread": name})
        listed = threads_of(client, "assistant")
    assert execute.status_code == 422, execute.text
    assert execute.json()["field"] == "body.thread"
    assert reset.status_code == 422, reset.text
    assert reset.json()["field"] == "query.thread"
    assert name not in listed


def test_a_thread_name_may_use_the_whole_alphabet(daemon: Daemon) -> None:
    name = "Customer_42.v2:eu-" + "x" * 110  # 128 characters
    with daemon.client() as client:
        body = say(client, "hi", thread=name)
    assert body["thread"] == name and len(name) == 128


def test_stateless_calls_have_no_thread(daemon: Daemon) -> None:
    with daemon.client() as client:
        say(client, "kept", thread="beside-stateless")
        plain = say(client, "no memory", stateless=True)
        override = say(client, "terse", system_override="Be terse.")
        named = say(client, "not on it", stateless=True, thread="beside-stateless")
        implied = say(client, "nor this", model_override="m", thread="beside-stateless")
        after = say(client, "next", thread="beside-stateless")
        threads = threads_of(client, "assistant")
    assert plain["thread"] is None and plain["stateless"] is True
    assert override["thread"] is None and override["stateless"] is True
    assert named["thread"] is None and implied["thread"] is None
    # Neither stateless turn touched the thread it named.
    assert after["output"] == "turn 2: next"
    assert threads["beside-stateless"]["messages"] == 4


def test_sse_turns_run_on_their_thread(daemon: Daemon) -> None:
    with daemon.client() as client:
        say(client, "s1", thread="sse")
        response = client.post(
            "/api/agents/assistant/execute",
            json={"input": "s2", "thread": "sse"},
            headers={"accept": "text/event-stream"},
        )
    done = [json.loads(line[5:]) for line in response.text.splitlines() if line.startswith("data:")][-1]
    assert "event: done" in response.text
    assert done["output"] == "turn 2: s2" and done["thread"] == "sse"


def test_threads_of_an_unknown_agent_is_404(daemon: Daemon) -> None:
    with daemon.client() as client:
        response = client.get("/api/agents/asistant/threads")
        spec = client.get("/openapi.json").json()
    assert response.status_code == 404
    assert "did you mean 'assistant'" in response.json()["hint"]
    assert "/api/agents/{agent_id}/threads" in spec["paths"]


def test_websocket_chat_turns_take_a_thread(daemon: Daemon) -> None:
    with daemon.ws() as ws:
        recv_until(ws, "ready")
        for content in ("w1", "w2"):
            ws.send(json.dumps({"cmd": "chat-turn", "agent": "assistant", "content": content, "thread": "ws-a"}))
            start, _ = recv_until(ws, "chat-start")
            done, _ = recv_until(ws, "chat-done")
        ws.send(json.dumps({"cmd": "chat-turn", "agent": "assistant", "content": "elsewhere"}))
        default_start, _ = recv_until(ws, "chat-start")
        default_done, _ = recv_until(ws, "chat-done")
        ws.send(json.dumps({"cmd": "chat-turn", "agent": "assistant", "content": "null", "thread": None}))
        null_start, _ = recv_until(ws, "chat-start")
        recv_until(ws, "chat-done")
        ws.send(json.dumps({"cmd": "chat-turn", "agent": "assistant", "content": "x", "thread": "no spaces"}))
        bad, _ = recv_until(ws, "error")
        ws.send(json.dumps({"cmd": "chat-turn", "agent": "assistant", "content": "x", "thread": 7}))
        wrong_type, _ = recv_until(ws, "error")
    assert start["thread"] == "ws-a" and done["content"] == "turn 2: w2"
    assert default_start["thread"] == "main" and null_start["thread"] == "main"
    assert default_done["content"].endswith(": elsewhere")
    assert "\"thread\" 'no spaces' is not a thread name" in bad["message"]
    assert "1-128 letters" in bad["hint"]
    assert "is not a thread name" in wrong_type["message"]
    with daemon.client() as client:
        assert threads_of(client, "assistant")["ws-a"]["messages"] == 4


def test_chat_cli_talks_on_a_thread_and_resets_only_it(daemon: Daemon) -> None:
    directory = daemon.directory
    one = cli(directory, "chat", "-a", "assistant", "--thread", "cli-a", "-m", "c1")
    repl = cli(directory, "chat", "-a", "assistant", "-t", "cli-a", stdin="c2\n/reset\nc3\n/exit\n")
    beside = cli(directory, "chat", "-a", "assistant", "-t", "cli-b", "-m", "d1")
    again = cli(directory, "chat", "-a", "assistant", "-t", "cli-b", "-m", "d2")
    assert one.returncode == 0, one.stderr
    assert "assistant> turn 1: c1" in one.stdout
    out = repl.stdout
    assert repl.returncode == 0, repl.stderr
    assert f"chatting with assistant on thread cli-a via daemon {daemon.url}" in out
    assert out.index("turn 2: c2") < out.index("new conversation on thread cli-a") < out.index("turn 1: c3")
    assert "turn 2: d2" in again.stdout  # cli-b kept its history through cli-a's reset
    assert beside.returncode == 0 and "POST /api/agents/assistant/reset" in daemon.log()


def test_agents_threads_cli_through_the_daemon(daemon: Daemon) -> None:
    directory = daemon.directory
    cli(directory, "chat", "-a", "assistant", "-t", "listed", "-m", "hi")
    as_json = cli(directory, "agents", "threads", "assistant", "--json")
    table = cli(directory, "agents", "threads", "assistant")
    unknown = cli(directory, "agents", "threads", "asistant")
    with daemon.client() as client:
        over_http = client.get("/api/agents/assistant/threads").json()
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout) == over_http
    assert table.returncode == 0, table.stderr
    assert "thread" in table.stdout and "messages" in table.stdout
    assert any(line.split()[:2] == ["listed", "2"] for line in table.stdout.splitlines())
    assert unknown.returncode == 3 and "did you mean 'assistant'" in unknown.stderr


def test_without_a_daemon_chat_and_threads_run_in_process(tmp_path: Path) -> None:
    directory = write_project(tmp_path, CONFIG)
    empty = cli(directory, "agents", "threads", "assistant", "--json")
    created = (directory / "data" / "axocoatl.db").exists()
    first = cli(directory, "chat", "-a", "assistant", "-t", "offline", "-m", "o1")
    second = cli(directory, "chat", "-a", "assistant", "-t", "offline", "-m", "o2")
    main = cli(directory, "chat", "-a", "assistant", "-m", "m1")
    listed = cli(directory, "agents", "threads", "assistant", "--json")
    table = cli(directory, "agents", "threads", "other")
    bad = cli(directory, "chat", "-a", "assistant", "-t", "no good", "-m", "x")
    unknown = cli(directory, "agents", "threads", "ghost")
    assert empty.returncode == 0, empty.stderr
    assert json.loads(empty.stdout) == {"agent_id": "assistant", "threads": []}
    assert not created  # listing threads of a project that never ran creates nothing
    assert "turn 1: o1" in first.stdout and "turn 2: o2" in second.stdout and "turn 1: m1" in main.stdout
    threads = {t["thread"]: t["messages"] for t in json.loads(listed.stdout)["threads"]}
    assert threads == {"main": 2, "offline": 4}
    assert "agent 'other' has no threads yet" in table.stdout
    assert bad.returncode == 2
    assert "--thread 'no good' is not a thread name" in bad.stderr and "1-128 letters" in bad.stderr
    assert unknown.returncode == 3 and "unknown agent 'ghost'" in unknown.stderr
