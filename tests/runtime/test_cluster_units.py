"""The pure parts of cluster mode: results as committed, subjects, replicas, and the fenced step commit."""

from __future__ import annotations

from pathlib import Path

import pytest

from axocoatl.config.schema import ClusterConfig
from axocoatl.core.errors import HumanQuestion, OwnershipLost
from axocoatl.core.ids import SystemClock
from axocoatl.core.messages import AgentOutput, TokenUsage
from axocoatl.runtime.cluster import NatsConnection, WorkQueue, default_node_id, node_id_of
from axocoatl.runtime.cluster.steps import RemoteStepCommit, StepResult
from axocoatl.runtime.cluster.workqueue import subject_token
from axocoatl.store import RunRecord, SQLiteStore, StepRecord, WriteBatch


def test_a_step_result_survives_its_json() -> None:
    for result in (
        StepResult("succeed", "done ✓", TokenUsage(12, 34)),
        StepResult("ask", "which one?", TokenUsage(), 60.0),
        StepResult("fail", "boom", TokenUsage()),
    ):
        assert StepResult.from_json(result.to_json()) == result


def test_subjects_are_one_token_per_key_and_replicas_follow_the_cluster_size() -> None:
    assert subject_token("run-1.a b*>") == "run-1_a_b__"
    one = ClusterConfig.model_validate({"nats": ["nats://a:4222"]})
    three = ClusterConfig.model_validate({"nats": ["nats://a:1", "nats://b:1", "nats://c:1"]})
    assert WorkQueue(NatsConnection(one, name="t"), one).replicas() == 1
    assert WorkQueue(NatsConnection(three, name="t"), three).replicas() == 3
    pinned = three.model_copy(update={"replicas": 1})
    assert WorkQueue(NatsConnection(pinned, name="t"), pinned).subject("step", "run.1") == "AXOCOATL.work.step.run_1"
    assert WorkQueue(NatsConnection(pinned, name="t"), pinned).replicas() == 1
    assert node_id_of(one) == default_node_id() and node_id_of(one.model_copy(update={"node_id": "n1"})) == "n1"


async def _claimed(tmp_path: Path) -> tuple[SQLiteStore, StepRecord]:
    store = SQLiteStore(tmp_path / "axocoatl.db", synchronous="normal")
    await store.open()
    step = StepRecord("r1", "a", 0, status="running", input="task")
    await store.write(WriteBatch(new_runs=[RunRecord("r1", "wf", "running", "task", {}, 1.0, steps=[step])]))
    assert await store.claim_step("r1", "a", node="n1", token="t1", now=1.0, stale_before=0.0) == "claimed"
    return store, step


async def test_a_remote_turn_commits_its_start_and_result_under_its_claim(tmp_path: Path) -> None:
    store, step = await _claimed(tmp_path)
    try:
        commit = RemoteStepCommit(store, SystemClock(), step, "t1", human="ask")
        await commit.started("ctx")
        await commit.succeed(AgentOutput("out", TokenUsage(3, 4)), WriteBatch())
        run = await store.get_run("r1")
        assert run is not None and (run.steps[0].attempts, run.steps[0].context) == (1, "ctx")
        found = await store.step_result("r1", "a")
        assert found is not None and found[1] is not None
        assert StepResult.from_json(found[1]) == StepResult("succeed", "out", TokenUsage(3, 4))
    finally:
        await store.close()


async def test_a_remote_turn_that_lost_its_claim_commits_nothing(tmp_path: Path) -> None:
    store, step = await _claimed(tmp_path)
    try:
        await store.claim_step("r1", "a", node="n2", token="t2", now=100.0, stale_before=50.0)
        commit = RemoteStepCommit(store, SystemClock(), step, "t1", human="ask")
        with pytest.raises(OwnershipLost):
            await commit.succeed(AgentOutput("late"), WriteBatch())
        assert await store.step_result("r1", "a") == ("n2", None)
    finally:
        await store.close()


async def test_a_map_item_cannot_ask_and_its_question_fails_the_item(tmp_path: Path) -> None:
    store, step = await _claimed(tmp_path)
    try:
        commit = RemoteStepCommit(store, SystemClock(), step, "t1", human="item")
        assert commit.human_reply().refused is not None
        await commit.fail(HumanQuestion("which?", None), WriteBatch())
        found = await store.step_result("r1", "a")
        assert found is not None and found[1] is not None and StepResult.from_json(found[1]).outcome == "fail"
    finally:
        await store.close()
