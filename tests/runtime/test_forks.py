"""Fork and time travel through the Runtime API: reused steps make no LLM call, the rest run again."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from axocoatl.core.errors import NotFound
from axocoatl.runtime.runtime import Runtime

from .support import build_config, mock_agent, steps

GUARD = 60


def diamond() -> list[dict[str, object]]:
    # a -> (b, c) -> d; e is a separate branch from a that d does not wait for.
    return [
        mock_agent("a"),
        mock_agent("b", ["a"]),
        mock_agent("c", ["a"]),
        mock_agent("d", ["b", "c"]),
        mock_agent("e", ["a"]),
    ]


async def test_fork_from_every_step_reuses_the_rest_without_calls(  # type: ignore[no-untyped-def]
    make_runtime: Callable[..., Runtime], recording
) -> None:
    downstream = {"a": "abcde", "b": "bd", "c": "cd", "d": "d", "e": "e"}
    async with make_runtime(build_config(diamond()), providers={"mock": recording}) as rt:
        async with asyncio.timeout(GUARD):
            parent = await rt.run_workflow("wf", "first input")
        assert parent.status == "completed"
        for step, rerun in downstream.items():
            before = {a: recording.calls(a) for a in "abcde"}
            _, task = await rt.start_fork(parent.run_id, step, f"new input for {step}")
            async with asyncio.timeout(GUARD):
                fork = await task
            assert fork.status == "completed", fork.error
            assert fork.parent_run_id == parent.run_id and fork.parent_step == step and fork.relation == "fork"
            calls = {a: recording.calls(a) - before[a] for a in "abcde"}
            assert calls == {a: 1 if a in rerun else 0 for a in "abcde"}, step
            by_id, old = steps(fork), steps(parent)
            for agent in "abcde":
                if agent in rerun:
                    assert by_id[agent].reused_from is None
                    assert by_id[agent].attempts == 1
                    # Recomputed from the new input (entry) or from the recomputed/kept upstream outputs.
                    assert f"new input for {step}" in (by_id[agent].input or "")
                else:
                    assert by_id[agent].reused_from == parent.run_id
                    assert by_id[agent].output == old[agent].output
                    assert by_id[agent].tokens_in == 0 and by_id[agent].attempts == 0
            stored = await rt.store.get_run(fork.run_id)
            assert stored is not None and stored.parent_run_id == parent.run_id
            for agent in "abcde":  # the ledger agrees: this run spent tokens only on the steps it ran
                spent, _ = await rt.store.usage_since(agent, since=0.0, run_id=fork.run_id)
                assert (spent > 0) == (agent in rerun), agent


async def test_fork_without_new_input_keeps_the_input_and_outputs(make_runtime: Callable[..., Runtime]) -> None:
    async with make_runtime(build_config(diamond())) as rt:
        parent = await rt.run_workflow("wf", "same input")
        _, task = await rt.start_fork(parent.run_id, "d")
        fork = await task
    assert fork.input == "same input"
    # The mock is deterministic: the recomputed step gives the same output from the same input.
    assert fork.final_output == parent.final_output


async def test_fork_from_an_unknown_step_names_the_steps(make_runtime: Callable[..., Runtime]) -> None:
    async with make_runtime(build_config(diamond())) as rt:
        parent = await rt.run_workflow("wf", "x")
        with pytest.raises(NotFound) as info:
            await rt.start_fork(parent.run_id, "zz")
        assert "no step 'zz'" in info.value.message and "runs history" in (info.value.hint or "")
        with pytest.raises(NotFound):
            await rt.start_fork("run-nope", "a")
        assert len(await rt.store.list_runs()) == 1  # nothing was created


async def test_fork_of_a_failed_run_reruns_the_failed_step(make_runtime: Callable[..., Runtime]) -> None:
    agents = diamond()
    agents[2] = mock_agent("c", ["a"], options={"fail_when": "poison"})
    async with make_runtime(build_config(agents)) as rt:
        parent = await rt.run_workflow("wf", "poison")
        assert parent.status == "failed"
        _, task = await rt.start_fork(parent.run_id, "a", "clean")
        fork = await task
    assert fork.status == "completed"
    assert steps(fork)["c"].status == "completed"
