"""Approval through the Python API (Runtime, ApprovalGate): parked calls, decisions, scopes, the timeout."""

from __future__ import annotations

import asyncio
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from axocoatl.config.schema import AxocoatlConfig
from axocoatl.config.validation import validate_config
from axocoatl.core.errors import NotFound, UsageError
from axocoatl.runtime.runtime import Runtime
from axocoatl.store import ApprovalRecord, RunRecord
from axocoatl.tools.journal import run_tool_calls


def _config(work: Path, *, tools: str, calls: list[dict[str, Any]], extra: str = "") -> AxocoatlConfig:
    text = textwrap.dedent(
        f"""\
        agents:
          - id: worker
            provider: mock
            tools: {tools}
            options: {{tool_calls: {json.dumps(calls)}, reply: "saw {{tool_result}}"}}
        workflows:
          - id: job
            agents: [worker]
            workspace: {work}
        """
    )
    return AxocoatlConfig.model_validate(yaml.safe_load(text + textwrap.dedent(extra)))


WRITE = [{"name": "write_file", "arguments": {"path": "out.txt", "content": "hi"}}]


async def _pending(rt: Runtime, task: asyncio.Task[RunRecord]) -> ApprovalRecord:
    async with asyncio.timeout(30):
        while True:
            found = await rt.approvals.list(status="pending")
            if found:
                return found[0]
            assert not task.done(), task.result()
            await asyncio.sleep(0.01)


def _output(run: RunRecord) -> str:
    return run.steps[0].output or ""


