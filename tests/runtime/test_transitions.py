"""runtime.transitions: pure run transitions, and rollback to a snapshot when a commit is refused."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from axocoatl.config.schema import AxocoatlConfig
from axocoatl.core import events as ev
from axocoatl.core.messages import AgentOutput, TokenUsage
from axocoatl.runtime.plans import plan_workflow
from axocoatl.runtime.transitions import RunState, new_run_record

from .support import build_config, mock_agent

NOW = 1_000.0


def diamond() -> AxocoatlConfig:
    return build_config([mock_agent("a"), mock_agent("b", ["a"]), mock_agent("c", ["a"]), mock_agent("d", ["b", "c"])])


def fresh_state(config: AxocoatlConfig | None = None) -> RunState:
    config = config or diamond()
    workflow = config.workflows[0]
    plan = plan_workflow(config, workflow)
    run = new_run_record("run-1", plan, "the task", owner="me", now=NOW)
    return RunState(run, plan, plan.lattice(), outputs={}, seq=0)


def output(text: str) -> AgentOutput:
    return AgentOutput(content=text, usage=TokenUsage(3, 4))


def observable(state: RunState) -> Any:
    """Everything a transition may change, as plain data."""
    return (
        copy.deepcopy(vars(state.run) | {"steps": [vars(s).copy() for s in state.run.steps]}),
        dict(state.outputs),
        state.seq,
        state.finished,
        state.lattice.states(),
        state.lattice.statistics(),
        [state.lattice.signal(a, NOW + 5) for a in state.lattice.agent_ids],
    )


def test_start_inserts_the_run_and_activates_the_entry_without_counting_an_attempt() -> None:
    state = fresh_state()
    outcome = state.start(NOW, {"input": "the task"})
    assert outcome.activated == ["a"]
    assert [r.run_id for r in outcome.batch.new_runs] == ["run-1"]
    inserted = outcome.batch.new_runs[0]
    assert all(s.status == "pending" for s in inserted.steps)  # activations are updates in the same batch
    assert [e.type for e in outcome.events] == [ev.RUN_STARTED, ev.AGENT_ACTIVATED]
    assert state.steps["a"].status == "running" and state.steps["a"].attempts == 0
    assert not any(u.bump_attempts for u in outcome.batch.step_updates)


def test_started_counts_the_attempt_and_keeps_the_first_context() -> None:
    state = fresh_state()
    state.start(NOW, {})
    first = state.started("a", NOW + 1, "memory context v1")
    assert state.steps["a"].attempts == 1 and state.steps["a"].context == "memory context v1"
    (update,) = first.batch.step_updates
    assert update.bump_attempts and update.fields["context"] == "memory context v1"
    assert first.batch.fences == [("run-1", "me", NOW + 1)]
    second = state.started("a", NOW + 2, "memory context v2")
    assert state.steps["a"].attempts == 2 and state.steps["a"].context == "memory context v1"
    assert "context" not in second.batch.step_updates[0].fields


def test_completing_the_diamond_joins_and_closes_the_run() -> None:
    state = fresh_state()
    state.start(NOW, {})
    assert state.complete("a", output("A"), NOW + 1).activated == ["b", "c"]
    assert state.complete("b", output("B"), NOW + 2).activated == []
    last = state.complete("c", output("C"), NOW + 3)
    assert last.activated == ["d"]
    assert "[b]: B" in (state.steps["d"].input or "") and "[c]: C" in (state.steps["d"].input or "")
    done = state.complete("d", output("D"), NOW + 4)
    assert state.finished and state.run.status == "completed" and state.run.final_output == "D"
    assert [e.type for e in done.events][-1] == ev.WORKFLOW_COMPLETED
    assert [s.completed_seq for s in state.run.steps] == [1, 2, 3, 4]


def test_a_failure_skips_its_dependents_at_once_and_the_run_fails_after_the_rest() -> None:
    state = fresh_state()
    state.start(NOW, {})
    state.complete("a", output("A"), NOW + 1)
    failed = state.fail("b", "boom", NOW + 2)
    assert [e.type for e in failed.events] == [ev.AGENT_FAILED, ev.STEP_SKIPPED]
    assert state.steps["d"].status == "skipped" and not state.finished
    state.complete("c", output("C"), NOW + 3)
    assert state.finished and state.run.status == "failed" and "b" in (state.run.error or "")


def test_rollback_undoes_a_refused_transition_exactly() -> None:
    state = fresh_state()
    state.start(NOW, {})
    state.complete("a", output("A"), NOW + 1)
    before = observable(state)
    snap = state.snapshot()
    state.complete("b", output("B"), NOW + 2)
    state.complete("c", output("C"), NOW + 3)
    state.rollback(snap)
    assert observable(state) == before
    # The state moves on from the snapshot as if the refused transitions never happened: b can
    # now fail instead (what the engine does when its result could not be committed).
    state.fail("b", "could not commit its result", NOW + 4)
    assert state.steps["b"].status == "failed" and state.steps["d"].status == "skipped"


ACTIONS = st.lists(st.tuples(st.sampled_from(["complete", "fail"]), st.integers(0, 10)), max_size=12)


@settings(max_examples=150, deadline=None)
@given(prefix=ACTIONS, refused=ACTIONS)
def test_any_refused_transitions_roll_back_to_the_snapshot(
    prefix: list[tuple[str, int]], refused: list[tuple[str, int]]
) -> None:
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
    state = fresh_state(config)
    state.start(NOW, {})
    clock = [NOW]

    def apply(actions: list[tuple[str, int]]) -> None:
        for action, pick in actions:
            active = state.lattice.active_nodes()
            if not active:
                return
            agent = active[pick % len(active)]
            clock[0] += 1
            if action == "complete":
                state.complete(agent, output(f"{agent} out"), clock[0])
            else:
                state.fail(agent, f"{agent} failed", clock[0])

    apply(prefix)
    before = observable(state)
    snap = state.snapshot()
    apply(refused)
    state.rollback(snap)
    assert observable(state) == before
