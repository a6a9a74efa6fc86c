"""Map agents through the Runtime API: one step per item, bounded parallelism, outputs in item order."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

from axocoatl.runtime.runtime import Runtime

from .support import build_config, mock_agent, steps
from .test_conditions import issues

GUARD = 60


def fan_out(items: str, **map_fields: object) -> list[dict[str, object]]:
    return [
        mock_agent("split", options={"reply": items}),
        mock_agent("visit", map={"over": "split", "as": "city", **map_fields}, options={"latency_ms": 20}),
        mock_agent("report", ["visit"]),
    ]


async def test_map_runs_one_step_per_item_and_hands_the_outputs_on_in_order(
    make_runtime: Callable[..., Runtime],
    recording,  # type: ignore[no-untyped-def]
) -> None:
    cities = [f"city-{i}" for i in range(30)]
    config = build_config(fan_out(json.dumps(cities), max_parallel=5))
    async with make_runtime(config, providers={"mock": recording}) as rt:
        async with asyncio.timeout(GUARD):
            run = await rt.run_workflow("wf", "plan a trip")
    assert run.status == "completed", run.error
    by_id = steps(run)
    items = [by_id[f"visit[{i}]"] for i in range(30)]
    assert [s.item for s in items] == list(range(30))
    assert all(s.status == "completed" and s.attempts == 1 for s in items)
    assert items[7].input == "city 8 of 30: city-7\n\nOriginal task: plan a trip"
    assert recording.calls("visit") == 30
    outputs = json.loads(by_id["visit"].output or "")
    assert outputs == [s.output for s in items]
    assert f"[visit]: {by_id['visit'].output}" in (by_id["report"].input or "")
    # At most max_parallel items ran at once.
    events = sorted([(s.started_at or 0, 1) for s in items] + [(s.finished_at or 0, -1) for s in items])
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    assert 1 <= peak <= 5
    shown = [s["agent_id"] for s in run.to_json()["steps"]]
    assert shown[:3] == ["split", "visit", "visit[0]"] and shown[-1] == "report"


async def test_lines_are_items_and_an_empty_list_maps_to_nothing(make_runtime: Callable[..., Runtime]) -> None:
    async with make_runtime(build_config(fan_out("oslo\n\nlima\n"))) as rt:
        run = await rt.run_workflow("wf", "x")
        assert [s.agent_id for s in run.steps if s.item is not None] == ["visit[0]", "visit[1]"]
    async with make_runtime(build_config(fan_out("[]"))) as rt:
        empty = await rt.run_workflow("wf", "x")
    assert empty.status == "completed"
    assert steps(empty)["visit"].output == "[]"


async def test_a_failed_item_fails_the_map_and_a_retry_reruns_only_it(
    make_runtime: Callable[..., Runtime],
    recording,  # type: ignore[no-untyped-def]
) -> None:
    agents = fan_out('["a", "poison", "c"]', max_parallel=1)
    agents[1]["options"] = {"fail_when": "poison"}
    async with make_runtime(build_config(agents), providers={"mock": recording}) as rt:
        run = await rt.run_workflow("wf", "x")
    assert run.status == "failed"
    by_id = steps(run)
    assert by_id["visit"].status == "failed"
    assert (by_id["visit"].error or "").startswith("1 of 3 items failed; item 1:")
    assert by_id["visit[0]"].status == "completed" and by_id["visit[1]"].status == "failed"
    assert by_id["visit[2]"].status == "pending"  # nothing new starts after a failure
    assert by_id["report"].status == "skipped"
    assert run.error == "1 step(s) failed: visit"
    async with make_runtime(build_config(fan_out('["a", "poison", "c"]')), providers={"mock": recording}) as rt:
        retried = await rt.resume_run(run.run_id)
    assert retried.status == "completed"
    again = steps(retried)
    assert [again[f"visit[{i}]"].attempts for i in range(3)] == [1, 2, 1]
    assert recording.calls("visit") == 2 + 2  # a, poison; then poison again and c


async def test_fork_after_a_map_reuses_its_items(make_runtime: Callable[..., Runtime], recording) -> None:  # type: ignore[no-untyped-def]
    async with make_runtime(build_config(fan_out('["a", "b"]')), providers={"mock": recording}) as rt:
        run = await rt.run_workflow("wf", "x")
        _, task = await rt.start_fork(run.run_id, "report")
        fork = await task
    assert fork.status == "completed"
    assert recording.calls("visit") == 2
    assert steps(fork)["visit[1]"].reused_from == run.run_id
    assert steps(fork)["visit[1]"].output == steps(run)["visit[1]"].output


def test_validation_of_maps() -> None:
    agents = fan_out("[]")
    agents[1]["map"] = {"over": "splt"}
    found = issues(agents)
    assert any("map.over 'splt' is not an agent" in i and "split" in i for i in found), found
    agents = fan_out("[]")
    agents[1]["map"] = {"over": "split", "max_parallel": 0}
    assert any("max_parallel" in i for i in issues(agents))
    assert issues(fan_out("[]")) == []


async def test_fork_from_one_item_reruns_only_that_item_and_what_follows(
    make_runtime: Callable[..., Runtime],
    recording,  # type: ignore[no-untyped-def]
) -> None:
    async with make_runtime(build_config(fan_out('["a", "b", "c"]')), providers={"mock": recording}) as rt:
        run = await rt.run_workflow("wf", "x")
        before = {a: recording.calls(a) for a in ("split", "visit", "report")}
        _, task = await rt.start_fork(run.run_id, "visit[1]", "y")
        fork = await task
    assert fork.status == "completed", fork.error
    calls = {a: recording.calls(a) - before[a] for a in ("split", "visit", "report")}
    assert calls == {"split": 0, "visit": 1, "report": 1}
    by_id = steps(fork)
    assert by_id["visit[0]"].reused_from == run.run_id and by_id["visit[2]"].reused_from == run.run_id
    assert by_id["visit[1]"].reused_from is None and by_id["visit[1]"].attempts == 1
    assert by_id["visit[1]"].input == "city 2 of 3: b\n\nOriginal task: y"
    assert json.loads(by_id["visit"].output or "")[0] == steps(run)["visit[0]"].output
