"""Our MCP server, driven by the official Python SDK client: `axocoatl mcp serve` over stdio, and /mcp on the
daemon over streamable HTTP (auth, Host and Origin checks), with progress, cancellation and run resources."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from tests.server.support import running_daemon

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent.parent
KEY = "sk-mcp-test-5c1d2e"
PROJECT = """
agents:
  - id: assistant
    provider: mock
    system_prompt: "You answer questions."
    options: {reply: "Hello ({turn}): {input}"}
  - id: researcher
    provider: mock
    options: {reply: "notes on {input_head}"}
  - id: summarizer
    provider: mock
    depends_on: [researcher]
    options: {reply: "summary of the notes"}
  - id: slow
    provider: mock
    options: {latency_ms: 60000}
workflows:
  - id: research
    description: Research a topic and summarise it.
    agents: [researcher, summarizer]
  - id: stuck
    agents: [slow]
"""


def write(directory: Path, extra: str = "") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "axocoatl.yaml").write_text(textwrap.dedent(PROJECT) + extra)
    return directory


@asynccontextmanager
async def stdio_client(directory: Path) -> AsyncIterator[Client]:
    env = {"PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)]), "NO_COLOR": "1"}
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "axocoatl", "mcp", "serve"], env=env, cwd=str(directory)
    )
    async with Client(params, mode="legacy") as client:
        yield client


async def exercise(client: Client) -> None:
    """What every transport must do: list, call an agent (twice on a thread), run a workflow with progress."""
    listed = await client.list_tools()
    names = [t.name for t in listed.tools]
    assert names == [
        "agent_assistant",
        "agent_researcher",
        "agent_summarizer",
        "agent_slow",
        "workflow_research",
        "workflow_stuck",
    ]
    agent = listed.tools[0]
    assert agent.input_schema["required"] == ["input"] and "thread" in agent.input_schema["properties"]
    assert "You answer questions." in (agent.description or "")
    workflow = next(t for t in listed.tools if t.name == "workflow_research")
    assert list(workflow.input_schema["properties"]) == ["input"]
    assert "Research a topic" in (workflow.description or "")

    first = await client.call_tool("agent_assistant", {"input": "hi", "thread": "t1"})
    second = await client.call_tool("agent_assistant", {"input": "again", "thread": "t1"})
    other = await client.call_tool("agent_assistant", {"input": "elsewhere", "thread": "t2"})
    assert [_text(r) for r in (first, second, other)] == ["Hello (1): hi", "Hello (2): again", "Hello (1): elsewhere"]

    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total, message))

    result = await client.call_tool("workflow_research", {"input": "WAL mode"}, progress_callback=on_progress)
    assert not result.is_error, _text(result)
    assert result.structured_content["status"] == "completed"
    assert result.structured_content["output"] == "summary of the notes"
    assert [m for _, _, m in progress] == [
        "AgentActivated researcher",
        "TaskCompleted researcher",
        "AgentActivated summarizer",
        "TaskCompleted summarizer",
    ]
    assert progress[-1][:2] == (2, 2)

    run_id = result.structured_content["run_id"]
    resources = await client.list_resources()
    uris = [r.uri for r in resources.resources]
    assert f"axocoatl://runs/{run_id}" in uris
    read = await client.read_resource(f"axocoatl://runs/{run_id}")
    run = json.loads(read.contents[0].text)  # type: ignore[union-attr]
    assert run["run_id"] == run_id and run["status"] == "completed"

    missing = await client.call_tool("agent_nobody", {"input": "x"})
    assert missing.is_error
    bad = await client.call_tool("agent_assistant", {})
    assert bad.is_error and "input" in _text(bad)


def _jsonrpc(response: httpx.Response) -> Any:
    """The JSON-RPC message of a streamable HTTP answer, sent as JSON or as one SSE event."""
    if response.headers["content-type"].startswith("application/json"):
        return response.json()
    data = [line[5:].strip() for line in response.text.splitlines() if line.startswith("data:") and line[5:].strip()]
    return json.loads(data[0])


def _text(result: Any) -> str:
    return "\n".join(block.text for block in result.content if getattr(block, "type", "") == "text")


async def test_the_sdk_client_over_stdio(tmp_path: Path) -> None:
    async with stdio_client(write(tmp_path / "p")) as client:
        assert client.protocol_version == "2025-11-25"
        assert client.server_info is not None and client.server_info.name == "axocoatl"
        await exercise(client)


async def test_a_cancelled_workflow_call_cancels_the_run(tmp_path: Path) -> None:
    async with stdio_client(write(tmp_path / "p")) as client:
        with anyio.move_on_after(3):  # the client gives up: the SDK sends notifications/cancelled
            await client.call_tool("workflow_stuck", {"input": "forever"})
        resources = []
        with anyio.fail_after(30):
            while not resources:
                listed = await client.list_resources()
                resources = [r for r in listed.resources if "stuck" in (r.description or "")]
                if resources and "cancelled" not in (resources[0].description or ""):
                    resources = []
                await anyio.sleep(0.1)
        run = json.loads((await client.read_resource(resources[0].uri)).contents[0].text)  # type: ignore[union-attr]
        assert run["status"] == "cancelled" and run["error"] == "run cancelled"  # resumable: `runs resume`
        assert [s["status"] for s in run["steps"]] == ["cancelled"]
        # Still usable afterwards.
        assert _text(await client.call_tool("agent_assistant", {"input": "still there"})) == "Hello (1): still there"


@asynccontextmanager
async def http_client(url: str, headers: dict[str, str]) -> AsyncIterator[Client]:
    async with (
        httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=300)) as http,
        Client(streamable_http_client(url, http_client=http), mode="legacy") as client,
    ):
        yield client


async def test_the_sdk_client_over_http_on_the_daemon(tmp_path: Path) -> None:
    secured = f'server:\n  auth:\n    api_keys: ["{KEY}"]\n'
    with running_daemon(tmp_path / "d", textwrap.dedent(PROJECT) + secured) as daemon:
        url = daemon.url + "/mcp"
        async with http_client(url, {"x-api-key": KEY}) as client:
            assert client.protocol_version == "2025-11-25"
            await exercise(client)

        initialize = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"},
            },
        }
        accept = {"accept": "application/json, text/event-stream", "x-api-key": KEY}
        with httpx.Client(timeout=30) as raw:
            assert raw.post(url, json=initialize, headers={"accept": accept["accept"]}).status_code == 401
            ok = raw.post(url, json=initialize, headers=accept)
            assert ok.status_code == 200 and "mcp-session-id" in ok.headers
            rebinding = raw.post(url, json=initialize, headers={**accept, "host": "evil.example"})
            assert rebinding.status_code == 421
            foreign = raw.post(url, json=initialize, headers={**accept, "origin": "http://evil.example"})
            assert foreign.status_code == 403
            same = raw.post(url, json=initialize, headers={**accept, "origin": daemon.url})
            assert same.status_code == 200
            for revision in ("2025-03-26", "2025-06-18", "2025-11-25"):  # each handshake revision, negotiated
                asked = {**initialize, "params": {**initialize["params"], "protocolVersion": revision}}
                answer = raw.post(url, json=asked, headers=accept)
                assert _jsonrpc(answer)["result"]["protocolVersion"] == revision


def inspector(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The MCP Inspector's CLI (npm @modelcontextprotocol/inspector, a TypeScript-SDK client) on our server."""
    tools = REPO / "tools" / "mcp" / "node_modules"
    node = tools / "node" / "bin"
    assert (tools / ".bin" / "mcp-inspector").exists() and (node / "node").exists(), (
        "the MCP Inspector or Node 22 is not installed: run scripts/install-mcp-peers.sh"
    )
    env = {**os.environ, "PATH": f"{node}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        [str(tools / ".bin" / "mcp-inspector"), "--cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_inspector_over_stdio_and_http(tmp_path: Path) -> None:
    project = write(tmp_path / "p")
    serve = [sys.executable, "-m", "axocoatl", "mcp", "serve", "-e", f"PYTHONPATH={REPO / 'src'}"]
    listed = inspector(*serve, "--method", "tools/list", "--strict", cwd=project)
    assert listed.returncode == 0, listed.stderr
    assert [t["name"] for t in json.loads(listed.stdout)["tools"]][:2] == ["agent_assistant", "agent_researcher"]
    called = inspector(
        *serve, "--method", "tools/call", "--tool-name", "agent_assistant", "--tool-arg", "input=hi", cwd=project
    )
    assert called.returncode == 0, called.stderr
    assert json.loads(called.stdout)["content"][0]["text"] == "Hello (1): hi"

    secured = f'server:\n  auth:\n    api_keys: ["{KEY}"]\n'
    with running_daemon(tmp_path / "d", textwrap.dedent(PROJECT) + secured) as daemon:
        url = daemon.url + "/mcp"
        run = inspector(
            url,
            "--transport",
            "http",
            "--header",
            f"x-api-key: {KEY}",
            "--method",
            "tools/call",
            "--tool-name",
            "workflow_research",
            "--tool-arg",
            "input=WAL",
            cwd=tmp_path,
        )
        assert run.returncode == 0, run.stderr
        assert json.loads(run.stdout)["structuredContent"]["output"] == "summary of the notes"
        refused = inspector(url, "--transport", "http", "--method", "tools/list", cwd=tmp_path)
        assert refused.returncode != 0  # no key
