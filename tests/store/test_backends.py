"""The aggregates other features added, on SQLite and PostgreSQL alike: A2A tasks, approvals, schedules,
memory, token reservations (the migrations and SQL are written once; PostgreSQL runs them translated)."""

from __future__ import annotations

import asyncio

import pytest

from axocoatl.core.errors import BudgetExceeded
from axocoatl.store import (
    A2APushRecord,
    A2ATaskRecord,
    ApprovalRecord,
    CoreBlockRecord,
    DeliveryResult,
    EventRecord,
    LoggedEvent,
    MemoryRecord,
    NewDelivery,
    NodeRecord,
    RunRecord,
    SQLiteStore,
    StepClaim,
    WriteBatch,
)


async def test_a2a_tasks_keep_their_run_across_saves_and_push_configs_replace(store: SQLiteStore) -> None:
    await store.save_a2a_task(A2ATaskRecord("t1", "wf", "ctx", "me", "working", 1.0, b"\x00\x01", "run-1", None))
    await store.save_a2a_task(A2ATaskRecord("t1", "wf", "ctx", "me", "completed", 2.0, b"\x02", None, "th"))
    task = await store.get_a2a_task("wf", "t1")
    assert task is not None
    assert (task.state, task.updated_at, task.data, task.run_id, task.thread) == (
        "completed",
        2.0,
        b"\x02",
        "run-1",
        "th",
    )
    assert [t.task_id for t in await store.list_a2a_tasks("wf", "me")] == ["t1"]
    await store.save_a2a_push(A2APushRecord("t1", "c1", "me", b"one"))
    await store.save_a2a_push(A2APushRecord("t1", "c1", "me", b"two"))  # same key: replaced
    assert [p.data for p in await store.a2a_push_configs("t1")] == [b"two"]
    await store.delete_a2a_task("wf", "t1")
    assert await store.get_a2a_task("wf", "t1") is None


async def test_approvals_are_idempotent_by_key_and_decided_once(store: SQLiteStore) -> None:
    request = ApprovalRecord("ap1", "agent", "builtin", "bash", {"cmd": "ls"}, 1.0, 100.0, key="k1")
    assert (await store.add_approval(request)).approval_id == "ap1"
    again = ApprovalRecord("ap2", "agent", "builtin", "bash", {"cmd": "ls"}, 2.0, 100.0, key="k1")
    assert (await store.add_approval(again)).approval_id == "ap1"  # the stored one, not a second row
    decided, first = await store.decide_approval(
        "ap1", allowed=True, scope="agent_tool", reason=None, decided_by="user", now=3.0
    )
    assert first and decided is not None and decided.status == "allowed"
    _, second = await store.decide_approval("ap1", allowed=False, scope="once", reason="no", decided_by="user", now=4.0)
    assert not second
    rule = await store.approval_rule("agent", "builtin", "bash")
    assert rule is not None and rule.decision == "allow"
    assert [a.approval_id for a in await store.list_approvals(status="allowed")] == ["ap1"]


async def test_schedules_sync_skip_once_and_pause(store: SQLiteStore) -> None:
    state = await store.sync_schedule("tick", "fp1", 10.0, 1.0)
    assert (state.next_fire, state.paused, state.run_count) == (10.0, False, 0)
    assert (await store.sync_schedule("tick", "fp1", 99.0, 2.0)).next_fire == 10.0  # same fingerprint: kept
    fires = ((10.0, "skipped", "busy"),)
    assert await store.skip_schedule_slot("tick", expected=10.0, next_fire=20.0, fires=fires, at=11.0)
    assert not await store.skip_schedule_slot("tick", expected=10.0, next_fire=20.0, fires=fires, at=11.0)
    assert [(f.slot, f.outcome) for f in await store.schedule_fires("tick")] == [(10.0, "skipped")]
    assert await store.pause_schedule("tick", True, next_fire=None, now=12.0)
    assert (await store.schedule_states())["tick"].paused is True


async def test_memories_core_blocks_and_token_reservations(store: SQLiteStore) -> None:
    await store.write(
        WriteBatch(
            memories=[MemoryRecord("ag", -1, "first", 1.0, vector=b"\x00" * 8), MemoryRecord("ag", -1, "second", 2.0)],
            core_blocks=[CoreBlockRecord("ag", "persona", "calm", 200, None, 1.0)],
        )
    )
    await store.write(WriteBatch(core_blocks=[CoreBlockRecord("ag", "persona", "brisk", 200, None, 2.0)]))
    assert [(m.seq, m.text, m.vector) for m in await store.load_memories("ag")] == [
        (0, "first", b"\x00" * 8),
        (1, "second", None),
    ]
    assert [b.value for b in await store.load_core_blocks(["ag"])] == ["brisk"]

    def allow(run_used: int, day_used: int) -> int:
        if day_used + 60 > 100:
            raise BudgetExceeded("over the day's budget")
        return 60

    first = await store.reserve_tokens("ag", run_id="r", day_start=0.0, now=5.0, expires_at=50.0, decide=allow)
    with pytest.raises(BudgetExceeded):
        await store.reserve_tokens("ag", run_id="r", day_start=0.0, now=6.0, expires_at=50.0, decide=allow)
    await store.release_tokens(first)
    assert await store.reserve_tokens("ag", run_id="r", day_start=0.0, now=7.0, expires_at=50.0, decide=allow) > 0