async def test_an_allowed_call_runs_once_the_user_allows_it(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    config = _config(work, tools="[{name: write_file, requires_approval: true}]", calls=WRITE)
    async with Runtime(config, data_dir=tmp_path / "data") as rt:
        run_id, task = await rt.start_workflow("job", "go")
        request = await _pending(rt, task)
        assert (request.agent_id, request.tool, request.source, request.run_id) == (
            "worker",
            "write_file",
            "builtin",
            run_id,
        )
        assert request.arguments == {"path": "out.txt", "content": "hi"}
        assert not (work / "out.txt").exists()  # parked: not called yet
        parked = await rt.get_run(run_id)
        assert parked.steps[0].status == "awaiting_approval"
        [waiting] = await run_tool_calls(rt.store, run_id)
        assert (waiting["status"], waiting["approval_id"]) == ("awaiting_approval", request.approval_id)

        decided = await rt.approvals.decide(request.approval_id, allow=True)
        assert (decided.status, decided.decided_by) == ("allowed", "user")
        run = await task
    assert run.status == "completed"
    assert (work / "out.txt").read_text() == "hi"
    assert '"ok": true' in _output(run)


async def test_a_denied_call_is_a_tool_error_with_the_reason(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    config = _config(work, tools="[write_file]", calls=WRITE, extra="approval: {tools: [write_file]}\n")
    async with Runtime(config, data_dir=tmp_path / "data") as rt:
        run_id, task = await rt.start_workflow("job", "go")
        request = await _pending(rt, task)
        await rt.approvals.decide(request.approval_id, allow=False, reason="not in this repo")
        run = await task
        calls = await run_tool_calls(rt.store, run_id)
        with pytest.raises(UsageError, match="already decided: denied by user"):
            await rt.approvals.decide(request.approval_id, allow=True)
        with pytest.raises(NotFound, match="no approval request 'appr-nope'"):
            await rt.approvals.decide("appr-nope", allow=True)
        with pytest.raises(UsageError, match="unknown scope 'forever'"):
            await rt.approvals.decide(request.approval_id, allow=True, scope="forever")
    assert run.status == "completed"
    assert not (work / "out.txt").exists()
    assert "denied by the user: not in this repo" in _output(run)
    [call] = calls
    assert (call["name"], call["status"], call["is_error"]) == ("write_file", "done", True)


async def test_an_unanswered_call_is_denied_after_the_timeout(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    config = _config(
        work, tools="[write_file]", calls=WRITE, extra="approval: {timeout_secs: 0.3, sources: [builtin]}\n"
    )
    async with Runtime(config, data_dir=tmp_path / "data") as rt:
        run = await rt.run_workflow("job", "go")
        [request] = await rt.approvals.list()
    assert run.status == "completed"
    assert not (work / "out.txt").exists()
    assert "no decision within 0.3 s (approval.timeout_secs)" in _output(run)
    assert (request.status, request.decided_by) == ("denied", "timeout")


async def test_a_decision_saved_by_scope_decides_later_identical_calls(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    config = _config(work, tools="[write_file]", calls=WRITE, extra="approval: {tools: [write_file]}\n")
    async with Runtime(config, data_dir=tmp_path / "data") as rt:
        _, task = await rt.start_workflow("job", "first")
        first = await _pending(rt, task)
        await rt.approvals.decide(first.approval_id, allow=True, scope="agent_tool")
        assert (await task).status == "completed"
        (work / "out.txt").unlink()

        second = await rt.run_workflow("job", "second")  # no one answers: the saved decision does
        assert (work / "out.txt").read_text() == "hi"
        requests = await rt.approvals.list()
    assert second.status == "completed"
    assert [(r.status, r.decided_by) for r in requests] == [("allowed", "rule"), ("allowed", "user")]


async def test_the_most_specific_saved_decision_wins(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    config = _config(work, tools="[write_file]", calls=WRITE, extra="approval: {sources: [builtin]}\n")
    async with Runtime(config, data_dir=tmp_path / "data") as rt:
        gate = rt.approvals

        async def ask(agent: str, tool: str) -> asyncio.Future[Any]:
            asking = asyncio.ensure_future(gate.request(agent_id=agent, source="builtin", tool=tool, arguments={}))
            async with asyncio.timeout(30):
                while not await gate.list(status="pending"):
                    await asyncio.sleep(0.01)
            return asking

        # worker may write files (agent_tool); nobody may use builtins otherwise (source).
        asking = await ask("worker", "write_file")
        [pending] = await gate.list(status="pending")
        await gate.decide(pending.approval_id, allow=True, scope="agent_tool")
        assert (await asking).allowed
        asking = await ask("other", "bash")
        [pending] = await gate.list(status="pending")
        await gate.decide(pending.approval_id, allow=False, scope="source", reason="no builtins")
        assert not (await asking).allowed

        allowed = await gate.request(agent_id="worker", source="builtin", tool="write_file", arguments={})
        denied = await gate.request(agent_id="worker", source="builtin", tool="bash", arguments={})
        run = await rt.run_workflow("job", "go")  # decided without asking anyone
    assert (allowed.allowed, allowed.decided_by) == (True, "rule")
    assert (denied.allowed, denied.message) == (False, "denied by a saved decision: no builtins")
    assert run.status == "completed" and (work / "out.txt").read_text() == "hi"


def test_validate_names_unknown_approval_tools_and_sources(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        tools="[{name: write_file, requires_approval: true}]",
        calls=WRITE,
        extra="approval: {tools: [writ_file], sources: [bultin]}\n",
    )
    issues = [(i.path, i.message, i.hint) for i in validate_config(config) if i.severity == "error"]
    assert ("approval.tools[0]", "unknown tool 'writ_file'", "did you mean 'write_file'?") in issues
    assert any(path == "approval.sources[0]" and "unknown tool source 'bultin'" in msg for path, msg, _ in issues)
    assert config.agents[0].tool_names == ["write_file"]
    assert config.agents[0].approval_tools == frozenset({"write_file"})


TOOLS_PY = '''
import axocoatl

CALLED = []

@axocoatl.tool(effect="external", requires_approval=True)
def launch(target: str) -> str:
    """Launch something."""
    CALLED.append(target)
    return f"launched {target}"

@axocoatl.tool
def peek(target: str) -> str:
    """Look at something."""
    return f"looked at {target}"
'''


async def test_python_tools_ask_when_decorated_or_when_their_source_does(tmp_path: Path) -> None:
    (tmp_path / "mytools.py").write_text(TOOLS_PY)
    calls = [{"name": "peek", "arguments": {"target": "a"}}, {"name": "launch", "arguments": {"target": "b"}}]
    extra = f"tools: {{python: [{tmp_path / 'mytools.py'}]}}\n"
    config = _config(tmp_path, tools="[peek, launch]", calls=calls, extra=extra)
    async with Runtime(config, data_dir=tmp_path / "data") as rt:
        run_id, task = await rt.start_workflow("job", "go")
        request = await _pending(rt, task)
        assert (request.tool, request.source) == ("launch", "python")  # peek ran without asking
        await rt.approvals.decide(request.approval_id, allow=True)
        assert (await task).status == "completed"
        first = [(c["name"], c["result"]) for c in await run_tool_calls(rt.store, run_id)]
    assert first == [("peek", "looked at a"), ("launch", "launched b")]

    config = _config(tmp_path, tools="[peek]", calls=calls[:1], extra=extra + "approval: {sources: [python]}\n")
    async with Runtime(config, data_dir=tmp_path / "data2") as rt:
        _, task = await rt.start_workflow("job", "go")
        request = await _pending(rt, task)  # the whole source asks now, peek too
        assert request.tool == "peek"
        await rt.approvals.decide(request.approval_id, allow=False, reason="no")
        run = await task
    assert "denied by the user: no" in _output(run)


def test_approval_sources_may_name_a_configured_mcp_server(tmp_path: Path) -> None:
    extra = "mcp_servers: [{name: github, command: github-mcp}]\napproval: {sources: [mcp:github, mcp:gitlab]}\n"
    config = _config(tmp_path, tools="[write_file]", calls=WRITE, extra=extra)
    errors = [(i.path, i.message, i.hint) for i in validate_config(config) if i.severity == "error"]
    assert errors == [("approval.sources[1]", "unknown tool source 'mcp:gitlab'", "did you mean 'mcp:github'?")]


async def test_read_calls_of_one_reply_wait_together_and_the_step_goes_on_when_both_are_decided(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "a.txt").write_text("A")
    (work / "b.txt").write_text("B")
    calls = [
        {"name": "read_file", "arguments": {"path": "a.txt"}},
        {"name": "read_file", "arguments": {"path": "b.txt"}},
    ]
    config = _config(work, tools="[read_file]", calls=calls, extra="approval: {tools: [read_file]}\n")
    async with Runtime(config, data_dir=tmp_path / "data") as rt:
        run_id, task = await rt.start_workflow("job", "go")
        async with asyncio.timeout(30):
            while len(pending := await rt.approvals.list(status="pending")) < 2:
                await asyncio.sleep(0.01)
        by_path = {r.arguments["path"]: r for r in pending}
        await rt.approvals.decide(by_path["a.txt"].approval_id, allow=True)
        async with asyncio.timeout(30):  # a runs…
            while not any(c["status"] == "done" for c in await run_tool_calls(rt.store, run_id)):
                await asyncio.sleep(0.01)
        assert (await rt.get_run(run_id)).steps[0].status == "awaiting_approval"  # …while b still waits
        await rt.approvals.decide(by_path["b.txt"].approval_id, allow=False, reason="not b")
        run = await task
        results = [(c["arguments"]["path"], c["is_error"]) for c in await run_tool_calls(rt.store, run_id)]
    assert run.status == "completed"
    assert results == [("a.txt", False), ("b.txt", True)]


@pytest.mark.slow
async def test_the_workflow_timeout_stops_while_a_call_waits_and_runs_again_after(tmp_path: Path) -> None:
    """Waiting is not counted, also across a restart of the agent under the waiting step; the rest is."""
    work = tmp_path / "work"
    work.mkdir()
    calls = [*WRITE, {"name": "bash", "arguments": {"command": "sleep 20"}}]
    config = _config(work, tools="[{name: write_file, requires_approval: true}, bash]", calls=calls)
    config.workflows[0].timeout_secs = 2.0
    async with Runtime(config, data_dir=tmp_path / "data") as rt:
        run_id, task = await rt.start_workflow("job", "go")
        request = await _pending(rt, task)
        await asyncio.sleep(2.5)  # longer than the workflow may take: waiting does not count
        await rt.restart_agent("worker")  # the new actor runs the step again, and waits for the same call
        async with asyncio.timeout(30):
            while (await rt.get_run(run_id)).steps[0].attempts < 2:
                await asyncio.sleep(0.01)
        assert [r.approval_id for r in await rt.approvals.list(status="pending")] == [request.approval_id]
        await rt.approvals.decide(request.approval_id, allow=True)
        run = await task  # the 20 s command outlasts what is left of the 2 s
    assert (work / "out.txt").read_text() == "hi"
    assert run.status == "failed" and "timed out after 2 s" in (run.error or "")


@pytest.mark.slow
async def test_the_agent_timeout_stops_while_a_call_waits(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    config = _config(work, tools="[{name: write_file, requires_approval: true}]", calls=WRITE)
    config.agents[0].timeout_secs = 1.0
    async with Runtime(config, data_dir=tmp_path / "data") as rt:
        _, task = await rt.start_workflow("job", "go")
        request = await _pending(rt, task)
        await asyncio.sleep(1.5)  # longer than one execution of the agent may take: waiting does not count
        await rt.approvals.decide(request.approval_id, allow=True)
        run = await task
    assert run.status == "completed", run.error
    assert (work / "out.txt").read_text() == "hi"
