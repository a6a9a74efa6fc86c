"""`axocoatl serve` against real A2A 0.3 peers, run from their own venv (.cache/a2a-peers-venv, made by
scripts/install-a2a-peers.sh): the client of a2a-sdk 0.3.26 (the last 0.3-line SDK; axocoatl's venv has
1.x, whose 0.3 compat transports are tested in test_a2a_server.py) over JSON-RPC and HTTP+JSON, and the
third-party linter a2a-lint, live; and our client (`axocoatl a2a`, a `provider: a2a` step, the `a2a__NAME`
tool) against a pure 0.3 server built on that SDK alone. The drivers are v03_client.py, v03_agent.py and
the a2a-lint CLI.

The mock's `{turn}` counts the user turns the model saw: "turn 2" proves a contextId continued the thread.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.server.support import A2A_CLIENT_PROJECT, Daemon, listening_peer, running_daemon, write_project

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
VENV = ROOT / ".cache" / "a2a-peers-venv"
REQUIREMENTS = HERE / "a2a-peers-requirements.txt"
CLIENT = HERE / "v03_client.py"
AGENT = HERE / "v03_agent.py"
KEY = "sk-a2a-v03-7c41"

AGENTS = """
agents:
  - id: assistant
    provider: mock
    options: {reply: "turn {turn}: {input}", chunk_size: 4}
  - id: slow
    provider: mock
    options: {latency_ms: 30000}
  - id: researcher
    provider: mock
  - id: summarizer
    provider: mock
    depends_on: [researcher]
workflows:
  - id: research
    agents: [researcher, summarizer]
  - id: slowly
    agents: [slow]
consolidation: {enabled: false}
"""
SECURED = AGENTS + f'server:\n  auth:\n    api_keys: ["{KEY}"]\n'


@pytest.fixture(scope="session")
def peers_python() -> Path:
    """The peers' venv python; fails (never skips) naming how to make it when it is missing or stale."""
    python = VENV / "bin" / "python"
    stamp = VENV / ".requirements.sha256"
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    if not python.exists() or not stamp.exists() or stamp.read_text().strip() != digest:
        state = (
            "missing" if not python.exists() else "not made from the current tests/server/a2a-peers-requirements.txt"
        )
        pytest.fail(
            f"the A2A 0.3 peers' venv {VENV} is {state}: run scripts/install-a2a-peers.sh "
            "(scripts/setup.sh does; it needs PyPI) to create it"
        )
    return python


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with running_daemon(tmp_path_factory.mktemp("a2a-v03-secured"), SECURED) as d:
        yield d


@pytest.fixture(scope="module")
def open_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with running_daemon(tmp_path_factory.mktemp("a2a-v03-open"), AGENTS) as d:
        yield d


def run(program: Path, *args: str, key: str | None = KEY, ok: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "A2A_KEY", "VIRTUAL_ENV")}
    if key is not None:
        env["A2A_KEY"] = key
    result = subprocess.run([str(program), *args], capture_output=True, text=True, timeout=180, env=env)
    if ok:
        assert result.returncode == 0, f"{args} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def client(python: Path, *args: str, key: str | None = KEY, ok: bool = True) -> dict[str, Any]:
    result = run(python, str(CLIENT), *args, key=key, ok=ok)
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no JSON from {args}:\n{result.stdout}\n{result.stderr}"
    parsed: dict[str, Any] = json.loads(lines[-1])
    return parsed


def test_the_venv_has_the_0_3_sdk(peers_python: Path) -> None:
    result = run(peers_python, "-c", "import importlib.metadata as m; print(m.version('a2a-sdk'))")
    assert result.stdout.strip() == "0.3.26"


@pytest.mark.parametrize("path", ["/.well-known/agent-card.json", "/.well-known/agent.json"])
def test_the_0_3_sdk_resolves_our_card(peers_python: Path, secured: Daemon, path: str) -> None:
    card = client(peers_python, "card", secured.url, path, key=None)  # cards are public
    assert card["name"] == "axocoatl" and card["protocol_version"] == "0.3.0"
    target = f"{secured.url}/a2a/workflow/research"
    assert card["url"] == target and card["preferred_transport"] == "JSONRPC"
    assert ["HTTP+JSON", target] in card["additional_interfaces"]
    assert card["streaming"] is True
    assert {"assistant", "slow", "workflow/research", "workflow/slowly"} <= set(card["skills"])
    assert card["security"] == ["apiKey"]

    # a target's card is at the 0.3 path only (/.well-known/agent.json is the root's alias for 0.2 clients)
    one = client(peers_python, "card", f"{secured.url}/a2a/assistant", "/.well-known/agent-card.json", key=None)
    assert one["name"] == "assistant" and one["url"] == f"{secured.url}/a2a/assistant"


