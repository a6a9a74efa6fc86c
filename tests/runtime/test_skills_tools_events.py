"""Skills routed through the lattice, the tool allow-list inside workflows, the event log and the bus."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import pytest

from axocoatl.core import events as ev
from axocoatl.core.errors import UsageError
from axocoatl.core.events import RuntimeEvent
from axocoatl.memory.tools import MEMORY_TOOL_NAMES
from axocoatl.runtime.runtime import Runtime

from .support import build_config, mock_agent, steps

SKILLS = {
    "skills": [
        {"id": "kickoff", "emits": ["topic_ready"]},
        {
            "id": "research",
            "reacts_to": ["topic_ready"],
            "emits": ["notes_ready"],
            "agents": ["researcher"],
            "prompt": "Research this.",
        },
        {"id": "write", "reacts_to": ["notes_ready"], "agents": ["writer"], "prompt": "Write it up."},
    ]
}


async def test_firing_a_skill_cascades_through_reacts_to(make_runtime: Callable[..., Runtime], recording) -> None:
    config = build_config(
        [mock_agent("researcher"), mock_agent("writer"), mock_agent("bystander")],
        members=["bystander"],
        **SKILLS,
    )
    async with make_runtime(config, providers={"mock": recording}) as rt:
        run_id, done = await rt.fire_skill("kickoff", "quantum dots")
        async with asyncio.timeout(30):
            result = await done
    assert result.run_id == run_id
    assert result.status == "completed"
    assert result.workflow_id == "skill:kickoff"
    by_id = steps(result)
    assert set(by_id) == {"researcher", "writer"}  # only holders of reacting skills take part
    assert recording.calls("bystander") == 0
    assert recording.calls("researcher") == recording.calls("writer") == 1
    researcher, writer = by_id["researcher"], by_id["writer"]
    assert (researcher.input or "").startswith("Research this.\n\nquantum dots")
    assert (writer.input or "").startswith("Write it up.")
    assert f"[researcher]: {researcher.output}" in (writer.input or "")
    assert (writer.started_at or 0) >= (researcher.finished_at or 0)
    assert result.final_output == writer.output


async def test_skill_events_are_logged(make_runtime: Callable[..., Runtime]) -> None:
    config = build_config(
        [mock_agent("researcher"), mock_agent("writer"), mock_agent("other")], members=["other"], **SKILLS
    )
    async with make_runtime(config) as rt:
        run_id, done = await rt.fire_skill("kickoff")
        await done
        events = await rt.store.recent_events(run_id=run_id)
    custom = [(e.agent_id, e.payload["name"]) for e in events if e.type == ev.CUSTOM]
    assert custom == [(None, "topic_ready"), ("researcher", "notes_ready")]
    assert events[1].payload["producer"] == "skill:kickoff"


async def test_unknown_skill_and_skill_nobody_reacts_to(make_runtime: Callable[..., Runtime]) -> None:
    config = build_config(
        [mock_agent("researcher"), mock_agent("writer"), mock_agent("other")],
        members=["other"],
        skills=[*SKILLS["skills"], {"id": "lonely", "emits": ["nobody_listens"]}],
    )
    async with make_runtime(config) as rt:
        with pytest.raises(UsageError) as unknown:
            await rt.fire_skill("kickof")
        assert unknown.value.hint == "did you mean 'kickoff'?"
        with pytest.raises(UsageError, match="no agent holds a skill reacting"):
            await rt.fire_skill("lonely")


async def test_allowed_tool_is_called_and_its_result_reaches_the_model(make_runtime: Callable[..., Runtime]) -> None:
    options = {"tool_calls": [{"name": "echo", "arguments": {"text": "ping"}}], "reply": "tool said {tool_result}"}
    config = build_config([mock_agent("user", tools=["echo"], options=options)])
    async with make_runtime(config) as rt:
        result = await rt.run_workflow("wf", "use the tool")
        output = await rt.execute("user", "again")
    assert result.status == "completed"
    assert steps(result)["user"].output == 'tool said {"text": "ping"}'
    assert output.content == 'tool said {"text": "ping"}'
    assert [(r.name, r.is_error) for r in output.tool_calls] == [("echo", False)]
    assert output.llm_calls == 2


async def test_tool_outside_the_allow_list_is_an_error_result_not_a_crash(
    make_runtime: Callable[..., Runtime], recording
) -> None:
    options = {
        "tool_calls": [{"name": "json_keys", "arguments": {"json": {"a": 1}}}],
        "reply": "result: {tool_result}",
    }
    config = build_config([mock_agent("limited", tools=["echo"], options=options)])
    async with make_runtime(config, providers={"mock": recording}) as rt:
        result = await rt.run_workflow("wf", "try a forbidden tool")
        output = await rt.execute("limited", "once more")
    assert result.status == "completed"
    text = steps(result)["limited"].output or ""
    assert "tool 'json_keys' is not available to agent 'limited'" in text
    assert "agents[limited].tools" in text
    assert [(r.name, r.is_error) for r in output.tool_calls] == [("json_keys", True)]
    assert '"keys"' not in (output.content or "")
    # The model was only offered the allowed tool (besides the memory tools every agent owns).
    offered = {tuple(t.name for t in r.tools if t.name not in MEMORY_TOOL_NAMES) for r in recording.requests}
    assert offered == {("echo",)}


async def test_agent_without_tools_is_offered_none(make_runtime: Callable[..., Runtime], recording) -> None:
    options = {"tool_calls": [{"name": "echo", "arguments": {}}], "reply": "{tool_result}"}
    config = build_config([mock_agent("plain", options=options)])
    async with make_runtime(config, providers={"mock": recording}) as rt:
        output = await rt.execute("plain", "hi")
    assert [t.name for t in recording.requests[0].tools if t.name not in MEMORY_TOOL_NAMES] == []
    assert output.tool_calls[0].is_error
    assert "not available" in json.loads(output.content)["error"]


async def test_event_log_records_a_run_in_order(make_runtime: Callable[..., Runtime]) -> None:
    config = build_config([mock_agent("a"), mock_agent("b", ["a"]), mock_agent("c", ["b"], options={"fail": True})])
    async with make_runtime(config) as rt:
        result = await rt.run_workflow("wf", "log me")
        events = await rt.store.recent_events(run_id=result.run_id)
    kinds = [(e.type, e.agent_id) for e in events]
    assert kinds == [
        (ev.RUN_STARTED, None),
        (ev.AGENT_ACTIVATED, "a"),
        (ev.TASK_COMPLETED, "a"),
        (ev.AGENT_ACTIVATED, "b"),
        (ev.TASK_COMPLETED, "b"),
        (ev.AGENT_ACTIVATED, "c"),
        (ev.AGENT_FAILED, "c"),
        (ev.WORKFLOW_FAILED, None),
    ]
    completed = [e for e in events if e.type == ev.TASK_COMPLETED]
    a = steps(result)["a"]
    assert completed[0].payload["output"] == a.output
    assert completed[0].payload["tokens"] == {"input": a.tokens_in, "output": a.tokens_out}
    assert events[0].payload["input"] == "log me"
    assert all(e.run_id == result.run_id for e in events)
    timestamps = [e.ts for e in events]
    assert timestamps == sorted(timestamps)


async def test_event_log_records_skips(make_runtime: Callable[..., Runtime]) -> None:
    config = build_config([mock_agent("a", options={"fail": True}), mock_agent("b", ["a"])])
    async with make_runtime(config) as rt:
        result = await rt.run_workflow("wf", "x")
        events = await rt.store.recent_events(run_id=result.run_id)
    skipped = [e for e in events if e.type == ev.STEP_SKIPPED]
    assert [(e.agent_id, e.payload["reason"]) for e in skipped] == [("b", "upstream failed: a")]


async def test_bus_streams_progress_and_durable_events(make_runtime: Callable[..., Runtime]) -> None:
    options = {"tool_calls": [{"name": "echo", "arguments": {"text": "x"}}], "reply": "done {tool_result}"}
    config = build_config([mock_agent("a", tools=["echo"], options=options), mock_agent("b", ["a"])])
    seen: list[RuntimeEvent] = []
    async with make_runtime(config) as rt:
        unsubscribe = rt.bus.subscribe(seen.append)
        result = await rt.run_workflow("wf", "stream it")
        unsubscribe()
        await rt.run_workflow("wf", "not seen")
        logged = await rt.store.recent_events(run_id=result.run_id)
    assert {e.run_id for e in seen} == {result.run_id}
    durable = [e for e in seen if e.type not in ev_bus_only()]
    # Every durable event reached the bus, in the order of the log, with the same ids.
    assert [e.event_id for e in durable] == [e.event_id for e in logged]
    types = [e.type for e in seen]
    assert types[0] == ev.RUN_STARTED and types[-1] == ev.WORKFLOW_COMPLETED
    a_events = [e.type for e in seen if e.agent_id == "a"]
    assert a_events.index(ev.TOOL_CALL_STARTED) < a_events.index(ev.TOOL_CALL_FINISHED)
    assert a_events.index(ev.TOOL_CALL_FINISHED) < a_events.index(ev.TASK_COMPLETED)
    assert a_events.count(ev.LLM_CALL_FINISHED) == 2
    deltas = "".join(e.payload["delta"] for e in seen if e.type == ev.TOKEN_DELTA and e.agent_id == "b")
    assert deltas == steps(result)["b"].output
    assert all(e.workflow_id == "wf" for e in seen)


async def test_a_listener_without_tokens_gets_every_event_but_the_token_deltas(
    make_runtime: Callable[..., Runtime],
) -> None:
    config = build_config([mock_agent("a"), mock_agent("b", ["a"])])
    quiet: list[RuntimeEvent] = []
    everything: list[RuntimeEvent] = []
    async with make_runtime(config) as rt:
        unsubscribe = rt.bus.subscribe(quiet.append, tokens=False)  # as the CLI's progress listens
        await rt.run_workflow("wf", "alone")
        alone = list(quiet)
        rt.bus.subscribe(everything.append)
        await rt.run_workflow("wf", "together")
        unsubscribe()
    assert ev.TOKEN_DELTA not in {e.type for e in quiet}
    assert [e.type for e in alone].count(ev.TASK_COMPLETED) == 2 and alone[-1].type == ev.WORKFLOW_COMPLETED
    # With a listener that takes them, the deltas flow again, to it alone.
    assert ev.TOKEN_DELTA in {e.type for e in everything}
    assert [e for e in everything if e.type != ev.TOKEN_DELTA] == quiet[len(alone) :]


async def test_broken_listener_does_not_break_the_run(make_runtime: Callable[..., Runtime]) -> None:
    config = build_config([mock_agent("a"), mock_agent("b", ["a"])])
    seen: list[str] = []

    def broken(event: RuntimeEvent) -> None:
        raise RuntimeError("listener bug")

    async with make_runtime(config) as rt:
        rt.bus.subscribe(broken)
        rt.bus.subscribe(lambda e: seen.append(e.type))
        result = await rt.run_workflow("wf", "x")
    assert result.status == "completed"
    assert seen[-1] == ev.WORKFLOW_COMPLETED


async def test_bus_queue_drops_when_full_instead_of_blocking(make_runtime: Callable[..., Runtime]) -> None:
    config = build_config([mock_agent("a"), mock_agent("b", ["a"])])
    async with make_runtime(config) as rt:
        queue, unsubscribe = rt.bus.subscribe_queue(maxsize=2)
        result = await rt.run_workflow("wf", "x")
        unsubscribe()
    assert result.status == "completed"
    assert queue.qsize() == 2
    assert queue.get_nowait().type == ev.RUN_STARTED


def ev_bus_only() -> set[str]:
    return {ev.TOKEN_DELTA, ev.TOOL_CALL_STARTED, ev.TOOL_CALL_FINISHED, ev.LLM_CALL_FINISHED}
