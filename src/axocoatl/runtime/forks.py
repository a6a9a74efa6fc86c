"""Time travel: a run's checkpoints (its committed steps, in commit order) and forks from one of them.

A fork from step S of run R is a new run of R's stored plan that reuses, without any LLM call,
every step of R that completed and is neither S nor downstream of S (its dependents, transitively,
through ``depends_on``, skill events and map edges); S and everything downstream of it run again.
For a linear workflow that is LangGraph's "everything committed before the checkpoint"; for a
DAG, a parallel branch that S does not feed is kept even if it committed after S. The fork records
its parent (``parent_run_id``, ``parent_step``, relation ``fork``). No I/O here.
"""

from __future__ import annotations

import copy
from typing import Any

from axocoatl.core.errors import NotFound
from axocoatl.core.ids import iso
from axocoatl.core.suggest import did_you_mean
from axocoatl.runtime.plans import RunPlan
from axocoatl.runtime.transitions import RunState, new_run_record
from axocoatl.store import RunRecord, StepRecord
from axocoatl.store.records import step_order


def check_fork_step(plan: RunPlan, run: RunRecord, step: str) -> None:
    """``step`` is a node of the run's plan, or one item of one of its maps (``agent[i]``)."""
    nodes = [n.agent_id for n in plan.nodes]
    items = [s.agent_id for s in run.steps if s.item is not None]
    if step not in nodes and step not in items:
        hint = did_you_mean(step, [*nodes, *items], noun="step", known=True, none="the run has no steps")
        raise NotFound(
            f"run '{run.run_id}' has no step '{step}'",
            hint=f"{hint}; `axocoatl runs history {run.run_id}` lists the checkpoints",
        )


def reused_steps(run: RunRecord, plan: RunPlan, from_step: str) -> list[StepRecord]:
    """The completed steps a fork from ``from_step`` keeps, in the parent's commit order.

    A map agent's item steps follow their agent: kept with it, or run again with it. A fork from one
    item runs that item, its map and what is downstream again, and keeps the map's other items.
    """
    check_fork_step(plan, run, from_step)
    redo = plan.downstream(from_step.split("[", 1)[0])
    kept = [s for s in run.steps if s.status == "completed" and s.agent not in redo and s.item is None]
    return sorted(kept, key=lambda s: (s.completed_seq or 0, s.position))


def checkpoints(run: RunRecord, plan: RunPlan) -> list[dict[str, Any]]:
    """``runs history``: each committed step in commit order, with its output and what a fork from it keeps."""
    terminal = sorted(
        (s for s in run.steps if s.completed_seq is not None and s.status in ("completed", "failed")),
        key=lambda s: (s.completed_seq or 0, s.position),
    )
    rows = []
    for step in terminal:
        forkable = step.item is None
        rows.append(
            {
                "seq": step.completed_seq,
                "step": step.agent_id,
                "agent_id": step.agent,
                "item": step.item,
                "status": step.status,
                "output": step.output,
                "error": step.error,
                "finished_at": iso(step.finished_at),
                "reused_from": step.reused_from,
                # A fork from this step keeps these and runs the step and everything after it again.
                "fork_reuses": [s.agent_id for s in reused_steps(run, plan, step.agent_id)] if forkable else None,
            }
        )
    return rows


def fork_state(
    parent: RunRecord, plan: RunPlan, from_step: str, task: str | None, *, run_id: str, owner: str, now: float
) -> RunState:
    """The fork's state before its first commit: reused steps completed, the lattice replayed through them."""
    kept = reused_steps(parent, plan, from_step)
    run = new_run_record(run_id, plan, parent.input if task is None else task, owner=owner, now=now)
    run.parent_run_id, run.parent_step, run.relation, run.depth = parent.run_id, from_step, "fork", parent.depth
    run.trigger = f"fork:{parent.run_id}"
    by_key = {s.agent_id: s for s in run.steps}
    items = {s.agent_id: s for s in parent.steps if s.item is not None}
    lattice = plan.lattice()
    lattice.start(now)
    for event in plan.initial_events:
        lattice.publish(event, now, producer=plan.workflow_id)
    outputs: dict[str, str] = {}
    seq = 0
    if from_step not in by_key:  # a fork from one map item: the map's other items are kept as they are
        for item in sorted((s for s in items.values() if s.agent == from_step.split("[", 1)[0]), key=step_order):
            copied = copy.copy(item)
            copied.run_id = run_id
            run.steps.append(copied)
            if item.agent_id == from_step or item.status != "completed":
                copied.status, copied.output, copied.error, copied.attempts = "pending", None, None, 0
                copied.started_at = copied.finished_at = None
                copied.tokens_in = copied.tokens_out = 0
                copied.context = None
                if task is not None and copied.input and copied.input.endswith(parent.input):
                    # Its input ends with the run's task (docs/lattice.md, "Map"): the fork's new one.
                    copied.input = copied.input[: len(copied.input) - len(parent.input)] + task
            else:
                _copy_step(copied, item, parent.run_id, now, None)
    for old in kept:
        seq += 1
        _copy_step(by_key[old.agent_id], old, parent.run_id, now, seq)
        for item in items.values():
            if item.agent == old.agent_id:
                copied = copy.copy(item)
                copied.run_id = run_id
                run.steps.append(copied)
                _copy_step(copied, item, parent.run_id, now, None)
        lattice.restore_completed(old.agent_id, now, old.output or "")
        outputs[old.agent_id] = old.output or ""
    return RunState(run, plan, lattice, outputs=outputs, seq=seq)


def _copy_step(step: StepRecord, old: StepRecord, parent_id: str, now: float, seq: int | None) -> None:
    step.status, step.input, step.output, step.context = "completed", old.input, old.output, old.context
    step.started_at, step.finished_at, step.completed_seq = now, now, seq
    step.tokens_in = step.tokens_out = 0  # this run spent nothing on it
    step.attempts = 0
    step.reused_from = parent_id
    step.question, step.answer = old.question, old.answer