@pytest.mark.parametrize("binding", ["JSONRPC", "HTTP+JSON"])
def test_the_0_3_sdk_sends_streams_gets_and_continues_a_context(
    peers_python: Path, secured: Daemon, binding: str
) -> None:
    url = f"{secured.url}/a2a/assistant"
    context = f"v03-{binding.replace('+', '-').lower()}"
    first = client(peers_python, "send", url, binding, "0", "hello", context)
    assert first["streamed"]["state"] == "completed", first
    assert first["streamed"]["output"] == "turn 1: hello" and first["streamed"]["context_id"] == context
    assert first["fetched"] == first["streamed"]

    streamed = client(peers_python, "send", url, binding, "1", "again", context)
    events = streamed["events"]
    assert events[0] == "Task" and "TaskArtifactUpdateEvent" in events and events[-1] == "TaskStatusUpdateEvent"
    assert streamed["streamed"]["output"] == "turn 2: again", streamed
    assert streamed["fetched"]["state"] == "completed" and streamed["fetched"]["output"] == "turn 2: again"
    assert streamed["fetched"]["task_id"] != first["fetched"]["task_id"]


@pytest.mark.parametrize("binding", ["JSONRPC", "HTTP+JSON"])
def test_the_0_3_sdk_runs_a_workflow(peers_python: Path, secured: Daemon, binding: str) -> None:
    result = client(peers_python, "send", f"{secured.url}/a2a/workflow/research", binding, "1", "topic")
    task = result["fetched"]
    assert task["state"] == "completed", result
    assert {"step:researcher", "step:summarizer", "output"} <= set(task["artifacts"])
    assert "[summarizer]" in task["output"] and "topic" in task["output"]
    assert task["metadata"]["axocoatl.run_id"].startswith("run-")


@pytest.mark.parametrize("binding", ["JSONRPC", "HTTP+JSON"])
def test_the_0_3_sdk_cancels_a_slow_workflow_task(peers_python: Path, secured: Daemon, binding: str) -> None:
    result = client(peers_python, "cancel", f"{secured.url}/a2a/workflow/slowly", binding, "take your time")
    assert result["first"]["state"] in ("submitted", "working"), result
    assert result["canceled"]["state"] == "canceled", result
    assert result["fetched"]["state"] == "canceled", result
    run_id = result["fetched"]["metadata"]["axocoatl.run_id"]
    with secured.client(headers={"x-api-key": KEY}) as http:
        assert http.get(f"/api/runs/{run_id}").json()["status"] == "cancelled"


@pytest.mark.parametrize("binding", ["JSONRPC", "HTTP+JSON"])
def test_the_0_3_sdk_needs_the_api_key(peers_python: Path, secured: Daemon, binding: str) -> None:
    url = f"{secured.url}/a2a/assistant"
    refused = client(peers_python, "send", url, binding, "0", "let me in", key=None, ok=False)
    assert refused["error"] == "A2AClientHTTPError" and refused["status"] == 401, refused
    wrong = client(peers_python, "send", url, binding, "0", "let me in", key="sk-wrong", ok=False)
    assert wrong["status"] == 401, wrong
    accepted = client(peers_python, "send", url, binding, "0", "let me in")
    assert accepted["fetched"]["state"] == "completed" and accepted["fetched"]["output"] == "turn 1: let me in"


def lint(python: Path, url: str, *flags: str) -> dict[str, Any]:
    result = run(python.parent / "a2a-lint", url, "--json", "--strict", *flags, key=None, ok=False)
    verdict: dict[str, Any] = json.loads(result.stdout)
    assert result.returncode == 0 and verdict["ok"], f"a2a-lint {url}: exit {result.returncode}\n{result.stdout}"
    return verdict


