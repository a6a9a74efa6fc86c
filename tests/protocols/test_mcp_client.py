"""The MCP client: real servers (mcp-server-time, server-everything, the SDK-built scripted server) plugged
into agents on the mock provider, through the runtime, including a server killed in the middle."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import config_from_yaml
from tests.protocols.support import SCRIPTED, children_matching, free_port, peer, until

from axocoatl.core.errors import ToolError
from axocoatl.core.events import MCP_LOG, MCP_PROGRESS, MCP_SERVER_STATUS, RuntimeEvent
from axocoatl.core.messages import ToolCall
from axocoatl.runtime.runtime import Runtime
from axocoatl.tools.pipeline import ToolPipeline
from axocoatl.tools.workspace import Workspace

pytestmark = pytest.mark.slow


def agent_yaml(tools: list[str], calls: list[dict[str, Any]], reply: str = "done: {tool_result}") -> str:
    options = json.dumps({"tool_calls": calls, "reply": reply})
    return f"""
agents:
  - id: a
    provider: mock
    tools: {json.dumps(tools)}
    options: {options}
"""


def servers_yaml(**servers: dict[str, Any]) -> str:
    entries = [{"name": name, **fields} for name, fields in servers.items()]
    return "mcp_servers: " + json.dumps(entries) + "\n"


def time_server() -> dict[str, Any]:
    return {"command": peer("mcp-server-time"), "args": ["--local-timezone", "UTC"]}


def scripted(tmp_path: Path, *extra: str) -> dict[str, Any]:
    return {
        "command": sys.executable,
        "args": [str(SCRIPTED), "--pid-file", str(tmp_path / "scripted.pid"), *extra],
        "env": {"NOTES": str(tmp_path / "notes.txt")},
    }


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[Callable[[str], Any]]:
    opened: list[Runtime] = []

    async def start(text: str) -> Runtime:
        rt = Runtime(config_from_yaml(text), data_dir=tmp_path / "data")
        await rt.start()
        opened.append(rt)
        return rt

    yield start
    for rt in opened:
        await rt.aclose()


async def call(rt: Runtime, tool: str, **arguments: Any) -> tuple[bool, str]:
    """Call a registered tool the way a turn does (allow-list: just that tool)."""
    toolbox = rt.tools.view("tester", [tool])
    pipeline = ToolPipeline(toolbox, rt.tool_services.environment("tester", Workspace(rt.data_dir)))
    [record] = await pipeline.run_round(0, [ToolCall("c1", tool, arguments)])
    return record.is_error, record.result


async def test_an_agent_calls_tools_of_two_real_servers_chosen_by_globs(runtime: Any) -> None:
    calls = [
        {"name": "mcp__time__get_current_time", "arguments": {"timezone": "Europe/Paris"}},
        {"name": "mcp__every__get-sum", "arguments": {"a": 2, "b": 3}},
    ]
    every = {"command": peer("mcp-server-everything")}
    rt = await runtime(
        servers_yaml(time=time_server(), every=every)
        + agent_yaml(["mcp__time__*", "mcp__every__get-sum"], calls, reply="{tool_result}")
    )
    states = {s.name: s for s in rt.mcp.states()}
    assert states["time"].status == "connected" and states["every"].status == "connected"
    assert {t.name for t in states["time"].tools} == {"get_current_time", "convert_time"}

    current = rt.tools.get("mcp__time__get_current_time")
    assert current is not None and current.effect == "read"  # readOnlyHint
    assert "timezone" in current.parameters["properties"]
    toggle = rt.tools.get("mcp__every__toggle-simulated-logging")
    assert toggle is not None and toggle.effect == "external"  # no readOnlyHint

    view = rt.tools.view("a", rt.config.agents[0].tools)
    assert "mcp__time__convert_time" in view and "mcp__every__get-sum" in view
    assert "mcp__every__echo" not in view  # not allowed

    out = await rt.execute("a", "what time is it, and 2+3?")
    assert out.content == "The sum of 2 and 3 is 5."  # the last tool result
    paris, total = out.tool_calls
    assert not paris.is_error and json.loads(paris.result)["timezone"] == "Europe/Paris"
    assert not total.is_error


async def test_tool_results_reach_the_model(runtime: Any) -> None:
    calls = [
        {
            "name": "mcp__time__convert_time",
            "arguments": {"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"},
        }
    ]
    rt = await runtime(servers_yaml(time=time_server()) + agent_yaml(["mcp__time__convert_time"], calls))
    out = await rt.execute("a", "convert")
    assert out.content.startswith("done: ")
    result = json.loads(out.content.removeprefix("done: "))
    assert result["target"]["timezone"] == "Asia/Tokyo"
    assert result["target"]["datetime"].endswith("21:00:00+09:00")


async def test_a_server_that_cannot_start_is_reported_and_holds_up_no_other(runtime: Any, tmp_path: Path) -> None:
    rt = await runtime(
        servers_yaml(broken={"command": str(tmp_path / "no-such-server")}, s=scripted(tmp_path))
        + agent_yaml(["mcp__s__add", "mcp__broken__*"], [{"name": "mcp__s__add", "arguments": {"a": 1, "b": 2}}])
    )
    states = {s.name: s for s in rt.mcp.states()}
    assert states["s"].status == "connected"
    assert states["broken"].status == "failed"
    assert "no-such-server" in (states["broken"].last_error or "")
    assert (await rt.execute("a", "add")).content == "done: 3"


async def test_a_crashing_server_reports_its_stderr(runtime: Any, tmp_path: Path) -> None:
    crash = {"command": sys.executable, "args": ["-c", "import sys; sys.exit('cannot open the database: locked')"]}
    rt = await runtime(servers_yaml(crash=crash))
    [state] = rt.mcp.states()
    assert state.status == "failed"
    assert "cannot open the database: locked" in (state.last_error or "")


async def test_killed_servers_restart_and_the_agent_goes_on(runtime: Any, tmp_path: Path) -> None:
    calls = [
        {"name": "mcp__time__get_current_time", "arguments": {"timezone": "UTC"}},
        {"name": "mcp__s__add", "arguments": {"a": 20, "b": 22}},
    ]
    rt = await runtime(
        servers_yaml(time=time_server(), s=scripted(tmp_path))
        + agent_yaml(["mcp__time__*", "mcp__s__*"], calls, reply="{tool_result}")
    )
    statuses: list[tuple[str, str]] = []
    rt.bus.subscribe(
        lambda e: statuses.append((e.payload["server"], e.payload["status"])) if e.type == MCP_SERVER_STATUS else None
    )
    assert (await rt.execute("a", "first")).content == "42"

    # Kill the third-party server, then the scripted one; the agent's next turn uses both again.
    [time_pid] = children_matching("mcp-server-time")
    os.kill(time_pid, signal.SIGKILL)
    scripted_pid = int((tmp_path / "scripted.pid").read_text())
    os.kill(scripted_pid, signal.SIGKILL)
    out = await rt.execute("a", "second")
    assert out.content == "42"
    await until(lambda: all(s.status == "connected" for s in rt.mcp.states()), "both servers back")

    states = {s.name: s for s in rt.mcp.states()}
    assert states["time"].restarts >= 1 and states["s"].restarts >= 1
    assert int((tmp_path / "scripted.pid").read_text()) != scripted_pid
    assert children_matching("mcp-server-time") != [time_pid]
    assert ("s", "reconnecting") in statuses and statuses[-1][1] == "connected"


async def test_a_side_effect_call_cut_off_by_a_crash_is_not_repeated(runtime: Any, tmp_path: Path) -> None:
    rt = await runtime(servers_yaml(s=scripted(tmp_path)))
    note = rt.tools.get("mcp__s__note")
    assert note is not None and note.effect == "external"
    assert await call(rt, "mcp__s__note", text="one") == (False, "noted")
    assert (tmp_path / "notes.txt").read_text() == "one\n"  # env reached the server
    rt.mcp.connections["s"].restart()
    await until(lambda: rt.mcp.states()[0].restarts == 1 and rt.mcp.states()[0].status == "connected", "restarted")
    assert await call(rt, "mcp__s__note", text="two") == (False, "noted")


async def test_tools_list_changed_is_followed(runtime: Any, tmp_path: Path) -> None:
    rt = await runtime(servers_yaml(s=scripted(tmp_path)))
    assert rt.tools.get("mcp__s__fresh") is None
    assert await call(rt, "mcp__s__grow", name="fresh") == (False, "grew fresh")
    await until(lambda: rt.tools.get("mcp__s__fresh") is not None, "the grown tool registered")
    assert await call(rt, "mcp__s__fresh") == (False, "I am fresh")


async def test_progress_notifications_reach_the_bus(runtime: Any, tmp_path: Path) -> None:
    rt = await runtime(servers_yaml(s=scripted(tmp_path)))
    events: list[RuntimeEvent] = []
    rt.bus.subscribe(lambda e: events.append(e) if e.type == MCP_PROGRESS else None)
    assert await call(rt, "mcp__s__steps", count=3) == (False, "3 steps")
    await until(lambda: len(events) == 3, "three progress events")
    assert [e.payload["progress"] for e in events] == [1, 2, 3]
    assert events[0].agent_id == "tester" and events[0].payload["server"] == "s"
    assert events[2].payload["message"] == "step 3"


async def test_logging_notifications_reach_the_bus(runtime: Any, tmp_path: Path) -> None:
    rt = await runtime(servers_yaml(s=scripted(tmp_path)))
    events: list[RuntimeEvent] = []
    rt.bus.subscribe(lambda e: events.append(e) if e.type == MCP_LOG else None)
    assert await call(rt, "mcp__s__shout", text="disk almost full") == (False, "shouted")
    await until(lambda: len(events) == 1, "the logging notification on the bus")
    [event] = events
    assert event.produced_by == "mcp:s"
    assert event.payload == {"server": "s", "level": "warning", "logger": "scripted.shout", "data": "disk almost full"}


async def test_http_servers_get_the_configured_headers_and_bearer_token(
    runtime: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    server = subprocess.Popen([sys.executable, str(SCRIPTED), "--http", str(port)], stderr=subprocess.DEVNULL)
    try:
        monkeypatch.setenv("SCRIPTED_TOKEN", "s3cret")
        http = {
            "transport": "streamable_http",
            "url": f"http://127.0.0.1:{port}/mcp",
            "headers": {"X-Trace": "abc"},
            "bearer_token_env": "SCRIPTED_TOKEN",
            "startup_timeout_secs": 30,
        }
        unset = {"transport": "http", "url": f"http://127.0.0.1:{port}/mcp", "bearer_token_env": "NOT_SET_ANYWHERE"}
        await until(lambda: _listening(port), "the HTTP server listening")
        rt = await runtime(servers_yaml(web=http, nokey=unset))
        states = {s.name: s for s in rt.mcp.states()}
        assert states["web"].status == "connected", states["web"].last_error
        assert await call(rt, "mcp__web__whoami") == (False, "auth=Bearer s3cret trace=abc")
        assert states["nokey"].status == "failed"
        assert "NOT_SET_ANYWHERE" in (states["nokey"].last_error or "")
    finally:
        server.kill()
        server.wait()


async def test_resources_and_prompts_are_offered_as_tools(runtime: Any) -> None:
    rt = await runtime(servers_yaml(every={"command": peer("mcp-server-everything")}))
    [state] = rt.mcp.states()
    assert state.resources and state.prompts
    reader = rt.tools.get("mcp_read_resource")
    assert reader is not None and reader.parameters["properties"]["server"]["enum"] == ["every"]
    text = next(r for r in state.resources if (r.mime_type or "").startswith("text/"))
    failed, result = await call(rt, "mcp_read_resource", server="every", uri=text.uri)
    assert not failed, result
    [contents] = json.loads(result)
    assert contents["uri"] == text.uri and contents["text"]

    simple = next(p for p in state.prompts if not p.required)
    failed, result = await call(rt, "mcp_get_prompt", server="every", name=simple.name)
    assert not failed, result
    assert json.loads(result)["messages"][0]["role"] == "user"
    failed, result = await call(rt, "mcp_get_prompt", server="every", name="no-such-prompt")
    assert failed and "could not get prompt 'no-such-prompt'" in result


async def test_a_tool_error_reaches_the_model_as_an_error(runtime: Any, tmp_path: Path) -> None:
    rt = await runtime(servers_yaml(time=time_server()))
    failed, result = await call(rt, "mcp__time__get_current_time", timezone="Mars/Olympus_Mons")
    assert failed
    assert "MCP tool 'get_current_time' of server 'time' failed" in json.loads(result)["error"]


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


async def test_requires_approval_parks_the_servers_calls_until_decided(tmp_path: Path) -> None:
    calls = [
        {"name": "mcp__s__note", "arguments": {"text": "approved"}},
        {"name": "mcp__s__add", "arguments": {"a": 1, "b": 1}},
    ]
    text = servers_yaml(s={**scripted(tmp_path), "requires_approval": ["note"]}) + agent_yaml(["mcp__s__*"], calls)
    text += "workflows:\n  - {id: job, agents: [a]}\n"
    rt = Runtime(config_from_yaml(text), data_dir=tmp_path / "data")
    async with rt:
        note, add = rt.tools.get("mcp__s__note"), rt.tools.get("mcp__s__add")
        assert note is not None and note.requires_approval
        assert add is not None and not add.requires_approval
        run_id, task = await rt.start_workflow("job", "go")
        async with asyncio.timeout(30):
            while not (pending := await rt.approvals.list(status="pending")):
                await asyncio.sleep(0.02)
        [request] = pending
        assert (request.tool, request.source, request.run_id) == ("mcp__s__note", "mcp:s", run_id)
        assert not (tmp_path / "notes.txt").exists()  # parked: the server was not called
        await rt.approvals.decide(request.approval_id, allow=True)
        run = await task
    assert run.status == "completed"
    assert (tmp_path / "notes.txt").read_text() == "approved\n"


async def test_an_elicitation_becomes_an_approval_request(tmp_path: Path) -> None:
    calls = [{"name": "mcp__s__ask", "arguments": {"defaults": True}}]
    text = servers_yaml(s=scripted(tmp_path)) + agent_yaml(["mcp__s__ask"], calls, reply="{tool_result}")
    text += "workflows:\n  - {id: job, agents: [a]}\n"
    async with Runtime(config_from_yaml(text), data_dir=tmp_path / "data") as rt:
        run_id, task = await rt.start_workflow("job", "go")
        async with asyncio.timeout(30):
            while not (pending := await rt.approvals.list(status="pending")):
                await asyncio.sleep(0.02)
        [request] = pending
        assert (request.agent_id, request.source, request.tool, request.run_id) == ("a", "mcp:s", "elicitation", run_id)
        assert request.arguments["message"] == "Which colour?"
        await rt.approvals.decide(request.approval_id, allow=True)
        run = await task
        assert run.final_output == "accept {'colour': 'blue'}"

        # A form whose required field has no default cannot be answered: declined without asking anyone.
        assert await call(rt, "mcp__s__ask", defaults=False) == (False, "decline None")
        assert len(await rt.approvals.list()) == 1


async def test_a_server_with_only_the_legacy_sse_transport(runtime: Any, tmp_path: Path) -> None:
    port = free_port()
    server = subprocess.Popen([sys.executable, str(SCRIPTED), "--sse", str(port)], stderr=subprocess.DEVNULL)
    try:
        await until(lambda: _listening(port), "the SSE server listening")
        rt = await runtime(servers_yaml(old={"transport": "sse", "url": f"http://127.0.0.1:{port}/sse"}))
        [state] = rt.mcp.states()
        assert state.status == "connected", state.last_error
        assert await call(rt, "mcp__old__add", a=40, b=2) == (False, "42")
    finally:
        server.kill()
        server.wait()


async def test_a_legacy_sse_server_taken_for_a_streamable_http_one_is_named(runtime: Any, tmp_path: Path) -> None:
    port = free_port()
    server = subprocess.Popen([sys.executable, str(SCRIPTED), "--sse", str(port)], stderr=subprocess.DEVNULL)
    try:
        await until(lambda: _listening(port), "the SSE server listening")
        rt = await runtime(servers_yaml(old={"transport": "http", "url": f"http://127.0.0.1:{port}/sse"}))
        [state] = rt.mcp.states()
        assert state.status == "failed"
        assert state.last_error is not None and "set transport: sse" in state.last_error, state.last_error
    finally:
        server.kill()
        server.wait()


async def test_the_filesystem_reference_server(runtime: Any, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "notes.md").write_text("# Notes\nWAL mode keeps readers and the writer apart.\n")
    fs = {"command": peer("mcp-server-filesystem"), "args": [str(shared)]}
    calls = [{"name": "mcp__fs__read_text_file", "arguments": {"path": str(shared / "notes.md")}}]
    rt = await runtime(servers_yaml(fs=fs) + agent_yaml(["mcp__fs__read_*"], calls, reply="{tool_result}"))
    [state] = rt.mcp.states()
    assert state.status == "connected", state.last_error
    assert rt.tools.get("mcp__fs__write_file") is not None
    assert rt.tools.get("mcp__fs__write_file").effect == "external"  # type: ignore[union-attr]
    out = await rt.execute("a", "read the notes")
    assert "WAL mode keeps readers and the writer apart." in out.content
    failed, result = await call(rt, "mcp__fs__read_text_file", path="/etc/hostname")
    assert failed and "path outside allowed directories" in result


async def test_the_memory_reference_server_keeps_what_an_agent_stored_across_runtimes(tmp_path: Path) -> None:
    memory = {"command": peer("mcp-server-memory"), "env": {"MEMORY_FILE_PATH": str(tmp_path / "graph.jsonl")}}
    entity = {"name": "axocoatl", "entityType": "project", "observations": ["stores runs in SQLite WAL"]}
    store = [{"name": "mcp__mem__create_entities", "arguments": {"entities": [entity]}}]
    text = servers_yaml(mem=memory) + agent_yaml(["mcp__mem__*"], store, reply="{tool_result}")
    async with Runtime(config_from_yaml(text), data_dir=tmp_path / "data") as rt:
        [state] = rt.mcp.states()
        assert state.status == "connected", state.last_error
        assert rt.tools.get("mcp__mem__read_graph").effect == "read"  # type: ignore[union-attr]
        assert rt.tools.get("mcp__mem__create_entities").effect == "external"  # type: ignore[union-attr]
        out = await rt.execute("a", "remember the project")
        assert out.tool_calls[0].is_error is False, out.tool_calls[0].result
    # A new runtime starts the server again: the graph it kept in its file answers a search.
    search = [{"name": "mcp__mem__search_nodes", "arguments": {"query": "WAL"}}]
    text = servers_yaml(mem=memory) + agent_yaml(["mcp__mem__*"], search, reply="{tool_result}")
    async with Runtime(config_from_yaml(text), data_dir=tmp_path / "data") as rt:
        out = await rt.execute("a", "what do you know about WAL?")
        assert "stores runs in SQLite WAL" in out.content


async def test_sampling_is_answered_by_the_calling_agents_model_within_its_budget(tmp_path: Path) -> None:
    calls = [{"name": "mcp__s__think", "arguments": {"prompt": "what is WAL?"}}]
    text = (
        servers_yaml(s=scripted(tmp_path))
        + f"""
