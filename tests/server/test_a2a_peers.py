"""Two axocoatl projects over A2A: one calls the other's agent as a tool and as a workflow step,
the remote is restarted in the middle, and `axocoatl a2a card|send` talk to it from the CLI."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.server.support import Daemon, wait_run, write_project

pytestmark = pytest.mark.slow

REMOTE_KEY = "sk-remote-a2a-31f0"

REMOTE = f"""
agents:
  - id: helper
    provider: mock
    options: {{reply: "helper says: {{input}} (turn {{turn}})"}}
  - id: ponder
    provider: mock
    options: {{latency_ms: 2500, reply: "pondered {{input}}"}}
  - id: dawdle
    provider: mock
    options: {{latency_ms: 60000, reply: "dawdled"}}
  - id: drafter
    provider: mock
    options: {{reply: "draft of {{input}}"}}
  - id: editor
    provider: mock
    depends_on: [drafter]
    options: {{reply: "edited"}}
workflows:
  - id: writing
    agents: [drafter, editor]
server:
  auth: {{api_keys: ["{REMOTE_KEY}"]}}
consolidation: {{enabled: false}}
"""

LOCAL = """
a2a_agents:
  - name: helper
    url: {url}/a2a/helper
    headers: {{x-api-key: "${{REMOTE_KEY}}"}}
    retries: 6
  - name: ponder
    url: {url}/a2a/ponder
    headers: {{x-api-key: "${{REMOTE_KEY}}"}}
    retries: 6
  - name: dawdle
    url: {url}/a2a/dawdle
    headers: {{x-api-key: "${{REMOTE_KEY}}"}}
  - name: writers
    url: {url}/a2a/workflow/writing
    headers: {{x-api-key: "${{REMOTE_KEY}}"}}
agents:
  - id: remote_thinker
    provider: a2a
    model: ponder
  - id: remote_team
    provider: a2a
    model: writers
  - id: remote_dawdler
    provider: a2a
    model: dawdle
  - id: asker
    provider: mock
    tools: [a2a__helper]
    options:
      tool_calls: [{{name: a2a__helper, arguments: {{message: ping}}}}]
      reply: "asker got {{tool_result}}"
  - id: remote_step
    provider: a2a
    model: helper
  - id: wrapup
    provider: mock
    depends_on: [remote_step]
    options: {{reply: "wrapped"}}
workflows:
  - id: delegate
    agents: [remote_step, wrapup]
  - id: thinking
    agents: [remote_thinker]
  - id: dawdling
    agents: [remote_dawdler]
consolidation: {{enabled: false}}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def peers(tmp_path: Path) -> Iterator[tuple[Daemon, Daemon]]:
    port = free_port()
    remote = Daemon(write_project(tmp_path / "remote", REMOTE), args=("--port", str(port))).start()
    local_dir = write_project(tmp_path / "local", LOCAL.format(url=f"http://127.0.0.1:{port}"))
    local = Daemon(local_dir, env={"REMOTE_KEY": REMOTE_KEY}).start()
    try:
        yield remote, local
    finally:
        for daemon in (local, remote):
            if daemon.proc is not None and daemon.proc.poll() is None:
                daemon.stop()


def test_an_agent_calls_a_remote_agent_as_a_tool(peers: tuple[Daemon, Daemon]) -> None:
    _, local = peers
    with local.client() as client:
        first = client.post("/api/agents/asker/execute", json={"input": "ask", "thread": "t1"}).json()
        second = client.post("/api/agents/asker/execute", json={"input": "again", "thread": "t1"}).json()
    [call] = first["tool_calls"]
    assert call["name"] == "a2a__helper" and not call["is_error"]
    result = json.loads(call["result"])
    assert result["reply"] == "helper says: ping (turn 1)"
    assert first["output"].startswith("asker got ")
    # The same local thread is the same remote conversation: the remote sees its second turn.
    assert json.loads(second["tool_calls"][0]["result"])["reply"] == "helper says: ping (turn 2)"
    assert json.loads(second["tool_calls"][0]["result"])["context_id"] == result["context_id"]


def test_a_workflow_step_runs_on_the_remote_while_it_restarts(peers: tuple[Daemon, Daemon]) -> None:
    remote, local = peers
    with local.client() as client:
        done = client.post("/api/workflows/delegate/execute", params={"wait": "true"}, json={"input": "plan it"})
        run = done.json()
        assert run["status"] == "completed", run
        step = next(s for s in run["steps"] if s["agent_id"] == "remote_step")
        assert step["output"] == "helper says: plan it (turn 1)"
        assert step["tokens"]["output"] > 0  # our count of the text exchanged (the remote reports none)

        remote.stop()  # down: the step's client retries until it is back
        started = client.post("/api/workflows/delegate/execute", json={"input": "while down"}).json()
        time.sleep(0.5)
        remote.start()
        finished = wait_run(client, started["run_id"], timeout=60)
    assert finished["status"] == "completed", json.dumps(finished)[:3000]
    step = next(s for s in finished["steps"] if s["agent_id"] == "remote_step")
    assert step["output"].startswith("helper says: while down")


def test_a_remote_workflow_answers_with_its_output_not_its_steps(peers: tuple[Daemon, Daemon]) -> None:
    _, local = peers
    with local.client() as client:
        reply = client.post("/api/agents/remote_team/execute", json={"input": "a poem"}).json()
    assert reply["output"] == "edited", reply  # the remote run's output; its steps streamed apart


