"""Tier 2: a checkpoint per turn (bounded retention, restored on start, corrupt rows discarded) and the daily log."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest

from axocoatl.memory.checkpoint import AgentState, restore
from axocoatl.runtime.runtime import Runtime

from .support import on_database

YAML = """
agents:
  - id: ada
    provider: mock
    options:
      reply: "ok {turn}"
      tool_calls: [{name: echo, arguments: {text: hi}}]
    tools: [echo]
    memory: {checkpoints: {keep: 2}}
"""


async def checkpoints(rt: Runtime) -> list[tuple[int, dict[str, Any]]]:
    rows = await rt.store.load_checkpoints("ada")
    return [(version, json.loads(state)) for version, state in rows]


async def test_a_checkpoint_per_turn_with_bounded_retention(memory_runtime: Callable[..., Runtime]) -> None:
    async with memory_runtime(YAML) as rt:
        for n in range(4):
            await rt.execute("ada", f"turn {n}")
        rows = await checkpoints(rt)
        sizes = [len(s) for _, s in await rt.store.load_checkpoints("ada")]
    assert [version for version, _ in rows] == [4, 3]
    newest = rows[0][1]
    assert newest["turns"] == 4 and "memory_seq" not in newest  # the store numbers memories
    assert newest["usage_in"] > 0 and newest["usage_out"] > 0
    # O(1) per turn: the checkpoint does not carry the transcript.
    assert max(sizes) < 400 and "turn 3" not in json.dumps(newest)


async def test_state_is_restored_on_start(memory_runtime: Callable[..., Runtime]) -> None:
    async with memory_runtime(YAML) as rt:
        await rt.execute("ada", "one")
        await rt.execute("ada", "two")
        before = rt.agent("ada").statistics()
    async with memory_runtime(YAML) as rt:
        await rt.agent("ada").restore()
        after = rt.agent("ada").statistics()
        await rt.execute("ada", "three")
        rows = await checkpoints(rt)
    assert (after.turns, after.usage, after.last_active) == (before.turns, before.usage, before.last_active)
    assert rows[0][0] == 3 and rows[0][1]["turns"] == 3


async def test_a_corrupt_checkpoint_is_discarded_with_a_warning(
    memory_runtime: Callable[..., Runtime], caplog: pytest.LogCaptureFixture
) -> None:
    async with memory_runtime(YAML) as rt:
        await rt.execute("ada", "one")
        await rt.execute("ada", "two")
        on_database(rt, lambda db: db.execute("UPDATE agent_checkpoints SET state = '{not json' WHERE version = 2"))
    with caplog.at_level(logging.WARNING, logger="axocoatl.memory.checkpoint"):
        async with memory_runtime(YAML) as rt:
            out = await rt.execute("ada", "three")
            stats = rt.agent("ada").statistics()
            rows = await rt.store.load_checkpoints("ada")
    assert "discarding unreadable checkpoint version 2" in caplog.text
    assert out.content.startswith("ok")
    assert stats.turns == 2  # restored from version 1, plus this turn
    assert rows[0][0] == 3  # numbering continues above the discarded row


def test_restore_with_every_row_unreadable_starts_fresh_above_them() -> None:
    state = restore("x", [(7, "[]"), (6, '{"format": 99}'), (5, '{"format": 1, "turns": "many", "bogus": 1}')])
    assert state == AgentState(version=7)
    good = AgentState(turns=3)
    assert restore("x", [(9, good.to_json())]).turns == 3


async def test_the_daily_log_records_conversations_and_tool_calls(memory_runtime: Callable[..., Runtime]) -> None:
    async with memory_runtime(YAML) as rt:
        await rt.execute("ada", "hello log")
        entries, total = await rt.store.read_log("ada")
    assert total == 2
    assert [e.entry_type for e in entries] == ["tool_call", "conversation"]
    assert entries[0].content["name"] == "echo" and entries[0].content["is_error"] is False
    assert entries[1].content == {"user": "hello log", "assistant": "ok 1"}


async def test_a_failed_turn_writes_no_memory_but_keeps_the_log_consistent(
    memory_runtime: Callable[..., Runtime],
) -> None:
    failing = """
    agents:
      - id: ada
        provider: mock
        options: {fail_when: boom}
    """
    async with memory_runtime(failing) as rt:
        await rt.execute("ada", "fine")
        with pytest.raises(Exception, match="asked to fail"):
            await rt.execute("ada", "boom")
        entries, _ = await rt.store.read_log("ada")
        memories = await rt.store.load_memories("ada")
        out = await rt.execute("ada", "fine again")
    assert [e.content["user"] for e in entries] == ["fine"]
    assert [m.seq for m in memories] == [0]
    assert out.content == "[ada] fine again"
