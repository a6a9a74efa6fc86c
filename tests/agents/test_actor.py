"""The agent actor through Runtime: mailbox, status, session persistence, stateless turns, tool rounds."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from tests.threads import thread_messages

from axocoatl.agents.turn import MAX_TOOL_ROUNDS
from axocoatl.core.errors import MailboxClosed, MockFailure
from axocoatl.core.messages import AgentInput, ChatMessage
from axocoatl.runtime.runtime import Runtime

from .support import AlwaysToolsProvider, GateProvider

ONE_AGENT = """
agents:
  - id: solo
    provider: mock
    system_prompt: You are solo.
    tools: [echo]
    options:
      latency_ms: 20
      fail_when: FAIL-NOW
"""


async def test_mailbox_runs_one_message_at_a_time_in_order(make_runtime: Callable[..., Runtime], recording) -> None:
    async with make_runtime(ONE_AGENT, providers={"mock": recording}) as rt:
        outputs = await asyncio.gather(*(rt.execute("solo", f"message {i}") for i in range(4)))
        session = await rt.agent("solo").session()
    assert recording.max_in_flight["solo"] == 1
    assert [o.content for o in outputs] == [f"[solo] message {i}" for i in range(4)]
    users = [m.content for m in session.messages if m.role == "user"]
    assert users == [f"message {i}" for i in range(4)]
    # Each turn saw the turns before it: the mailbox serialises them.
    assert [len(r.messages) for r in recording.requests] == [2, 4, 6, 8]


async def test_status_moves_idle_running_failed_idle_stopped(make_runtime: Callable[..., Runtime]) -> None:
    gate = GateProvider()
    async with make_runtime(ONE_AGENT, providers={"mock": gate}) as rt:
        agent = rt.agent("solo")
        assert agent.statistics().status == "idle"
        first = asyncio.create_task(rt.execute("solo", "hello"))
        await gate.entered.wait()
        assert agent.statistics().status == "running"
        second = asyncio.create_task(rt.execute("solo", "FAIL-NOW please"))
        await asyncio.sleep(0)
        assert agent.statistics().queued == 1
        gate.release.set()
        assert (await first).content == "[solo] hello"
        with pytest.raises(MockFailure):
            await second
        stats = agent.statistics()
        assert stats.status == "failed"
        assert stats.last_error is not None and "asked to fail" in stats.last_error
        assert stats.turns == 1
        await rt.execute("solo", "fine again")
        stats = agent.statistics()
        assert (stats.status, stats.last_error, stats.turns) == ("idle", None, 2)
        assert stats.usage.input > 0 and stats.usage.output > 0
        await agent.stop()
        assert agent.statistics().status == "stopped"
        with pytest.raises(MailboxClosed, match="solo"):
            await rt.execute("solo", "anyone?")
        restarted = await rt.restart_agent("solo")
        assert restarted.statistics().status == "idle"
        assert (await rt.execute("solo", "back")).content == "[solo] back"


async def test_stop_refuses_queued_work(make_runtime: Callable[..., Runtime]) -> None:
    gate = GateProvider()
    async with make_runtime(ONE_AGENT, providers={"mock": gate}) as rt:
        running = asyncio.create_task(rt.execute("solo", "first"))
        await gate.entered.wait()
        queued = asyncio.create_task(rt.execute("solo", "second"))
        await asyncio.sleep(0)
        await rt.agent("solo").stop()
        with pytest.raises(MailboxClosed, match="stopped before it ran"):
            await queued
        with pytest.raises(MailboxClosed, match="stopped while it handled"):
            await running  # the caller hears why instead of a bare cancellation
        session, _ = await thread_messages(rt.store, "solo")
    assert gate.calls == 1
    assert session == []  # the cancelled turn committed nothing


async def test_session_survives_a_runtime_restart(make_runtime: Callable[..., Runtime], make_recording: Any) -> None:
    async with make_runtime(ONE_AGENT) as rt:
        first = await rt.execute("solo", "remember the number 42")
    recording = make_recording()
    async with make_runtime(ONE_AGENT, providers={"mock": recording}) as rt:
        await rt.execute("solo", "what was the number?")
    (request,) = recording.requests
    system, *conversation = request.messages
    assert system.role == "system" and system.content.startswith("You are solo.")
    assert [(m.role, m.content) for m in conversation] == [
        ("user", "remember the number 42"),
        ("assistant", first.content),
        ("user", "what was the number?"),
    ]


async def test_reset_session_starts_a_fresh_conversation(make_runtime: Callable[..., Runtime], recording) -> None:
    async with make_runtime(ONE_AGENT, providers={"mock": recording}) as rt:
        await rt.execute("solo", "old topic")
        await rt.agent("solo").reset_session()
        await rt.execute("solo", "new topic")
    async with make_runtime(ONE_AGENT, providers={"mock": recording}) as rt:
        await rt.execute("solo", "after restart")
    # Past the system prompt: the reset conversation only, also after a restart.
    assert [m.content for m in recording.requests[1].messages[1:]] == ["new topic"]
    assert [m.content for m in recording.requests[2].messages[1:]][:1] == ["new topic"]


async def test_stateless_execution_does_not_touch_the_session(make_runtime: Callable[..., Runtime], recording) -> None:
    async with make_runtime(ONE_AGENT, providers={"mock": recording}) as rt:
        await rt.execute("solo", "kept")
        before, next_before = await thread_messages(rt.store, "solo")
        history = (ChatMessage.user("given history"), ChatMessage.assistant("given answer"))
        out = await rt.execute("solo", AgentInput("one-off", stateless=True, history=history))
        after, next_after = await thread_messages(rt.store, "solo")
        in_memory = [m.content for m in (await rt.agent("solo").session()).messages]
        await rt.execute("solo", "kept again")
    assert out.content == "[solo] one-off"
    assert (after, next_after) == (before, next_before)
    assert in_memory == [m.content for m in before]
    stateless_request = recording.requests[1]
    assert [m.content for m in stateless_request.messages[1:]] == [
        "given history",
        "given answer",
        "one-off",
    ]
    assert "one-off" not in [m.content for m in recording.requests[2].messages]


async def test_failed_turn_commits_no_session_messages(make_runtime: Callable[..., Runtime]) -> None:
    async with make_runtime(ONE_AGENT) as rt:
        with pytest.raises(MockFailure):
            await rt.execute("solo", "FAIL-NOW")
        session, _ = await thread_messages(rt.store, "solo")
        report = await rt.store.token_report(agent_id="solo")
    assert session == []
    assert report == []  # the call failed before any usage was reported


async def test_tool_loop_stops_after_ten_rounds(make_runtime: Callable[..., Runtime]) -> None:
    provider = AlwaysToolsProvider()
    async with make_runtime(ONE_AGENT, providers={"mock": provider}) as rt:
        out = await rt.execute("solo", "loop forever")
        session, _ = await thread_messages(rt.store, "solo")
        report = await rt.store.token_report(agent_id="solo")
    assert MAX_TOOL_ROUNDS == 10
    assert provider.calls == 11  # the first call plus ten follow-ups
    assert out.llm_calls == 11
    assert len(out.tool_calls) == 10
    assert out.content.endswith("[stopped: the model still asked for tools after 10 rounds]")
    assert report[0].calls == 11
    roles = [m.role for m in session]
    assert roles[0] == "user" and roles[-1] == "assistant"
    assert roles.count("tool") == 10


async def test_agent_timeout_frees_the_mailbox(make_runtime: Callable[..., Runtime]) -> None:
    config = """
    agents:
      - id: slow
        provider: mock
        timeout_secs: 0.05
        options: {latency_ms: 5000, fail_when: never-matches}
      - id: quick
        provider: mock
    """
    from axocoatl.core.errors import AgentTimeout

    async with make_runtime(config) as rt:
        with pytest.raises(AgentTimeout, match=r"agent 'slow' timed out after 0.05 s"):
            await rt.execute("slow", "take your time")
        assert rt.agent("slow").statistics().status == "failed"
        assert (await rt.execute("quick", "hi")).content == "[quick] hi"
