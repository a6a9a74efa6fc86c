"""Step claims (cluster mode) on SQLite and PostgreSQL alike: a token holds a step, a stale claim is taken
over, a commit under a lost token is refused whole, and a committed result ends every claim."""

from __future__ import annotations

import pytest

from axocoatl.core.errors import OwnershipLost
from axocoatl.store import RunRecord, SQLiteStore, StepClaim, StepRecord, StepUpdate, WriteBatch


async def _run(store: SQLiteStore) -> None:
    step = StepRecord("r1", "a", 0, status="running", input="task")
    await store.write(WriteBatch(new_runs=[RunRecord("r1", "wf", "running", "task", {}, 1.0, steps=[step])]))


async def test_a_claim_holds_until_it_goes_stale_and_then_is_taken_over(store: SQLiteStore) -> None:
    await _run(store)
    assert await store.step_result("r1", "a") is None
    assert await store.claim_step("r1", "a", node="n1", token="t1", now=10.0, stale_before=0.0) == "claimed"
    assert await store.claim_step("r1", "a", node="n2", token="t2", now=11.0, stale_before=5.0) == "held"
    assert await store.claim_step("r1", "a", node="n1", token="t1", now=20.0, stale_before=12.0) == "claimed"  # renewed
    assert await store.step_result("r1", "a") == ("n1", None)
    # n1 stops renewing: once its claim is older than stale_before, n2 takes the step over.
    assert await store.claim_step("r1", "a", node="n2", token="t2", now=40.0, stale_before=30.0) == "claimed"
    assert await store.step_result("r1", "a") == ("n2", None)


async def test_a_commit_under_a_lost_claim_writes_nothing(store: SQLiteStore) -> None:
    await _run(store)
    await store.claim_step("r1", "a", node="n1", token="t1", now=10.0, stale_before=0.0)
    await store.claim_step("r1", "a", node="n2", token="t2", now=40.0, stale_before=30.0)
    stale = WriteBatch(
        step_updates=[StepUpdate("r1", "a", {"started_at": 41.0}, bump_attempts=True)],
        step_claims=[StepClaim("r1", "a", "t1", '{"outcome": "succeed"}')],
    )
    with pytest.raises(OwnershipLost) as caught:
        await store.write(stale)
    assert "no longer claimed by this node" in caught.value.message
    run = await store.get_run("r1")
    assert run is not None and run.steps[0].attempts == 0  # the whole batch was refused
    assert await store.step_result("r1", "a") == ("n2", None)


async def test_a_committed_result_ends_the_claims_and_is_kept(store: SQLiteStore) -> None:
    await _run(store)
    await store.claim_step("r1", "a", node="n1", token="t1", now=10.0, stale_before=0.0)
    await store.write(WriteBatch(step_claims=[StepClaim("r1", "a", "t1")]))  # a fence only: still held
    await store.write(WriteBatch(step_claims=[StepClaim("r1", "a", "t1", '{"outcome": "succeed"}')]))
    assert await store.step_result("r1", "a") == ("n1", '{"outcome": "succeed"}')
    # A redelivered item finds the result: nobody claims the step again, and a second result is refused.
    assert await store.claim_step("r1", "a", node="n2", token="t2", now=99.0, stale_before=98.0) == "done"
    with pytest.raises(OwnershipLost):
        await store.write(WriteBatch(step_claims=[StepClaim("r1", "a", "t1", '{"outcome": "fail"}')]))
    assert await store.step_result("r1", "a") == ("n1", '{"outcome": "succeed"}')


async def test_a_run_that_ended_takes_no_more_results(store: SQLiteStore) -> None:
    from axocoatl.store import RunUpdate

    await _run(store)
    await store.claim_step("r1", "a", node="n1", token="t1", now=10.0, stale_before=0.0)
    await store.write(WriteBatch(run_updates=[RunUpdate("r1", {"status": "cancelled"})]))
    with pytest.raises(OwnershipLost):
        await store.write(WriteBatch(step_claims=[StepClaim("r1", "a", "t1", '{"outcome": "succeed"}')]))
    assert await store.step_result("r1", "a") == ("n1", None)


async def test_a_result_the_driver_applied_is_not_found_again_and_the_next_activation_claims_afresh(
    store: SQLiteStore,
) -> None:
    await _run(store)
    await store.claim_step("r1", "a", node="n1", token="t1", now=10.0, stale_before=0.0)
    await store.write(WriteBatch(step_claims=[StepClaim("r1", "a", "t1", '{"outcome": "ask"}')]))
    await store.write(WriteBatch(claims_applied=[("r1", "a")]))  # the driver asked the question
    assert await store.step_result("r1", "a") == ("n1", None)
    # Answered, the step runs again: any node claims it as new, and its old token holds nothing.
    assert await store.claim_step("r1", "a", node="n2", token="t2", now=20.0, stale_before=19.0) == "claimed"
    with pytest.raises(OwnershipLost):
        await store.write(WriteBatch(step_claims=[StepClaim("r1", "a", "t1")]))
    await store.write(WriteBatch(step_claims=[StepClaim("r1", "a", "t2", '{"outcome": "succeed"}')]))
    assert await store.step_result("r1", "a") == ("n2", '{"outcome": "succeed"}')
