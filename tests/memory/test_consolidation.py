"""Sleep-time consolidation driven by a scripted mock model: promotes into the right block, touches nothing else."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from axocoatl.runtime.runtime import Runtime

from .support import Recorder, count_rows, ledger_kinds

EDITS = json.dumps(
    [
        {"op": "append", "block": "human", "text": "Prefers metric units."},
        {"op": "append", "block": "team", "text": "shared blocks are off limits"},
        {"op": "append", "block": "nonsense", "text": "x"},
        {"op": "replace", "block": "project", "old": "not there", "new": "y"},
    ]
)


def yaml(reply: str, *, consolidation: str = "", budget: str = "") -> str:
    return f"""
    agents:
      - id: ada
        provider: mock
        options:
          replies: [{json.dumps(reply)}]
        {budget}
        memory:
          core:
            blocks:
              - {{label: persona, value: "I am Ada."}}
              - {{label: human, value: "Name: Grace."}}
              - {{label: project, value: "Project Orca."}}
              - {{label: team, shared: true, value: "Team: blue."}}
    {consolidation}
    """


async def blocks(rt: Runtime) -> dict[str, str]:
    core = await rt.agent("ada").memory.core_memory()  # type: ignore[union-attr]
    return {b.label: b.value for b in core.blocks}


async def test_consolidation_promotes_a_fact_into_the_right_block_and_nothing_else(
    memory_runtime: Callable[..., Runtime],
) -> None:
    async with memory_runtime(yaml("Sure.")) as rt:
        await rt.execute("ada", "Please always use metric units, I hate miles.")
        counts = [await count_rows(rt, t, "ada") for t in ("memories", "daily_log", "thread_messages")]

    recorder = Recorder()
    async with memory_runtime(yaml(f"Here you go: {EDITS} -- done"), providers={"mock": recorder}) as rt:
        result = await rt.agent("ada").consolidate()
        after = await blocks(rt)
        kinds = await ledger_kinds(rt, "ada")
        new_counts = [await count_rows(rt, t, "ada") for t in ("memories", "daily_log", "thread_messages")]
        log, _ = await rt.store.read_log("ada", entry_types=("consolidation",))
        again = await rt.agent("ada").consolidate()

    assert (result.status, result.promoted, result.rewritten) == ("done", 1, 0)
    assert len(result.rejected) == 3
    assert after == {
        "persona": "I am Ada.",
        "human": "Name: Grace.\nPrefers metric units.",
        "project": "Project Orca.",
        "team": "Team: blue.",
    }
    assert kinds[-1] == "consolidation"
    # Promotion only: nothing was deleted (one new daily-log entry records the pass).
    assert new_counts == [counts[0], counts[1] + 1, counts[2]]
    assert log[0].content["promoted"] == 1
    (request,) = recorder.purpose("consolidation")
    assert request.max_tokens == 800 and request.temperature == 0.0
    assert "promote DURABLE facts" in request.messages[0].content
    prompt = request.messages[1].content
    assert "### human (limit 2000 chars)\nName: Grace." in prompt and "metric units" in prompt
    assert "### team" not in prompt  # shared blocks are not offered
    assert (again.status, again.reason) == ("skipped", "no new activity since the last pass")

    async with memory_runtime(yaml("Sure.")) as rt:
        assert (await blocks(rt))["human"] == "Name: Grace.\nPrefers metric units."


async def test_an_unparseable_reply_changes_nothing(memory_runtime: Callable[..., Runtime]) -> None:
    async with memory_runtime(yaml("I think the user likes metric units!")) as rt:
        await rt.execute("ada", "metric please")
        before = await blocks(rt)
        result = await rt.agent("ada").consolidate()
        assert await blocks(rt) == before
    assert result.status == "done" and result.rejected == ["the reply was not a JSON array of edits"]


async def test_consolidation_is_budget_checked_and_never_crashes(memory_runtime: Callable[..., Runtime]) -> None:
    tight = "token_budget: {per_execution: 4000, per_day: 450}"
    async with memory_runtime(yaml("Sure.", budget=tight)) as rt:
        await rt.execute("ada", "hi")
        result = await rt.agent("ada").consolidate()
        assert rt.agent("ada").statistics().status == "idle"
        assert "consolidation" not in await ledger_kinds(rt, "ada")
    assert result.status == "failed" and "budget" in result.reason


async def test_a_busy_or_recently_active_agent_is_skipped(memory_runtime: Callable[..., Runtime]) -> None:
    async with memory_runtime(yaml(EDITS)) as rt:
        await rt.execute("ada", "metric please")
        result = await rt.agent("ada").consolidate(idle_threshold_secs=3600)
    assert (result.status, result.reason) == ("skipped", "not idle long enough")


async def test_the_background_loop_consolidates_idle_agents(memory_runtime: Callable[..., Runtime]) -> None:
    loop = "consolidation: {idle_threshold_secs: 0, interval_secs: 0.2}"
    async with memory_runtime(yaml(EDITS, consolidation=loop), background=True) as rt:
        await rt.execute("ada", "metric please")
        for _ in range(100):
            if "Prefers metric units." in (await blocks(rt))["human"]:
                break
            await asyncio.sleep(0.05)
        assert "Prefers metric units." in (await blocks(rt))["human"]


async def test_no_runtime_consolidates_at_exit_and_the_daemon_does_when_idle(
    memory_runtime: Callable[..., Runtime],
) -> None:
    """Exit is O(1): neither a one-shot nor a background runtime makes an LLM call on the way out."""
    slow = "consolidation: {idle_threshold_secs: 3600, interval_secs: 3600}"
    async with memory_runtime(yaml(EDITS, consolidation=slow)) as rt:
        await rt.execute("ada", "metric please")
    async with memory_runtime(yaml(EDITS, consolidation=slow), background=True) as rt:
        await rt.execute("ada", "metric please")
    async with memory_runtime(yaml("Sure.")) as rt:
        assert "consolidation" not in await ledger_kinds(rt, "ada")

    # The daemon's loop runs a pass once the agent has been idle long enough.
    quick = "consolidation: {idle_threshold_secs: 0, interval_secs: 0.1}"
    async with memory_runtime(yaml(EDITS, consolidation=quick), background=True) as rt:
        async with asyncio.timeout(30):
            while "consolidation" not in await ledger_kinds(rt, "ada"):
                await asyncio.sleep(0.05)
        assert "Prefers metric units." in (await blocks(rt))["human"]

    disabled = "consolidation: {enabled: false, idle_threshold_secs: 0, interval_secs: 0.1}"
    async with memory_runtime(yaml(EDITS, consolidation=disabled), background=True) as rt:
        await rt.execute("ada", "more")
        await asyncio.sleep(0.3)  # a few ticks of an enabled loop
    async with memory_runtime(yaml("Sure.")) as rt:
        assert (await ledger_kinds(rt, "ada")).count("consolidation") == 1
