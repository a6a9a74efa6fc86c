"""RunState.cancel: a cancelled run keeps what committed, stops what ran, and is resumable."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from axocoatl.core import events as ev
from axocoatl.runtime.transitions import RunState

from .support import build_config, mock_agent
from .test_transitions import NOW, fresh_state, observable, output


def test_cancel_stops_running_steps_keeps_committed_and_pending_ones() -> None:
    state = fresh_state()
    state.start(NOW, {})
    state.complete("a", output("A"), NOW + 1)  # b and c run now, d is pending
    outcome = state.cancel(NOW + 2, "run cancelled")
    statuses = {s.agent_id: s.status for s in state.run.steps}
    assert statuses == {"a": "completed", "b": "cancelled", "c": "cancelled", "d": "pending"}
    assert state.run.status == "cancelled" and state.run.error == "run cancelled" and state.finished
    assert state.run.finished_at == NOW + 2
    assert [e.type for e in outcome.events] == [ev.RUN_CANCELLED]
    assert outcome.events[0].payload["steps"] == ["b", "c"]
    assert outcome.activated == []
    assert outcome.batch.run_updates[0].fields["status"] == "cancelled"
    updated = {u.agent_id: u.fields["status"] for u in outcome.batch.step_updates}
    assert updated == {"b": "cancelled", "c": "cancelled"}  # the committed step is not written again
    assert state.steps["a"].output == "A"
    assert outcome.batch.fences == [("run-1", "me", NOW + 2)]  # only while this process owns the run


def test_a_cancelled_waiting_step_keeps_its_question() -> None:
    config = build_config([mock_agent("a"), mock_agent("b", ["a"])])
    state = fresh_state(config)
    state.start(NOW, {})
    state.wait_for_child("a", "which one?", NOW + 1)
    assert state.run.status == "waiting"
    state.finished = False  # a waiting run is taken over (claimed) before it is cancelled
    state.cancel(NOW + 2, "run cancelled")
    assert state.run.status == "cancelled"
    assert state.steps["a"].status == "waiting" and state.steps["a"].question == "which one?"


def test_a_refused_cancel_rolls_back_exactly() -> None:
    state = fresh_state()
    state.start(NOW, {})
    state.complete("a", output("A"), NOW + 1)
    before = observable(state)
    snap = state.snapshot()
    state.cancel(NOW + 2, "run cancelled")
    state.rollback(snap)
    assert observable(state) == before


ACTIONS = st.lists(st.tuples(st.sampled_from(["complete", "fail"]), st.integers(0, 10)), max_size=10)


@settings(max_examples=150, deadline=None)
@given(prefix=ACTIONS)
def test_cancel_at_any_point_changes_only_steps_that_ran(prefix: list[tuple[str, int]]) -> None:
    config = build_config(
        [
            mock_agent("a"),
            mock_agent("b", ["a"]),
            mock_agent("c", ["a"]),
            mock_agent("d", ["b", "c"]),
            mock_agent("e", ["b", "c"], activation_threshold=0.5),
            mock_agent("f", ["d", "e"]),
        ]
    )
    state: RunState = fresh_state(config)
    state.start(NOW, {})
    clock = NOW
    for action, pick in prefix:
        active = state.lattice.active_nodes()
        if not active:
            break
        agent = active[pick % len(active)]
        clock += 1
        if action == "complete":
            state.complete(agent, output(f"{agent} out"), clock)
        else:
            state.fail(agent, f"{agent} failed", clock)
    if state.finished:
        return  # an ended run is refused before any transition (Runtime.cancel_run)
    before = {s.agent_id: (s.status, s.output, s.completed_seq) for s in state.run.steps}
    state.cancel(clock + 1, "run cancelled")
    assert state.run.status == "cancelled" and state.finished
    for step in state.run.steps:
        status, out, seq = before[step.agent_id]
        if status in ("running", "awaiting_approval"):
            assert step.status == "cancelled"
        else:
            assert (step.status, step.output, step.completed_seq) == (status, out, seq)
