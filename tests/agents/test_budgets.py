"""Token budgets, checked before every call with the real tokenizer (the mock reports usage with the same one)."""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.threads import thread_messages

from axocoatl.config.loader import parse_config_text
from axocoatl.core.errors import BudgetExceeded
from axocoatl.core.events import AgentStreamEvent, CallFinished
from axocoatl.core.messages import ChatMessage, TokenUsage
from axocoatl.runtime.runtime import Runtime
from axocoatl.store import SessionAppend, WriteBatch

WORDS = ["alpha", "beta", "gamma", "delta", "tokens", "budget", "agent", "lattice", "ü", "🙂", "1234", "{x}"]

# Many short-lived databases: keep them in memory-backed storage when there is some.
SCRATCH = "/dev/shm" if os.path.isdir("/dev/shm") else None


def words(count: int, seed: int) -> str:
    return " ".join(WORDS[(seed + i * 7) % len(WORDS)] for i in range(count))


def budget_config(budget: dict[str, Any], options: dict[str, Any], tools: list[str] | None = None) -> Any:
    agent = {"id": "b", "provider": "mock", "token_budget": budget, "options": options, "tools": tools or ["echo"]}
    text = yaml.safe_dump({"agents": [agent], "store": {"synchronous": "normal"}})
    return parse_config_text(text, file="budget.yaml", env={}).config


@st.composite
def cases(draw: st.DrawFn) -> dict[str, Any]:
    per_call = draw(st.integers(20, 600))
    return {
        "per_call": per_call,
        "per_execution": draw(st.integers(per_call, 2000)),
        "history": draw(st.lists(st.integers(0, 120), max_size=8)),  # word counts of earlier messages
        "input": draw(st.integers(1, 150)),
        "reply": draw(st.integers(0, 400)),
        "tool_args": draw(st.lists(st.integers(0, 150), max_size=3)),  # word counts of echo arguments
        "seed": draw(st.integers(0, 50)),
    }


