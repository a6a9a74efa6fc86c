"""Coordinator workflows through the public Runtime API: HTN plans, auctions, parallel workers,
retries, LLM decomposition, synthesis with gaps, spend against the run."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from tests.conftest import RecordingProvider

from axocoatl.coordination.decomposition import GOAL_SYSTEM, TASK_SYSTEM
from axocoatl.core.messages import TokenUsage
from axocoatl.providers.base import ChatRequest, Done, StreamEvent, TextDelta, UsageReport
from axocoatl.runtime.runtime import Runtime
from axocoatl.tools.sandbox import choose, effective_sandbox

from .support import build_config, mock_agent, steps

HANG_GUARD = 60

METHODS = """
- task_pattern: report
  subtasks:
    - name: search
      task_type: Primitive
      parameters: {description: "Search for {topic}", tools: [web_search]}
    - name: read
      task_type: Primitive
      parameters: {description: Read the files, tools: [read_file]}
    - name: write
      task_type: Primitive
      parameters: {description: Write it up}
      after: [search, read]
"""


def team(tmp_path: Path, methods: str | None = METHODS, workers: list[dict[str, Any]] | None = None, **fields: Any):  # type: ignore[no-untyped-def]
    workflow_fields: dict[str, Any] = dict(fields)
    if methods is not None:
        path = tmp_path / "methods.yaml"
        path.write_text(methods)
        workflow_fields.setdefault("htn_methods_file", str(path))
        workflow_fields.setdefault("goal_task", "report")
    pool = (
        workers
        if workers is not None
        else [
            mock_agent("searcher", role="worker", tools=["web_search"]),
            mock_agent("reader", role="worker", tools=["read_file", "web_search"]),
        ]
    )
    return build_config([mock_agent("boss", role="coordinator"), *pool], workflow_fields=workflow_fields)


async def run(rt: Runtime, task: str = "report on tides") -> Any:
    async with asyncio.timeout(HANG_GUARD):
        return await rt.run_workflow("wf", task)


async def test_an_htn_plan_is_auctioned_run_in_order_and_synthesized(
    make_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    recording = RecordingProvider()
    config = team(tmp_path, planner_state={"topic": "tides"})
    async with make_runtime(config, providers={"mock": recording}) as rt:
        result = await run(rt)
        stored = await rt.get_run(result.run_id)
    assert result.status == "completed", result.error
    # Only the coordinator is a step of the lattice; its output is the synthesis.
    assert [s.agent_id for s in result.steps] == ["boss"]
    assert steps(result)["boss"].attempts == 1
    plan = stored.plan
    assert plan is not None and plan["source"] == "htn"
    tasks = {t["id"]: t for t in plan["tasks"]}
    assert list(tasks) == ["search", "read", "write"]
    assert tasks["search"]["description"] == "Search for tides"
    # search needs web_search: both can bid, equal scores, the first in config order wins;
    # read needs read_file: only reader; write needs nothing: searcher has less load... both are free again.
    assert tasks["search"]["worker"] == "searcher"
    assert tasks["read"]["worker"] == "reader"
    assert all(t["status"] == "completed" and len(t["attempts"]) == 1 for t in tasks.values())
    assert [b["task"] for b in plan["bids"]] == ["search", "read", "write"]
    search_bids = plan["bids"][0]["bids"]
    assert [b["worker"] for b in search_bids] == ["searcher", "reader"]
    assert plan["bids"][1]["bids"] == [{"worker": "reader", "score": plan["bids"][1]["score"]}]
    # write waited for both and received their outputs.
    write_request = recording.requests_of(tasks["write"]["worker"])[-1]
    text = write_request.messages[-1].content  # type: ignore[attr-defined]
    assert f"[search]: {tasks['search']['output']}" in text and f"[read]: {tasks['read']['output']}" in text
    assert text.startswith("Your subtask: Write it up")
    synthesis = recording.requests_of("boss")[-1].messages[-1].content  # type: ignore[attr-defined]
    assert synthesis.startswith("Original goal:\nreport on tides")
    for name in ("search", "read", "write"):
        assert f"## {name} (succeeded)\n{tasks[name]['output']}" in synthesis
    assert result.final_output == steps(result)["boss"].output
    assert "plan" in stored.to_json() and "context" not in str(stored.to_json()["plan"]["tasks"][0]["attempts"])


async def test_subtasks_run_in_parallel_up_to_max_parallel(
    make_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    methods = "- task_pattern: report\n  subtasks:\n" + "".join(f"    - {{name: t{i}}}\n" for i in range(6))
    workers = [mock_agent(f"w{i}", role="worker", options={"latency_ms": 100}) for i in range(4)]
    recording = RecordingProvider()
    config = team(tmp_path, methods, workers, max_parallel=3)
    async with make_runtime(config, providers={"mock": recording}) as rt:
        result = await run(rt)
        plan = (await rt.get_run(result.run_id)).plan
    assert result.status == "completed"
    assert recording.max_total_in_flight == 3
    assert all(n == 1 for n in recording.max_in_flight.values())  # a worker runs one subtask at a time
    # load spreads across equal workers, ties in config order
    assert [b["winner"] for b in plan["bids"][:3]] == ["w0", "w1", "w2"]
    assert all(t["status"] == "completed" for t in plan["tasks"])


async def test_no_bidder_gets_an_adhoc_worker_with_exactly_the_required_tools(
    make_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    methods = "- task_pattern: report\n  subtasks:\n    - {name: shellwork, parameters: {tools: [bash]}}\n"
    recording = RecordingProvider()
    config = team(tmp_path, methods)
    async with make_runtime(config, providers={"mock": recording}) as rt:
        result = await run(rt)
        plan = (await rt.get_run(result.run_id)).plan
    assert result.status == "completed", result.error
    [task] = plan["tasks"]
    assert task["worker"] == "boss-worker-1" and task["adhoc"] is True and task["score"] == 0
    [request] = recording.requests_of("boss-worker-1")
    assert [t.name for t in request.tools] == ["bash"]  # type: ignore[attr-defined]
    assert request.model == "mock-1"  # type: ignore[attr-defined]
    assert request.messages[0].content.startswith("You are a worker agent. Your task:")  # type: ignore[attr-defined]
    # Its commands run under the sandbox tier chosen for it (the coordinator's), not unconfined.
    runner = rt.tool_services.runners["boss-worker-1"]
    assert type(runner) is type(choose(effective_sandbox(config.sandbox, None))[0])


async def test_a_failing_subtask_is_retried_elsewhere_then_reported_as_a_gap(
    make_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    methods = "- task_pattern: report\n  subtasks:\n    - {name: good}\n"
    methods += "    - {name: bad, parameters: {description: doomed}}\n"
    workers = [
        mock_agent("w1", role="worker", options={"fail_when": "doomed"}),
        mock_agent("w2", role="worker", options={"fail_when": "doomed"}),
    ]
    recording = RecordingProvider()
    config = team(tmp_path, methods, workers, retries=2)
    async with make_runtime(config, providers={"mock": recording}) as rt:
        result = await run(rt)
        plan = (await rt.get_run(result.run_id)).plan
    assert result.status == "completed", result.error
    bad = next(t for t in plan["tasks"] if t["name"] == "bad")
    assert bad["status"] == "failed" and len(bad["attempts"]) == 3
    # the retry goes to the worker that has not failed it yet
    assert [a["worker"] for a in bad["attempts"]][:2] in (["w2", "w1"], ["w1", "w2"])
    assert len({a["worker"] for a in bad["attempts"][:2]}) == 2
    assert all("asked to fail" in a["error"] for a in bad["attempts"])
    synthesis = recording.requests_of("boss")[-1].messages[-1].content  # type: ignore[attr-defined]
    assert "These subtasks failed — account for the gaps:\n- bad:" in synthesis


async def test_all_subtasks_failing_is_a_clear_error(make_runtime: Callable[..., Runtime], tmp_path: Path) -> None:
    workers = [mock_agent("w", role="worker", tools=["web_search", "read_file"], options={"fail": True})]
    config = team(tmp_path, workers=workers, retries=1)
    async with make_runtime(config) as rt:
        result = await run(rt)
        plan = (await rt.get_run(result.run_id)).plan
    assert result.status == "failed"
    assert "all 3 subtask(s) failed; nothing to synthesize" in (steps(result)["boss"].error or "")
    write = next(t for t in plan["tasks"] if t["name"] == "write")
    assert write["error"].startswith("skipped: it waits for")
    assert write["attempts"] == []


class Decomposer(RecordingProvider):
    """The mock, except that decomposition requests get ``replies`` (in order) as JSON."""

    def __init__(self, replies: list[str]) -> None:
        super().__init__()
        self.replies = list(replies)
        self.decompositions: list[ChatRequest] = []

    async def stream(self, request: Any) -> AsyncIterator[StreamEvent]:  # type: ignore[override]
        system = request.messages[0].content if request.messages[0].role == "system" else ""
        if system in (GOAL_SYSTEM, TASK_SYSTEM):
            self.decompositions.append(request)
            self.requests.append(request)
            text = self.replies.pop(0) if self.replies else "no more"
            yield TextDelta(text)
            yield UsageReport(TokenUsage(100, 50))
            yield Done("stop")
            return
        async for event in super().stream(request):
            yield event  # type: ignore[misc]


async def test_without_methods_the_llm_decomposes_the_goal_robustly(
    make_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    provider = Decomposer(
        [
            "I think... not JSON",
            '<think>ok</think>```json\n[{"name": "find", "description": "find it", "tools": ["web_search"]},'
            ' {"name": "tell", "description": "tell it", "after": ["find"]}]\n```',
        ]
    )
    config = team(tmp_path, methods=None)
    async with make_runtime(config, providers={"mock": provider}) as rt:
        result = await run(rt, "explain tides")
        record = await rt.get_run(result.run_id)
        plan = record.plan
        usage = await rt.store.usage_since("boss", since=0, run_id=result.run_id)
        spent = [await rt.store.usage_since(a.id, since=0, run_id=result.run_id) for a in config.agents]
    assert result.status == "completed", result.error
    assert plan["source"] == "llm"
    assert [(t["id"], t["after"]) for t in plan["tasks"]] == [("find", []), ("tell", ["find"])]
    assert len(provider.decompositions) == 2  # one unreadable reply, then a good one
    assert "Task: explain tides" in provider.decompositions[0].messages[-1].content
    # the decomposition calls count against the run, and in its tokens: what the ledger charged it
    assert usage[0] >= 2 * 150
    assert plan["planning_tokens"] == {"input": 200, "output": 100}
    assert record.usage().total == sum(total for total, _ in spent)


async def test_an_uncovered_compound_task_goes_to_the_llm_and_unusable_replies_fail_clearly(
    make_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    methods = (
        "- task_pattern: report\n  subtasks:\n    - {name: known}\n    - {name: unknown_part, task_type: Compound}\n"
    )
    provider = Decomposer(['[{"name": "part_a"}, {"name": "part_b"}]'])
    async with make_runtime(team(tmp_path, methods), providers={"mock": provider}) as rt:
        result = await run(rt)
        plan = (await rt.get_run(result.run_id)).plan
    assert result.status == "completed", result.error
    assert plan["source"] == "htn+llm"
    assert [t["id"] for t in plan["tasks"]] == ["known", "part_a", "part_b"]
    assert "Task: unknown_part" in provider.decompositions[0].messages[-1].content

    failing = Decomposer(["nope"] * 10)
    async with make_runtime(team(tmp_path, methods, decomposition_rounds=2), providers={"mock": failing}) as rt:
        result = await run(rt)
    assert result.status == "failed"
    assert len(failing.decompositions) == 2
    error = steps(result)["boss"].error or ""
    assert "could not decompose 'unknown_part'" in error and "no readable JSON" in error and "2 round(s)" in error


async def test_a_plan_that_cannot_be_made_fails_the_coordinator_step(
    make_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    methods = "- task_pattern: report\n  preconditions: [{key: ready, expected: true}]\n  subtasks: [{name: a}]\n"
    async with make_runtime(team(tmp_path, methods)) as rt:
        result = await run(rt)
    assert result.status == "failed"
    assert "ready eq True (state: '<unset>')" in (steps(result)["boss"].error or "")
    async with make_runtime(team(tmp_path, methods, planner_state={"ready": True})) as rt:
        assert (await run(rt)).status == "completed"


async def test_worker_spend_counts_against_its_run_budget(make_runtime: Callable[..., Runtime], tmp_path: Path) -> None:
    methods = "- task_pattern: report\n  subtasks:\n    - {name: one}\n    - {name: two, after: [one]}\n"
    workers = [mock_agent("w", role="worker", token_budget={"per_execution": 5000, "per_run": 10_000})]
    async with make_runtime(team(tmp_path, methods, workers)) as rt:
        result = await run(rt)
        used, _ = await rt.store.usage_since("w", since=0, run_id=result.run_id)
        plan = (await rt.get_run(result.run_id)).plan
    assert result.status == "completed"
    assert used == sum(t["tokens"]["input"] + t["tokens"]["output"] for t in plan["tasks"]) > 0
    # the second bid (load 0 again, after the first subtask) reflects the budget left
    first = plan["tasks"][0]["tokens"]
    left = 10_000 - first["input"] - first["output"]
    assert plan["bids"][0]["score"] == 0.95
    assert plan["bids"][1]["score"] == round(0.4 + 0.3 + 0.2 * left / 10_000 + 0.1 * 0.5, 4)


async def test_a_failed_run_tried_again_gives_its_failed_subtasks_new_attempts(
    make_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    methods = "- task_pattern: report\n  subtasks:\n    - {name: one}\n    - {name: two, after: [one]}\n"
    broken = team(tmp_path, methods, [mock_agent("w", role="worker", options={"fail": True})], retries=0)
    async with make_runtime(broken) as rt:
        failed = await run(rt)
    assert failed.status == "failed"
    fixed = team(tmp_path, methods, [mock_agent("w", role="worker")], retries=0)
    async with make_runtime(fixed) as rt:
        async with asyncio.timeout(HANG_GUARD):
            result = await rt.resume_run(failed.run_id)
        plan = (await rt.get_run(result.run_id)).plan
    assert result.status == "completed", steps(result)["boss"].error
    one, two = plan["tasks"]
    assert [a["status"] for a in one["attempts"]] == ["failed", "completed"]
    assert [a["status"] for a in two["attempts"]] == ["completed"]  # skipped before, never attempted


async def test_past_runs_of_the_workflow_feed_the_success_term(
    make_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    methods = "- task_pattern: report\n  subtasks:\n    - {name: t, parameters: {description: doomed}}\n"
    workers = [mock_agent("a", role="worker", options={"fail_when": "doomed"}), mock_agent("b", role="worker")]
    async with make_runtime(team(tmp_path, methods, workers)) as rt:
        first = await run(rt)
        second = await run(rt)
        plans = [(await rt.get_run(r.run_id)).plan for r in (first, second)]
    # first run: a wins the tie (config order), fails; the retry goes to b
    assert [b["winner"] for b in plans[0]["bids"]] == ["a", "b"]
    # second run: b's success and a's failure on 't' are remembered
    assert plans[1]["bids"][0]["winner"] == "b"
    assert plans[1]["bids"][0]["bids"] == [
        {"worker": "b", "score": round(0.9 + 0.1 * 2 / 3, 4)},
        {"worker": "a", "score": round(0.9 + 0.1 * 1 / 3, 4)},
    ]


async def test_a_workers_call_awaiting_approval_parks_the_coordinator_step(
    make_runtime: Callable[..., Runtime], tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    methods = "- task_pattern: report\n  subtasks:\n    - {name: save, parameters: {tools: [write_file]}}\n"
    call = [{"name": "write_file", "arguments": {"path": "out.txt", "content": "hi"}}]
    writer = mock_agent(
        "writer",
        role="worker",
        tools=[{"name": "write_file", "requires_approval": True}],
        options={"tool_calls": call, "reply": "saved"},
    )
    async with make_runtime(team(tmp_path, methods, [writer], workspace=str(work))) as rt:
        run_id, task = await rt.start_workflow("wf", "report")
        async with asyncio.timeout(HANG_GUARD):
            while not (pending := await rt.approvals.list(status="pending")):
                assert not task.done(), task.result()
                await asyncio.sleep(0.01)
        parked = await rt.get_run(run_id)
        assert parked.steps[0].status == "awaiting_approval"
        assert pending[0].agent_id == "writer" and not (work / "out.txt").exists()
        await rt.approvals.decide(pending[0].approval_id, allow=True)
        async with asyncio.timeout(HANG_GUARD):
            result = await task
        plan = (await rt.get_run(run_id)).plan
    assert result.status == "completed", steps(result)["boss"].error
    assert (work / "out.txt").read_text() == "hi"
    assert plan["tasks"][0]["output"] == "saved" and plan["tasks"][0]["worker"] == "writer"