@pytest.mark.parametrize("ref", ["", "/a2a/assistant", "/a2a/workflow/research"])
def test_a2a_lint_live_and_strict_grades_us_a(peers_python: Path, open_daemon: Daemon, ref: str) -> None:
    """a2a-lint checks the 0.3 line only: the card (its 0.3 fields), a live message/send, and message/stream."""
    verdict = lint(peers_python, open_daemon.url + ref, "--live")
    assert verdict["summary"] == {"errors": 0, "warnings": 0, "grade": "A"}, verdict
    assert "liveRoundTripMs" in verdict and verdict["streamEvents"] > 0, verdict
    assert {f["level"] for f in verdict["findings"]} <= {"info"}


def test_a2a_lint_accepts_the_secured_card(peers_python: Path, secured: Daemon) -> None:
    """Not live: a2a-lint sends no credentials; the card's apiKey scheme must pass its checks."""
    verdict = lint(peers_python, secured.url)
    assert verdict["summary"] == {"errors": 0, "warnings": 0, "grade": "A"}, verdict
    assert not [f for f in verdict["findings"] if f["field"].startswith("securitySchemes")], verdict


# --------------------------------------------------------------------- our client, a pure 0.3 server


def axocoatl(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    result = subprocess.run(
        [sys.executable, "-m", "axocoatl", *args], capture_output=True, text=True, timeout=180, env=env, cwd=cwd
    )
    assert result.returncode == 0, f"axocoatl {args} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(params=["JSONRPC", "HTTP+JSON"], ids=["jsonrpc-streaming", "http-json"])
def v03_server(request: pytest.FixtureRequest, peers_python: Path, tmp_path: Path) -> Iterator[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    args = [request.param, str(tmp_path / "v03-events.log")]
    with listening_peer(peers_python, AGENT, args, tmp_path / "v03-agent.log", "the a2a-sdk 0.3 agent", env) as url:
        yield url


def test_our_cli_reads_a_0_3_card_and_continues_a_context(v03_server: str) -> None:
    card = axocoatl("a2a", "card", v03_server)
    assert "v03-peer 0.3.26" in card.stdout and "skill      echo" in card.stdout, card.stdout
    assert "0.3.0 " + v03_server + "/" in card.stdout, card.stdout
    first = axocoatl("a2a", "send", v03_server, "-m", "hello", "--context", "ctx-03")
    assert first.stdout == "v03 peer says: hello (turn 1)\n" and "context ctx-03  task " in first.stderr
    again = json.loads(axocoatl("a2a", "send", v03_server, "-m", "again", "--context", "ctx-03", "--json").stdout)
    assert again["text"] == "v03 peer says: again (turn 2)" and again["context_id"] == "ctx-03", again
    assert again["task_id"]


def test_a_step_and_a_tool_use_the_0_3_agent(v03_server: str, tmp_path: Path) -> None:
    project = write_project(tmp_path / "project", A2A_CLIENT_PROJECT.format(url=v03_server))
    result = json.loads(axocoatl("workflow", "run", "delegate", "-i", "plan it", "--json", cwd=project).stdout)
    assert result["status"] == "completed", result
    [step] = result["steps"]
    assert step["output"] == "v03 peer says: plan it (turn 1)"

    asked = json.loads(axocoatl("workflow", "run", "asking", "-i", "ask", "--json", cwd=project).stdout)
    assert asked["status"] == "completed", asked
    [step] = asked["steps"]
    assert step["output"].startswith("asker got ") and "v03 peer says: ping (turn 1)" in step["output"], step


def test_cancelling_a_step_on_the_0_3_agent_cancels_its_task(v03_server: str, tmp_path: Path) -> None:
    events = tmp_path / "v03-events.log"

    def seen(what: str) -> list[str]:
        lines = events.read_text().splitlines() if events.exists() else []
        return [line.split()[1] for line in lines if line.startswith(what + " ")]

    project = A2A_CLIENT_PROJECT.format(url=v03_server)
    with running_daemon(tmp_path / "project", project) as local, local.client() as api:
        started = api.post("/api/workflows/delegate/execute", json={"input": "dawdle a while"})
        assert started.status_code == 202, started.text
        deadline = time.monotonic() + 60
        while not seen("working"):
            assert time.monotonic() < deadline, f"the 0.3 agent never worked on the task:\n{local.log()}"
            time.sleep(0.1)
        cancelled = api.post(f"/api/runs/{started.json()['run_id']}/cancel")
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled", cancelled.text
        while not seen("canceled"):
            assert time.monotonic() < deadline + 60, f"the 0.3 agent's task was never canceled:\n{local.log()}"
            time.sleep(0.1)
    assert seen("canceled") == seen("working")
