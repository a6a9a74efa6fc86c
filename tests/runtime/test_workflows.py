"""Workflow semantics through the public Runtime API: cascades, joins, quorums, failures, timeouts."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from tests.contracts import check_run_contract

from axocoatl.core.errors import UsageError
from axocoatl.runtime.runtime import Runtime

from .support import assert_after, build_config, mock_agent, overlap, steps

# Every test run is guarded against hanging: a workflow that waits for a timeout instead of
# ending at once would block far longer than this (workflow timeouts default to 1800 s).
HANG_GUARD = 60


async def run(rt: Runtime, task: str = "the task", workflow: str = "wf"):  # type: ignore[no-untyped-def]
    async with asyncio.timeout(HANG_GUARD):
        return await rt.run_workflow(workflow, task)


async def test_chain_runs_each_agent_once_in_order(make_runtime: Callable[..., Runtime], recording) -> None:
    config = build_config(
        [
            mock_agent("a"),
            mock_agent("b", ["a"]),
            mock_agent("c", ["b"]),
            mock_agent("d", ["c"]),
        ]
    )
    async with make_runtime(config, providers={"mock": recording}) as rt:
        result = await run(rt, "chain task")
    assert result.status == "completed"
    assert result.error is None
    by_id = steps(result)
    assert [s.status for s in result.steps] == ["completed"] * 4
    assert [s.attempts for s in result.steps] == [1, 1, 1, 1]
    assert {a: recording.calls(a) for a in "abcd"} == {"a": 1, "b": 1, "c": 1, "d": 1}
    assert_after(result, "b", "a")
    assert_after(result, "c", "b")
    assert_after(result, "d", "c")
    # Each step receives its upstream output and the original task.
    assert by_id["a"].input == "chain task"
    for upstream, downstream in ("ab", "bc", "cd"):
        text = by_id[downstream].input or ""
        assert f"[{upstream}]: {by_id[upstream].output}" in text
        assert text.endswith("Original task: chain task")
    assert result.final_output == by_id["d"].output
    assert result.finished_at is not None and result.finished_at >= (by_id["d"].finished_at or 0)


async def test_diamond_joins_both_branches_which_run_concurrently(make_runtime: Callable[..., Runtime]) -> None:
    slow = {"latency_ms": 150}
    config = build_config(
        [
            mock_agent("a"),
            mock_agent("b", ["a"], options=slow),
            mock_agent("c", ["a"], options=slow),
            mock_agent("d", ["b", "c"]),
        ]
    )
    async with make_runtime(config) as rt:
        result = await run(rt)
    by_id = steps(result)
    assert result.status == "completed"
    assert [s.attempts for s in result.steps] == [1, 1, 1, 1]
    assert overlap(by_id["b"], by_id["c"]), "b and c were both ready but did not run concurrently"
    assert_after(result, "d", "b", "c")
    d_input = by_id["d"].input or ""
    # Upstream outputs come in plan order, whatever order they completed in.
    assert d_input.index(f"[b]: {by_id['b'].output}") < d_input.index(f"[c]: {by_id['c'].output}")
    assert result.final_output == by_id["d"].output


async def test_join_fires_only_after_its_slower_dependency(make_runtime: Callable[..., Runtime], recording) -> None:
    config = build_config(
        [
            mock_agent("src"),
            mock_agent("fast", ["src"]),
            mock_agent("slow", ["src"], options={"latency_ms": 200}),
            mock_agent("join", ["fast", "slow"]),
        ]
    )
    async with make_runtime(config, providers={"mock": recording}) as rt:
        result = await run(rt)
    assert result.status == "completed"
    assert_after(result, "join", "fast", "slow")
    assert recording.calls("join") == 1
    assert "[slow]:" in (steps(result)["join"].input or "")


async def test_quorum_fires_after_two_of_three(make_runtime: Callable[..., Runtime], recording) -> None:
    config = build_config(
        [
            mock_agent("a"),
            mock_agent("b"),
            mock_agent("c", options={"latency_ms": 300}),
            mock_agent("q", ["a", "b", "c"], activation_threshold=1.0),
        ]
    )
    async with make_runtime(config, providers={"mock": recording}) as rt:
        result = await run(rt)
    by_id = steps(result)
    assert result.status == "completed"
    assert_after(result, "q", "a", "b")
    # q fired on the quorum: before the slow third dependency finished, and never again after it.
    assert (by_id["q"].started_at or 0) < (by_id["c"].finished_at or 0)
    assert "[c]:" not in (by_id["q"].input or "")
    assert by_id["q"].attempts == 1 and recording.calls("q") == 1
    assert by_id["c"].status == "completed"


async def test_quorum_survives_one_failed_dependency(make_runtime: Callable[..., Runtime]) -> None:
    config = build_config(
        [
            mock_agent("a"),
            mock_agent("b"),
            mock_agent("c", options={"fail": True}),
            mock_agent("q", ["a", "b", "c"], activation_threshold=1.0),
            mock_agent("all3", ["a", "b", "c"]),
        ]
    )
    async with make_runtime(config) as rt:
        result = await run(rt)
    by_id = steps(result)
    assert by_id["q"].status == "completed"
    assert by_id["all3"].status == "skipped"
    assert by_id["all3"].error == "upstream failed: c"
    assert result.status == "failed"


async def test_wide_fan_out_runs_each_agent_exactly_once(make_runtime: Callable[..., Runtime], recording) -> None:
    workers = [f"w{i:02d}" for i in range(50)]
    config = build_config(
        [mock_agent("root"), *(mock_agent(w, ["root"]) for w in workers), mock_agent("join", workers)]
    )
    async with make_runtime(config, providers={"mock": recording}) as rt:
        result = await run(rt, "fan out")
    assert result.status == "completed"
    assert len(result.steps) == 52
    assert all(s.status == "completed" and s.attempts == 1 for s in result.steps)
    assert all(recording.calls(a) == 1 for a in ["root", *workers, "join"])
    by_id = steps(result)
    join_input = by_id["join"].input or ""
    for worker in workers:
        assert f"[{worker}]: {by_id[worker].output}" in join_input
    assert_after(result, "join", *workers)
    assert result.final_output == by_id["join"].output


async def test_failed_agent_skips_its_dependents_and_independent_branch_completes(
    make_runtime: Callable[..., Runtime], recording
) -> None:
    config = build_config(
        [
            mock_agent("a"),
            mock_agent("bad", ["a"], options={"fail": True}),
            mock_agent("after_bad", ["bad"]),
            mock_agent("after_after", ["after_bad"]),
            mock_agent("ok", ["a"], options={"latency_ms": 100}),
            mock_agent("ok2", ["ok"]),
        ]
    )
    async with make_runtime(config, providers={"mock": recording}) as rt:
        result = await run(rt)
    by_id = steps(result)
    assert result.status == "failed"
    assert result.error is not None and "bad" in result.error and "timed out" not in result.error
    assert by_id["bad"].status == "failed"
    assert "asked to fail" in (by_id["bad"].error or "")
    assert by_id["after_bad"].status == "skipped"
    assert by_id["after_bad"].error == "upstream failed: bad"
    assert by_id["after_after"].status == "skipped"
    assert "bad" in (by_id["after_after"].error or "")
    # The independent branch still ran to its end, and never ran twice.
    assert by_id["ok"].status == by_id["ok2"].status == "completed"
    assert recording.calls("after_bad") == recording.calls("after_after") == 0
    assert recording.calls("ok2") == 1
    # Partial results: the completed sink's output is the final output.
    assert result.final_output == by_id["ok2"].output
    assert by_id["a"].output and by_id["ok"].output
    assert result.finished_at is not None


async def test_fail_when_fails_only_matching_input(make_runtime: Callable[..., Runtime]) -> None:
    config = build_config([mock_agent("a", options={"fail_when": "explode"})])
    async with make_runtime(config) as rt:
        good = await run(rt, "be calm")
        bad = await run(rt, "please explode now")
    assert good.status == "completed"
    assert bad.status == "failed"
    assert steps(bad)["a"].status == "failed"


async def test_failure_in_a_join_dependency_ends_the_run_at_once(make_runtime: Callable[..., Runtime]) -> None:
    # The original waited for its 300 s timeout here: the join could never fire.
    config = build_config(
        [
            mock_agent("a"),
            mock_agent("b", options={"fail": True}),
            mock_agent("join", ["a", "b"]),
        ],
        workflow_fields={"timeout_secs": 3600},
    )
    async with make_runtime(config) as rt:
        result = await run(rt)
    by_id = steps(result)
    assert result.status == "failed"
    assert by_id["join"].status == "skipped"
    assert by_id["join"].error == "upstream failed: b"
    assert "timed out" not in (result.error or "")


async def test_agent_timeout_names_the_setting(make_runtime: Callable[..., Runtime]) -> None:
    config = build_config(
        [
            mock_agent("sleepy", timeout_secs=0.05, options={"latency_ms": 5000}),
            mock_agent("next", ["sleepy"]),
        ]
    )
    async with make_runtime(config) as rt:
        result = await run(rt)
    by_id = steps(result)
    assert result.status == "failed"
    assert by_id["sleepy"].status == "failed"
    error = by_id["sleepy"].error or ""
    assert "sleepy" in error and "timed out after 0.05 s" in error
    assert "agents[sleepy].timeout_secs" in error
    assert by_id["next"].status == "skipped"


async def test_workflow_timeout_names_the_setting(make_runtime: Callable[..., Runtime]) -> None:
    config = build_config(
        [
            mock_agent("first"),
            mock_agent("stuck", ["first"], options={"latency_ms": 60_000}),
            mock_agent("never", ["stuck"]),
        ],
        # Long enough for 'first' to finish on a loaded machine; 'stuck' cannot.
        workflow_fields={"timeout_secs": 2.5},
    )
    async with make_runtime(config) as rt:
        result = await run(rt)
    by_id = steps(result)
    assert result.status == "failed"
    assert "workflow 'wf' timed out after 2.5 s" in (result.error or "")
    assert "timeout_secs" in (result.error or "")
    assert by_id["first"].status == "completed"
    assert by_id["stuck"].status == "failed"
    assert "timed out" in (by_id["stuck"].error or "")
    assert by_id["never"].status == "skipped"
    # The stored run says the same as the returned one.
    async with make_runtime(config) as rt:
        stored = await rt.get_run(result.run_id)
    assert stored.status == "failed"
    assert [s.status for s in stored.steps] == ["completed", "failed", "skipped"]


async def test_final_output_is_sinks_in_topological_order_and_repeatable(make_runtime: Callable[..., Runtime]) -> None:
    # The first sink in topological order finishes last: completion order must not matter.
    config = build_config(
        [
            mock_agent("root"),
            mock_agent("sink_slow", ["root"], options={"latency_ms": 150}),
            mock_agent("sink_fast", ["root"]),
            mock_agent("middle", ["root"]),
            mock_agent("sink_last", ["middle"]),
        ]
    )
    async with make_runtime(config) as rt:
        first = await run(rt, "same input")
        second = await run(rt, "same input")
    by_id = steps(first)
    assert (by_id["sink_fast"].finished_at or 0) < (by_id["sink_slow"].finished_at or 0)
    expected = "\n\n".join(f"[{agent}]: {by_id[agent].output}" for agent in ("sink_slow", "sink_fast", "sink_last"))
    assert first.final_output == expected
    assert second.final_output == first.final_output


async def test_independent_entries_run_concurrently(make_runtime: Callable[..., Runtime], recording) -> None:
    config = build_config([mock_agent(name, options={"latency_ms": 100}) for name in ("e1", "e2", "e3")])
    async with make_runtime(config, providers={"mock": recording}) as rt:
        result = await run(rt)
    by_id = steps(result)
    assert overlap(by_id["e1"], by_id["e2"]) and overlap(by_id["e2"], by_id["e3"])
    assert recording.max_total_in_flight == 3
    # Three sinks: the final output lists them in plan order.
    assert result.final_output == "\n\n".join(f"[{a}]: {by_id[a].output}" for a in ("e1", "e2", "e3"))


async def test_entry_point_gets_the_input_and_others_wait(make_runtime: Callable[..., Runtime]) -> None:
    config = build_config(
        [mock_agent("start"), mock_agent("second", ["start"])],
        workflow_fields={"entry_point": "start"},
    )
    async with make_runtime(config) as rt:
        result = await run(rt, "entry input")
    assert steps(result)["start"].input == "entry input"
    assert result.status == "completed"


async def test_unknown_workflow_suggests_a_close_name(make_runtime: Callable[..., Runtime]) -> None:
    config = build_config([mock_agent("a")], workflow="research")
    async with make_runtime(config) as rt:
        with pytest.raises(UsageError) as caught:
            await rt.run_workflow("reserch", "x")
    assert "unknown workflow 'reserch'" in caught.value.message
    assert caught.value.hint == "did you mean 'research'?"


async def test_runs_are_listed_and_fetched(make_runtime: Callable[..., Runtime]) -> None:
    config = build_config([mock_agent("a")])
    async with make_runtime(config) as rt:
        one = await run(rt, "one")
        two = await run(rt, "two")
        fetched = await rt.get_run(one.run_id)
        listed = await rt.store.list_runs()
        with pytest.raises(UsageError, match="no run 'run-nope'"):
            await rt.get_run("run-nope")
    assert fetched.to_json() == one.to_json()
    assert {r.run_id for r in listed} == {one.run_id, two.run_id}


async def test_to_json_contract(make_runtime: Callable[..., Runtime]) -> None:
    config = build_config([mock_agent("a"), mock_agent("b", ["a"], options={"fail": True})])
    async with make_runtime(config) as rt:
        result = await run(rt, "contract")
    data = result.to_json()
    check_run_contract(data)
    assert data["status"] == "failed" and data["workflow_id"] == "wf" and data["input"] == "contract"
    a, b = data["steps"]
    assert a["tokens"]["input"] > 0 and a["tokens"]["output"] > 0
    assert b["status"] == "failed" and b["output"] is None and b["error"]


async def test_concurrent_runs_share_agents_without_mixing_results(
    make_runtime: Callable[..., Runtime], recording
) -> None:
    config = build_config(
        [mock_agent("a", options={"latency_ms": 30}), mock_agent("b", ["a"], options={"latency_ms": 30})]
    )
    async with make_runtime(config, providers={"mock": recording}) as rt:
        async with asyncio.timeout(HANG_GUARD):
            first, second = await asyncio.gather(rt.run_workflow("wf", "first"), rt.run_workflow("wf", "second"))
    assert first.run_id != second.run_id
    assert first.status == second.status == "completed"
    assert steps(first)["b"].input.endswith("Original task: first")  # type: ignore[union-attr]
    assert steps(second)["b"].input.endswith("Original task: second")  # type: ignore[union-attr]
    assert "first" in (first.final_output or "") and "second" in (second.final_output or "")
    # Steps of different runs run at once, each in a context of its own: no request of one run
    # carries the other run's task or conversation.
    assert recording.max_in_flight == {"a": 2, "b": 2}
    assert recording.calls("a") == recording.calls("b") == 2
    for request in recording.requests:
        text = " ".join(m.content for m in request.messages if m.role != "system")
        assert ("first" in text) != ("second" in text), text