agents:
  - id: a
    provider: mock
    tools: [mcp__s__think]
    options: {json.dumps({"tool_calls": calls, "reply": "{tool_result}"})}
  - id: tight
    provider: mock
    tools: [mcp__s__think]
    token_budget: {{per_call: 5, per_execution: 100000}}
"""
    )
    async with Runtime(config_from_yaml(text), data_dir=tmp_path / "data") as rt:
        out = await rt.execute("a", "ask the server")
        # The server's request reached agent a's model (the mock: its tool call turn, then its reply template).
        assert out.content.startswith("sampled: ")
        assert out.tool_calls[0].is_error is False
        # The sampling call is agent a's spend: its two turn calls and the server's request, in its ledger.
        [usage] = await rt.store.token_report(agent_id="a")
        assert usage.calls == 3 and usage.input > 0 and usage.output > 0
        toolbox = rt.tools.view("tight", ["mcp__s__think"])
        pipeline = ToolPipeline(toolbox, rt.tool_services.environment("tight", Workspace(rt.data_dir)))
        [record] = await pipeline.run_round(0, [ToolCall("c1", "mcp__s__think", {"prompt": "x" * 200})])
        assert record.is_error and "over agent 'tight''s per_call budget" in record.result
        # Outside an agent's call nobody answers.
        with pytest.raises(ToolError, match="only while an agent's call"):
            await rt.mcp.connections["s"].call_tool("think", {"prompt": "anyone?"})