async def test_webhook_deliveries_are_routed_once_and_claimed_by_one_owner_at_a_time(store: SQLiteStore) -> None:
    await store.prime_consumers(["hook"])
    events = [EventRecord(f"e{i}", "TaskCompleted", float(i), run_id="r") for i in range(3)]
    await store.write(WriteBatch(events=events))

    def derive(logged: list[LoggedEvent]) -> list[NewDelivery]:
        return [NewDelivery(f"d-{e.seq}", "hook", e.seq, e.event.event_id, e.event.type, "{}") for e in logged]

    assert await store.route_events("hook", derive, now=10.0) == 3
    assert await store.route_events("hook", derive, now=10.0) == 0  # the cursor moved with the enqueue
    many = [store.claim_deliveries(["hook"], owner=f"n{i}", now=11.0, lease_until=41.0, limit=10) for i in range(3)]
    results = await asyncio.gather(*many)
    claimed = [batch for batch in results if batch]
    assert len(claimed) == 1 and len(claimed[0]) == 3  # one owner holds all three while its lease lasts
    owner = f"n{[bool(b) for b in results].index(True)}"
    assert await store.next_delivery_due(["hook"]) == 41.0
    first = claimed[0][0]
    done = DeliveryResult("delivered", 200, None)
    # Only the owner of the lease records the attempt.
    assert [await store.finish_delivery(first.id, owner=o, result=done, now=12.0) for o in ("x", owner, owner)] == [
        False,
        True,
        False,
    ]
    # A lease that ran out is claimed again by whoever comes next.
    again = await store.claim_deliveries(["hook"], owner="late", now=42.0, lease_until=72.0, limit=10)
    assert sorted(d.delivery_id for d in again) == sorted(d.delivery_id for d in claimed[0][1:])


async def test_cancel_requests_reach_the_owner_of_a_running_run_until_it_is_claimed(store: SQLiteStore) -> None:
    run = RunRecord(run_id="run-c", workflow_id="wf", status="running", input="x", spec={}, started_at=1.0, owner="a")
    await store.write(WriteBatch(new_runs=[run]))
    assert await store.cancel_requests("a") == []
    await store.request_cancel("run-c", 2.0)
    await store.request_cancel("run-c", 3.0)  # asked twice: one request
    assert await store.cancel_requests("a") == ["run-c"]
    assert await store.cancel_requests("b") == []  # only its owner is asked
    assert await store.claim_run("run-c", owner="b", expected_owner="a", expected_status="running", now=4.0)
    assert await store.cancel_requests("b") == []  # a claimed (resumed) run is not cancelled again


async def test_nodes_register_beat_and_leave_and_claims_count_running_runs(store: SQLiteStore) -> None:
    node = NodeRecord("n1", "h:1:aa", "h", 1, "1.0", "http://127.0.0.1:1", "running", 1.0, 1.0)
    await store.save_node(node)
    await store.save_node(NodeRecord("n2", "h:2:bb", "h", 2, "1.0", None, "draining", 1.0, 5.0))
    await store.save_node(NodeRecord("n1", "h:1:aa", "h", 1, "1.0", "http://127.0.0.1:1", "running", 1.0, 9.0))
    assert [(n.node_id, n.state, n.heartbeat_at) for n in await store.list_nodes()] == [
        ("n1", "running", 9.0),
        ("n2", "draining", 5.0),
    ]
    assert await store.get_node("n1") == NodeRecord(
        "n1", "h:1:aa", "h", 1, "1.0", "http://127.0.0.1:1", "running", 1.0, 9.0
    )
    await store.remove_node("n1", owner="h:9:zz")  # not its row: n1 was restarted under another owner
    assert await store.get_node("n1") is not None
    await store.remove_node("n1", owner="h:1:aa")
    await store.forget_nodes(before=6.0)
    assert await store.list_nodes() == []
    runs = [
        RunRecord(run_id=f"run-{i}", workflow_id="wf", status=status, input="x", spec={}, started_at=float(i), owner=o)
        for i, (status, o) in enumerate([("running", "a"), ("running", "a"), ("completed", "a"), ("running", "b")])
    ]
    await store.write(WriteBatch(new_runs=runs))
    assert await store.run_claims() == {"a": 2, "b": 1}
    for step, node in (("s1", "n1"), ("s2", "n1"), ("s3", "n2")):
        assert await store.claim_step("run-0", step, node=node, token=step, now=1.0, stale_before=0.0) == "claimed"
    await store.write(WriteBatch(step_claims=[StepClaim("run-0", "s2", "s2", result="{}")]))  # s2's result committed
    assert await store.step_claims() == {"n1": 1, "n2": 1}


async def test_run_ids_by_whole_id_or_prefix_newest_first(store: SQLiteStore) -> None:
    ids = ["run-abc1", "run-abc2", "run-abd", "run-a"]
    runs = [
        RunRecord(run_id=r, workflow_id="wf", status="completed", input="x", spec={}, started_at=float(i))
        for i, r in enumerate(ids)
    ]
    await store.write(WriteBatch(new_runs=runs))
    assert await store.run_ids_starting("run-a", limit=10) == ["run-a"]  # a whole id is taken as it is
    assert await store.run_ids_starting("run-ab", limit=10) == ["run-abd", "run-abc2", "run-abc1"]
    assert await store.run_ids_starting("run-ab", limit=2) == ["run-abd", "run-abc2"]
    assert await store.run_ids_starting("run-abc%", limit=10) == []  # no pattern characters
    assert await store.run_ids_starting("RUN-AB", limit=10) == []  # case matters
    assert await store.recent_run_ids(limit=2) == ["run-a", "run-abd"]