async def spend_of_executions(case: dict[str, Any], data_dir: Path) -> list[tuple[list[TokenUsage], int, bool]]:
    options = {
        "reply": words(case["reply"], case["seed"]) + " {tool_result}",
        "tool_calls": [{"name": "echo", "arguments": {"text": words(n, case["seed"])}} for n in case["tool_args"]],
    }
    budget = {"per_call": case["per_call"], "per_execution": case["per_execution"], "overflow_policy": "abort"}
    results = []
    async with Runtime(budget_config(budget, options), data_dir=data_dir) as rt:
        history = [
            ChatMessage.user(words(n, i)) if i % 2 == 0 else ChatMessage.assistant(words(n, i))
            for i, n in enumerate(case["history"])
        ]
        if history:
            await rt.store.write(WriteBatch(session=[SessionAppend("b", 0, tuple(history), time.time())]))
        for attempt in range(2):  # a second execution starts its own per_execution budget
            calls: list[TokenUsage] = []

            def sink(event: AgentStreamEvent, calls: list[TokenUsage] = calls) -> None:
                if isinstance(event, CallFinished):
                    calls.append(event.usage)

            before = sum(r.total for r in await rt.store.token_report(agent_id="b"))
            refused = False
            try:
                await rt.execute("b", words(case["input"], case["seed"] + attempt), sink=sink)
            except BudgetExceeded as exc:
                refused = True
                assert exc.agent_id == "b" and exc.budget in ("per_call", "per_execution")
                assert exc.requested > exc.limit - exc.used
            after = sum(r.total for r in await rt.store.token_report(agent_id="b"))
            results.append((calls, after - before, refused))
    return results


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(cases())
def test_abort_budget_is_never_exceeded(case: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory(dir=SCRATCH) as tmp:
        results = asyncio.run(spend_of_executions(case, Path(tmp)))
    for calls, recorded, _refused in results:
        for usage in calls:
            assert usage.total <= case["per_call"], f"one call spent {usage} over per_call in {case}"
        # Every call's spend is recorded in the ledger, and the execution stays within its budget.
        assert recorded == sum(u.total for u in calls)
        assert recorded <= case["per_execution"]


@pytest.fixture
def other_runtime(tmp_path: Path) -> Callable[..., Runtime]:
    """Runtimes over a second data dir, for measuring runs that must not share state."""
    return lambda config, **kw: Runtime(config, data_dir=tmp_path / "other", **kw)


ABORT = {"per_call": 40, "per_execution": 40, "overflow_policy": "abort"}


async def test_abort_message_names_agent_budget_used_and_requested(make_runtime: Callable[..., Runtime]) -> None:
    async with make_runtime(budget_config(ABORT, {})) as rt:
        with pytest.raises(BudgetExceeded) as caught:
            await rt.execute("b", words(60, 0))
        report = await rt.store.token_report(agent_id="b")
    error = caught.value
    assert error.agent_id == "b" and error.budget == "per_call" and error.used == 0 and error.limit == 40
    assert error.requested > 40
    message = str(error)
    assert "agent 'b'" in message and "per_call" in message
    assert "used 0 of 40" in message and f"needs {error.requested}" in message
    assert "agents[b].token_budget.per_call" in message  # the hint says what to raise
    assert report == []  # refused before the call: nothing spent


async def test_abort_on_a_follow_up_call_records_the_spend_so_far(
    make_runtime: Callable[..., Runtime], other_runtime: Callable[..., Runtime]
) -> None:
    options = {"tool_calls": [{"name": "echo", "arguments": {"text": words(70, 1)}}], "reply": "{tool_result}"}

    def collect(into: list[TokenUsage]) -> Callable[[AgentStreamEvent], None]:
        return lambda e: into.append(e.usage) if isinstance(e, CallFinished) else None

    # Measure the two calls of the turn without a limit, then allow only a little more than the first.
    free: list[TokenUsage] = []
    unlimited = {"per_call": 100_000, "per_execution": 100_000}
    async with other_runtime(budget_config(unlimited, options)) as rt:
        await rt.execute("b", "go", sink=collect(free))
    assert len(free) == 2
    limit = free[0].total + 8
    budget = {"per_call": limit, "per_execution": limit, "overflow_policy": "abort"}
    calls: list[TokenUsage] = []
    async with make_runtime(budget_config(budget, options)) as rt:
        with pytest.raises(BudgetExceeded) as caught:
            await rt.execute("b", "go", sink=collect(calls))
        report = await rt.store.token_report(agent_id="b")
        session, _ = await thread_messages(rt.store, "b")
    # The first call fit; the tool result made the follow-up too big for what was left.
    assert calls == free[:1]
    assert caught.value.budget == "per_execution"
    assert caught.value.used == calls[0].total
    assert report[0].calls == 1 and report[0].total == calls[0].total  # the spend is recorded
    assert session == []  # the aborted turn is not in the conversation


async def test_warn_policy_continues_past_the_budget(make_runtime: Callable[..., Runtime]) -> None:
    warn = {**ABORT, "overflow_policy": "warn"}
    async with make_runtime(budget_config(warn, {})) as rt:
        out = await rt.execute("b", words(60, 0))
    assert out.content.startswith("[b] ")
    assert out.usage.total > 40


async def test_warn_policy_logs_the_overrun(make_runtime: Callable[..., Runtime], caplog: Any) -> None:
    warn = {**ABORT, "overflow_policy": "warn"}
    caplog.set_level(logging.WARNING)
    async with make_runtime(budget_config(warn, {})) as rt:
        await rt.execute("b", words(60, 0))
    assert any("per_call" in r.getMessage() and "agent 'b'" in r.getMessage() for r in caplog.records)


async def test_per_run_budget_spans_the_steps_of_one_run(make_runtime: Callable[..., Runtime]) -> None:
    config = """
    agents:
      - id: first
        provider: mock
      - id: capped
        provider: mock
        depends_on: [first]
        token_budget: {per_execution: 1000, per_run: 30}
    workflows:
      - id: wf
        agents: [first, capped]
    """
    async with make_runtime(config) as rt:
        run = await rt.run_workflow("wf", words(40, 3))
    capped = run.steps[1]
    assert capped.status == "failed"
    assert "per_run" in (capped.error or "")
    assert "agent 'capped'" in (capped.error or "")
