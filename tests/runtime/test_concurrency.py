"""Concurrent work on one agent: steps of different runs and turns of different threads overlap,
within the agent's max_concurrency; turns of one thread stay in order."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from axocoatl.core.errors import StoreError, UsageError
from axocoatl.runtime.runtime import Runtime
from axocoatl.store import SQLiteStore

from .support import build_config, mock_agent

LATENCY = {"latency_ms": 300}  # long enough that every caller arrives while the first calls run


def chain(**fields: Any) -> Any:
    return build_config(
        [
            mock_agent("a", options=LATENCY, **fields),
            mock_agent("b", ["a"], options=LATENCY, **fields),
            mock_agent("c", ["b"], options=LATENCY, **fields),
        ]
    )


@pytest.mark.parametrize(("fields", "cap"), [({}, 16), ({"max_concurrency": 3}, 3)])
async def test_concurrent_runs_overlap_up_to_the_agents_max_concurrency(
    make_runtime: Callable[..., Runtime], recording: Any, fields: dict[str, Any], cap: int
) -> None:
    async with make_runtime(chain(**fields), providers={"mock": recording}) as rt:
        async with asyncio.timeout(60):
            runs = await asyncio.gather(*(rt.run_workflow("wf", f"task {n}") for n in range(40)))
    assert {r.status for r in runs} == {"completed"}
    assert recording.max_in_flight == {"a": cap, "b": cap, "c": cap}
    for run in runs:
        assert run.final_output is not None and run.input in run.final_output
        assert [s.attempts for s in run.steps] == [1, 1, 1]


async def test_threads_of_one_agent_overlap_and_one_thread_keeps_its_order(
    make_runtime: Callable[..., Runtime], recording: Any
) -> None:
    config = build_config([mock_agent("pal", options=LATENCY)])
    async with make_runtime(config, providers={"mock": recording}) as rt:
        await asyncio.gather(*(rt.execute("pal", f"hello from {t}", thread=t) for t in ("x", "y", "z")))
        assert recording.max_in_flight["pal"] == 3
        recording.max_in_flight.clear()
        await asyncio.gather(*(rt.execute("pal", f"message {n}", thread="x") for n in range(4)))
        assert recording.max_in_flight["pal"] == 1
    # Each request carries its own thread only, in order.
    last = recording.requests[-1]
    users = [m.content for m in last.messages if m.role == "user"]
    assert users == ["hello from x", *(f"message {n}" for n in range(4))]
    assert not any("hello from y" in m.content for m in last.messages)


async def test_an_agent_opting_into_a_thread_carries_its_conversation_across_runs(
    make_runtime: Callable[..., Runtime], recording: Any
) -> None:
    shared = build_config([mock_agent("a", thread="notes")])
    async with make_runtime(shared, providers={"mock": recording}) as rt:
        await rt.run_workflow("wf", "first run")
        await rt.run_workflow("wf", "second run")
        messages, _ = await _thread(rt, "a", "notes")
    second = recording.requests[-1]
    assert [m.content for m in second.messages if m.role == "user"] == ["first run", "second run"]
    assert [m.content for m in messages if m.role == "user"] == ["first run", "second run"]


async def _thread(rt: Runtime, agent: str, thread: str) -> tuple[list[Any], int]:
    record = await rt.store.load_session(agent, thread)
    return record.messages, record.next_seq


async def test_a_workflow_step_sees_no_other_runs_conversation_and_its_prompt_stays_flat(
    make_runtime: Callable[..., Runtime], recording: Any
) -> None:
    config = build_config([mock_agent("a"), mock_agent("b", ["a"])])
    async with make_runtime(config, providers={"mock": recording}) as rt:
        for n in range(5):
            await rt.run_workflow("wf", f"customer {n} asks")
    for agent in ("a", "b"):
        requests = [r for r in recording.requests if r.metadata.get("agent_id") == agent]
        for n, request in enumerate(requests):
            conversation = [m for m in request.messages if m.role != "system"]
            assert len(conversation) == 1  # the step's input, nothing else
            assert f"customer {n} asks" in conversation[0].content
            assert not any(f"customer {m} " in conversation[0].content for m in range(5) if m != n)


async def test_a_partial_start_leaves_nothing_open(make_runtime: Callable[..., Runtime], tmp_path: Path) -> None:
    class FailingCheckpoints(SQLiteStore):
        async def load_checkpoints(self, agent_id: str) -> list[tuple[int, str]]:
            raise StoreError("injected: checkpoints unreadable")

    store = FailingCheckpoints(tmp_path / "data" / "axocoatl.db")
    rt = make_runtime(build_config([mock_agent("a")]), store=store)
    with pytest.raises(StoreError, match="injected"):
        await rt.start()
    with pytest.raises(StoreError, match="the store is closed"):
        await store.get_run("r")
    assert rt.agents == {}
    # The same data dir opens normally afterwards.
    async with make_runtime(build_config([mock_agent("a")])) as again:
        assert (await again.run_workflow("wf", "x")).status == "completed"


async def test_an_unusable_data_dir_is_a_clear_error(tmp_path: Path) -> None:
    config = build_config([mock_agent("a")])
    a_file = tmp_path / "file"
    a_file.write_text("not a directory")
    for data_dir, message in ((a_file, "is a file, not a directory"), (a_file / "sub", "cannot be created")):
        with pytest.raises(UsageError, match=message) as caught:
            async with Runtime(config, data_dir=data_dir):
                pass
        assert caught.value.hint and "--data-dir" in caught.value.hint
