"""Our A2A client against a third-party server: an agent built on a2a-sdk alone (sdk_a2a_peer.py), over
JSON-RPC (streaming), HTTP+JSON (not streaming), and answering with a plain message (no task):
`axocoatl a2a card|send`, a workflow step on ``provider: a2a`` and an agent calling the ``a2a__peer``
tool, all in one process without a daemon."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.server.support import A2A_CLIENT_PROJECT, listening_peer, write_project

pytestmark = pytest.mark.slow

PEER = Path(__file__).resolve().parent / "sdk_a2a_peer.py"


def axocoatl(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "axocoatl", *args], capture_output=True, text=True, timeout=120, env=env, cwd=cwd
    )


@pytest.fixture(
    params=[("JSONRPC", "stream"), ("HTTP+JSON", "task"), ("JSONRPC", "message")],
    ids=["jsonrpc-streaming", "http-json", "message-reply"],
)
def peer(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    binding, reply = request.param
    with listening_peer(sys.executable, PEER, [binding, reply], tmp_path / "peer.log", "the a2a-sdk peer") as url:
        yield url


def test_the_cli_reads_the_card_and_continues_a_context(peer: str) -> None:
    card = axocoatl("a2a", "card", peer)
    assert card.returncode == 0, card.stderr
    assert "sdk-peer 1.0.0" in card.stdout and "skill      echo" in card.stdout
    first = axocoatl("a2a", "send", peer, "-m", "hello", "--context", "ctx-1")
    assert first.returncode == 0, first.stderr
    assert first.stdout == "peer says: hello (turn 1)\n" and "context ctx-1" in first.stderr
    assert "task None" not in first.stderr
    again = axocoatl("a2a", "send", peer, "-m", "again", "--context", "ctx-1", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == {
        "text": "peer says: again (turn 2)",
        "task_id": json.loads(again.stdout)["task_id"],
        "context_id": "ctx-1",
    }


def test_a_workflow_step_and_a_tool_use_the_sdk_agent(peer: str, tmp_path: Path) -> None:
    project = write_project(tmp_path / "project", A2A_CLIENT_PROJECT.format(url=peer))
    run = axocoatl("workflow", "run", "delegate", "-i", "plan it", "--json", cwd=project)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["status"] == "completed", result
    [step] = result["steps"]
    assert step["output"] == "peer says: plan it (turn 1)"

    asked = json.loads(axocoatl("workflow", "run", "asking", "-i", "ask", "--json", cwd=project).stdout)
    assert asked["status"] == "completed", asked
    [step] = asked["steps"]
    assert step["output"].startswith("asker got ") and "peer says: ping (turn 1)" in step["output"], step
