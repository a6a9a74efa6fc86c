"""The ask_human tool through the Runtime API: a step's question parks the run durably until answered,
and the answer is the call's result (asked once, the model's turn replayed from the journal)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from axocoatl.core.errors import UsageError
from axocoatl.runtime.runtime import Runtime

from .support import build_config, mock_agent, steps
from .test_interrupts import ManualClock

GUARD = 60


def ask_flow(**arguments: Any) -> list[dict[str, object]]:
    call = {"name": "ask_human", "arguments": {"question": "Which colour?", **arguments}}
    return [
        mock_agent("asker", tools=["ask_human"], options={"tool_calls": [call], "reply": "chose {tool_result}"}),
        mock_agent("after", ["asker"], options={"reply": "after: {input_head}"}),
    ]


async def test_a_question_parks_survives_a_restart_and_the_answer_is_the_result(
    make_runtime: Callable[..., Runtime],
    recording,  # type: ignore[no-untyped-def]
) -> None:
    config = build_config(ask_flow())
    async with make_runtime(config, providers={"mock": recording}) as rt:
        async with asyncio.timeout(GUARD):
            parked = await rt.run_workflow("wf", "paint the shed")
    assert parked.status == "waiting"
    asker = steps(parked)["asker"]
    assert (asker.status, asker.question, asker.answer) == ("waiting", "Which colour?", None)
    assert steps(parked)["after"].status == "pending"
    assert recording.calls("asker") == 1  # the round that asked
    async with make_runtime(config, providers={"mock": recording}, auto_resume=True) as rt:
        assert (await rt.get_run(parked.run_id)).status == "waiting"
        assert await rt.interrupted_runs() == []
        _, task = await rt.start_answer(parked.run_id, "blue")
        async with asyncio.timeout(GUARD):
            done = await task
        calls = await rt.store.run_tool_calls(parked.run_id)
    assert done.status == "completed", done.error
    by_id = steps(done)
    assert by_id["asker"].output == "chose blue"
    assert by_id["after"].output and "chose blue" in by_id["after"].output
    # The resumed turn replayed the reply that asked: one more model call (the answer's round), not two.
    assert recording.calls("asker") == 2
    asked = [c for c in calls if c.name == "ask_human"]
    assert [(c.status, c.result) for c in asked] == [("done", "blue")]


async def test_timeout_policy_answer_gives_the_default(make_runtime: Callable[..., Runtime]) -> None:
    clock = ManualClock()
    config = build_config(ask_flow(timeout_secs=30, on_timeout="answer", default_answer="red"))
    async with make_runtime(config, clock=clock) as rt:
        parked = await rt.run_workflow("wf", "x")
        assert parked.status == "waiting" and steps(parked)["asker"].wait_until == clock.t + 30
        clock.t += 31
        assert await rt.expire_waits() == [parked.run_id]
        done = await rt.get_run(parked.run_id)
        for _ in range(200):
            if done.status != "running":
                break
            await asyncio.sleep(0.05)
            done = await rt.get_run(parked.run_id)
    assert done.status == "completed", done.error
    assert steps(done)["asker"].output == "chose red"


async def test_timeout_policy_fail_from_the_config_fails_the_step(make_runtime: Callable[..., Runtime]) -> None:
    clock = ManualClock()
    config = build_config(ask_flow(), tools={"ask_human": {"timeout_secs": 5}})
    async with make_runtime(config, clock=clock) as rt:
        parked = await rt.run_workflow("wf", "x")
        clock.t += 6
        with pytest.raises(UsageError, match="not waiting"):
            await rt.start_answer(parked.run_id, "too late", "after")
        _, task = await rt.start_answer(parked.run_id, "too late")
        done = await task
    assert done.status == "failed"
    asker = steps(done)["asker"]
    assert asker.status == "failed" and "no answer within 5 s to: Which colour?" in (asker.error or "")
    assert steps(done)["after"].status == "skipped"


async def test_outside_a_workflow_the_model_is_told_to_ask_in_its_reply(make_runtime: Callable[..., Runtime]) -> None:
    async with make_runtime(build_config(ask_flow())) as rt:
        reply = await rt.execute("asker", "hello")
    assert reply.content.startswith("chose ") and "only in a workflow step" in reply.content


async def test_an_agent_with_an_interrupt_or_a_map_item_cannot_ask(make_runtime: Callable[..., Runtime]) -> None:
    call = {"name": "ask_human", "arguments": {"question": "?"}}
    agents = [
        mock_agent("src", options={"reply": '["a", "b"]'}),
        mock_agent(
            "each",
            ["src"],
            tools=["ask_human"],
            map={"over": "src"},
            options={"tool_calls": [call], "reply": "{tool_result}"},
        ),
    ]
    async with make_runtime(build_config(agents)) as rt:
        done = await rt.run_workflow("wf", "x")
    assert done.status == "completed", done.error
    assert "a map item cannot ask a person" in (steps(done)["each"].output or "")
    interrupted = [
        mock_agent(
            "gate", tools=["ask_human"], interrupt="before", options={"tool_calls": [call], "reply": "{tool_result}"}
        )
    ]
    async with make_runtime(build_config(interrupted)) as rt:
        parked = await rt.run_workflow("wf", "x")
        _, task = await rt.start_answer(parked.run_id, "go")
        done = await task
    assert done.status == "completed", done.error
    assert "agent 'gate' has an interrupt" in (steps(done)["gate"].output or "")


async def test_two_questions_in_one_reply_are_asked_one_after_the_other(make_runtime: Callable[..., Runtime]) -> None:
    calls = [
        {"name": "ask_human", "arguments": {"question": "Colour?"}},
        {"name": "ask_human", "arguments": {"question": "Size?"}},
    ]
    config = build_config([mock_agent("asker", tools=["ask_human"], options={"tool_calls": calls, "reply": "ok"})])
    async with make_runtime(config) as rt:
        first = await rt.run_workflow("wf", "x")
        assert steps(first)["asker"].question == "Colour?"
        _, task = await rt.start_answer(first.run_id, "blue")
        second = await task
        assert second.status == "waiting" and steps(second)["asker"].question == "Size?"
        _, task = await rt.start_answer(second.run_id, "large")
        done = await task
        journal = await rt.store.run_tool_calls(first.run_id)
    assert done.status == "completed", done.error
    asked = [(c.status, c.result) for c in journal if c.name == "ask_human"]
    assert asked == [("done", "blue"), ("done", "large")]