def test_a_remote_killed_in_the_middle_of_a_turn_is_waited_for_and_asked_again(
    peers: tuple[Daemon, Daemon],
) -> None:
    remote, local = peers
    with local.client() as client:
        started = client.post("/api/workflows/thinking/execute", json={"input": "life"}).json()
        deadline = time.monotonic() + 20
        with remote.client(headers={"x-api-key": REMOTE_KEY}) as remote_api:
            while time.monotonic() < deadline:  # until the remote works on it
                listed = {"jsonrpc": "2.0", "id": 1, "method": "ListTasks", "params": {}}
                answer = remote_api.post("/a2a/ponder", json=listed, headers={"A2A-Version": "1.0"}).json()
                if answer.get("result", {}).get("tasks"):
                    break
                time.sleep(0.1)
        remote.kill()
        remote.start()
        finished = wait_run(client, started["run_id"], timeout=90)
    assert finished["status"] == "completed", json.dumps(finished)[:2000]
    step = next(s for s in finished["steps"] if s["agent_id"] == "remote_thinker")
    assert step["output"] == "pondered life" and step["attempts"] == 1
    # The stream broke, the task was read back once the remote was up (failed: its turn was lost), and sent again.
    assert "restarted during the task" in local.log()


def remote_tasks(remote: Daemon, ref: str) -> list[dict[str, Any]]:
    with remote.client(headers={"x-api-key": REMOTE_KEY}) as remote_api:
        listed = {"jsonrpc": "2.0", "id": 1, "method": "ListTasks", "params": {}}
        answer = remote_api.post(f"/a2a/{ref}", json=listed, headers={"A2A-Version": "1.0"}).json()
    tasks: list[dict[str, Any]] = answer.get("result", {}).get("tasks", [])
    return tasks


def test_cancelling_a_step_on_a_remote_agent_cancels_the_remote_task(peers: tuple[Daemon, Daemon]) -> None:
    remote, local = peers
    with local.client() as client:
        started = client.post("/api/workflows/dawdling/execute", json={"input": "slowly"}).json()
        deadline = time.monotonic() + 30
        while not [t for t in remote_tasks(remote, "dawdle") if t["status"]["state"] == "TASK_STATE_WORKING"]:
            assert time.monotonic() < deadline, "the remote never worked on the task"
            time.sleep(0.1)
        cancelled = client.post(f"/api/runs/{started['run_id']}/cancel")
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled", cancelled.text
    while (state := remote_tasks(remote, "dawdle")[0]["status"]["state"]) == "TASK_STATE_WORKING":
        assert time.monotonic() < deadline + 30, "the remote task was never cancelled"
        time.sleep(0.1)
    assert state == "TASK_STATE_CANCELED"


def test_a_remote_that_refuses_fails_the_step_with_its_reason(tmp_path: Path, peers: tuple[Daemon, Daemon]) -> None:
    remote, _ = peers
    config = LOCAL.format(url=f"http://127.0.0.1:{remote.port}").replace('"${REMOTE_KEY}"', "wrong-key")
    local = Daemon(write_project(tmp_path / "wrong", config)).start()
    try:
        with local.client() as client:
            run = client.post("/api/workflows/delegate/execute", params={"wait": "true"}, json={"input": "x"}).json()
    finally:
        local.stop()
    assert run["status"] == "failed"
    step = next(s for s in run["steps"] if s["agent_id"] == "remote_step")
    assert "helper" in step["error"] and "401" in step["error"]


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "axocoatl", "a2a", *args], capture_output=True, text=True, timeout=60, env=full
    )


def test_the_a2a_cli_shows_the_card_and_sends(peers: tuple[Daemon, Daemon]) -> None:
    remote, _ = peers
    url = f"{remote.url}/a2a/helper"
    card = cli("card", url)
    assert card.returncode == 0, card.stderr
    assert "interface  JSONRPC    1.0" in card.stdout and "skill      helper" in card.stdout
    assert "auth       apiKey" in card.stdout
    raw = json.loads(cli("card", remote.url, "--json").stdout)
    assert raw["protocolVersion"] == "0.3.0"

    sent = cli("send", url, "-m", "hi there", "--context", "cli-ctx", env={"AXOCOATL_A2A_API_KEY": REMOTE_KEY})
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout == "helper says: hi there (turn 1)\n"
    assert "context cli-ctx" in sent.stderr
    again = cli("send", url, "-m", "more", "--context", "cli-ctx", "--json", "-H", f"x-api-key: {REMOTE_KEY}")
    assert json.loads(again.stdout)["text"] == "helper says: more (turn 2)"

    refused = cli("send", url, "-m", "no key")
    assert refused.returncode != 0 and "helper" not in refused.stdout
    assert "refused" in refused.stderr or "401" in refused.stderr
    unreachable = cli("card", "http://127.0.0.1:9/nothing")
    assert unreachable.returncode != 0 and "cannot reach A2A agent" in unreachable.stderr


def test_the_a2a_cli_errors_point_at_the_url_given_not_at_the_config(tmp_path: Path) -> None:
    unreachable = cli("card", "http://127.0.0.1:9/nothing")
    assert unreachable.returncode != 0
    assert "cannot reach A2A agent '127.0.0.1:9'" in unreachable.stderr
    assert "check the URL given" in unreachable.stderr and "a2a_agents" not in unreachable.stderr
    sent = cli("send", "http://127.0.0.1:9", "-m", "hi")
    assert sent.returncode != 0 and "a2a_agents" not in sent.stderr
    assert "http://127.0.0.1:9/.well-known/agent-card.json" in sent.stderr
