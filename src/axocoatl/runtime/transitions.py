"""A run's transitions, pure: a lattice transition becomes the write batch and the events it causes.

``RunState`` holds one run's in-memory state (its record, step rows, outputs and lattice).
Each method applies one transition to that state and returns an ``Outcome``: the batch to
commit, the events to publish once it committed, and the steps it activated. The engine
(runtime/workflows.py) takes a ``snapshot`` before computing a transition and ``rollback``s
to it when the database refuses the batch, so the in-memory state never runs ahead of what
is durable. No I/O here.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from axocoatl.coordination.lattice import LatticeSnapshot, RunLattice, Transition
from axocoatl.core import events as ev
from axocoatl.core.events import RuntimeEvent
from axocoatl.core.ids import new_id
from axocoatl.core.messages import AgentOutput
from axocoatl.runtime.plans import RunPlan
from axocoatl.store import EventRecord, RunRecord, RunStatus, RunUpdate, StepRecord, StepUpdate, WriteBatch

OUTPUT_EVENT_LIMIT = 12_000  # characters of a step's output carried in its TaskCompleted event


def upstream_input(task: str, upstream: Iterable[tuple[str, str]], skill_prompt: str | None = None) -> str:
    """The input a downstream agent receives: upstream outputs, then the original task.

    The template is documented in docs/lattice.md ("How outputs flow"); keep them in sync.
    """
    lines = [f"[{agent}]: {output}" for agent, output in upstream]
    text = task if not lines else "Previous agent outputs:\n" + "\n".join(lines) + "\n\nOriginal task: " + task
    if skill_prompt:
        text = f"{skill_prompt}\n\n{text}"
    return text


def final_output(order: list[str], outputs: dict[str, str]) -> str | None:
    """The run's output: the completed sinks' outputs in topological order."""
    present = [(agent, outputs[agent]) for agent in order if agent in outputs]
    if not present:
        return None
    if len(present) == 1:
        return present[0][1]
    return "\n\n".join(f"[{agent}]: {output}" for agent, output in present)


@dataclass
class Outcome:
    """What one transition writes, publishes once committed, and starts."""

    batch: WriteBatch = field(default_factory=WriteBatch)
    events: list[RuntimeEvent] = field(default_factory=list)
    activated: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RunSnapshot:
    lattice: LatticeSnapshot
    run: tuple[RunStatus, str | None, str | None, float | None]
    steps: tuple[StepRecord, ...]
    outputs: dict[str, str]
    seq: int
    finished: bool


class RunState:
    """One run's in-memory state and the transitions that move it."""

    def __init__(
        self, run: RunRecord, plan: RunPlan, lattice: RunLattice, *, outputs: dict[str, str], seq: int
    ) -> None:
        self.run = run
        self.plan = plan
        self.lattice = lattice
        self.outputs = outputs
        self.seq = seq  # completion order of terminal steps (resume replays them in this order)
        self.steps = {s.agent_id: s for s in run.steps}
        self.finished = run.status != "running"

    # ------------------------------------------------------------------ snapshots

    def snapshot(self) -> RunSnapshot:
        run = self.run
        return RunSnapshot(
            self.lattice.snapshot(),
            (run.status, run.final_output, run.error, run.finished_at),
            tuple(copy.copy(s) for s in run.steps),
            dict(self.outputs),
            self.seq,
            self.finished,
        )

    def rollback(self, snap: RunSnapshot) -> None:
        self.lattice.rollback(snap.lattice)
        self.run.status, self.run.final_output, self.run.error, self.run.finished_at = snap.run
        for saved in snap.steps:
            vars(self.steps[saved.agent_id]).update(vars(saved))
        self.outputs = dict(snap.outputs)
        self.seq = snap.seq
        self.finished = snap.finished

    # ------------------------------------------------------------------ transitions

    def fenced(self, now: float) -> Outcome:
        """An empty outcome whose batch commits only while ``run.owner`` still owns the run."""
        outcome = Outcome()
        if self.run.owner:
            outcome.batch.fences.append((self.run.run_id, self.run.owner, now))
        return outcome

    def start(self, now: float, payload: dict[str, Any]) -> Outcome:
        """A new run: its row, the start event, its initial skill events and the entry activations."""
        outcome = Outcome()
        outcome.batch.new_runs.append(_inserted(self.run))
        self._event(outcome, ev.RUN_STARTED, None, payload, now)
        self._apply(self.lattice.start(now), outcome, now)
        for event in self.plan.initial_events:
            self.publish_event(event, outcome, now, producer=self.plan.workflow_id)
        return outcome

    def publish_event(self, event: str, outcome: Outcome, now: float, *, producer: str) -> None:
        """A skill event published into the run's lattice."""
        transition = self.lattice.publish(event, now, producer)
        self._event(outcome, ev.CUSTOM, None, {"name": event, "producer": producer}, now)
        self._apply(transition, outcome, now)

    def resume(self, now: float, *, retry: bool) -> Outcome:
        """Reconcile the step rows with the rebuilt lattice and re-dispatch what was in flight."""
        outcome = Outcome()
        self._event(outcome, ev.RUN_RESUMED, None, {"retry": retry}, now)
        states = self.lattice.states()
        activated = []
        for step in self.run.steps:
            state = states[step.agent_id]
            if state == "active":
                activated.append(step.agent_id)
            elif state == "pending" and step.status != "pending":
                step.status, step.error, step.finished_at, step.started_at = "pending", None, None, None
                outcome.batch.step_updates.append(
                    StepUpdate(
                        self.run.run_id,
                        step.agent_id,
                        {"status": "pending", "error": None, "finished_at": None, "started_at": None},
                    )
                )
            elif state == "skipped" and step.status != "skipped":
                self._skip(step.agent_id, self.lattice.reason(step.agent_id) or "skipped", outcome, now)
        # A step that was in flight keeps the context its first attempt sent.
        self._apply(Transition(activated=tuple(activated)), outcome, now, keep_context=True)
        return outcome

    def started(self, agent_id: str, now: float, context: str) -> Outcome:
        """A step's execution starts: one more attempt, and the context it sends (kept for a retry)."""
        step = self.steps[agent_id]
        step.started_at, step.attempts = now, step.attempts + 1
        fields: dict[str, Any] = {"started_at": now}
        if step.context is None:
            step.context = context
            fields["context"] = context
        outcome = self.fenced(now)
        outcome.batch.step_updates.append(StepUpdate(self.run.run_id, agent_id, fields, bump_attempts=True))
        return outcome

    def complete(self, agent_id: str, output: AgentOutput, now: float) -> Outcome:
        self.seq += 1
        self.outputs[agent_id] = output.content
        step = self.steps[agent_id]
        step.status, step.output, step.finished_at = "completed", output.content, now
        step.tokens_in, step.tokens_out, step.completed_seq = output.usage.input, output.usage.output, self.seq
        outcome = self.fenced(now)
        outcome.batch.step_updates.append(
            StepUpdate(
                self.run.run_id,
                agent_id,
                {
                    "status": "completed",
                    "output": output.content,
                    "error": None,
                    "finished_at": now,
                    "tokens_in": output.usage.input,
                    "tokens_out": output.usage.output,
                    "completed_seq": self.seq,
                },
            )
        )
        payload = {
            "agent_id": agent_id,
            "output": output.content[:OUTPUT_EVENT_LIMIT],
            "tokens": output.usage.to_dict(),
        }
        self._event(outcome, ev.TASK_COMPLETED, agent_id, payload, now)
        transition = self.lattice.complete(agent_id, now)
        for event in self.lattice.spec(agent_id).emits:
            self._event(outcome, ev.CUSTOM, agent_id, {"name": event}, now)
        self._apply(transition, outcome, now)
        self.close_if_finished(outcome, now)
        return outcome

    def fail(self, agent_id: str, message: str, now: float) -> Outcome:
        self.seq += 1
        step = self.steps[agent_id]
        step.status, step.error, step.finished_at, step.completed_seq = "failed", message, now, self.seq
        outcome = self.fenced(now)
        outcome.batch.step_updates.append(
            StepUpdate(
                self.run.run_id,
                agent_id,
                {"status": "failed", "error": message, "finished_at": now, "completed_seq": self.seq},
            )
        )
        self._event(outcome, ev.AGENT_FAILED, agent_id, {"agent_id": agent_id, "error": message}, now)
        self._apply(self.lattice.fail(agent_id, now, message), outcome, now)
        self.close_if_finished(outcome, now)
        return outcome

    def time_out(self, now: float, reason: str, hint: str) -> Outcome:
        """The workflow timeout: running steps fail, pending ones are skipped, the run fails."""
        outcome = self.fenced(now)
        error = f"{reason} ({hint})"
        for step in self.run.steps:
            if step.status == "running":
                step.status, step.error, step.finished_at = "failed", error, now
                outcome.batch.step_updates.append(
                    StepUpdate(self.run.run_id, step.agent_id, {"status": "failed", "error": error, "finished_at": now})
                )
            elif step.status == "pending":
                self._skip(step.agent_id, reason, outcome, now)
        run = self.run
        run.status, run.error, run.finished_at = "failed", error, now
        run.final_output = final_output(self.lattice.final_order(), self.outputs)
        outcome.batch.run_updates.append(
            RunUpdate(
                run.run_id,
                {"status": "failed", "error": run.error, "finished_at": now, "final_output": run.final_output},
            )
        )
        self._event(outcome, ev.WORKFLOW_FAILED, None, {"status": "failed", "error": reason}, now)
        self.finished = True
        return outcome

    def close_if_finished(self, outcome: Outcome, now: float, *, force: bool = False) -> None:
        """End the run once nothing runs and nothing can activate any more."""
        if self.finished or not (force or self.lattice.is_finished()):
            return
        if self.lattice.active_nodes():
            return
        self._apply(self.lattice.finalize(now), outcome, now)
        failed = [s.agent_id for s in self.run.steps if s.status == "failed"]
        stats = self.lattice.statistics()
        error = None
        if failed:
            error = f"{len(failed)} step(s) failed: {', '.join(failed)}"
        elif stats.limit_reached:
            error = f"cycle guard stopped the run after {stats.activations} activations"
        status: RunStatus = "failed" if error else "completed"
        output = final_output(self.lattice.final_order(), self.outputs)
        run = self.run
        run.status, run.final_output, run.error, run.finished_at = status, output, error, now
        outcome.batch.run_updates.append(
            RunUpdate(run.run_id, {"status": status, "final_output": output, "error": error, "finished_at": now})
        )
        kind = ev.WORKFLOW_COMPLETED if status == "completed" else ev.WORKFLOW_FAILED
        self._event(outcome, kind, None, {"status": status, "error": error}, now)
        self.finished = True

    def input_for(self, agent_id: str) -> str:
        upstream = [(d, self.outputs[d]) for d in self.plan.dependencies(agent_id) if d in self.outputs]
        return upstream_input(self.run.input, upstream, self.plan.skill_prompts.get(agent_id))

    # ------------------------------------------------------------------ helpers

    def _apply(self, transition: Transition, outcome: Outcome, now: float, *, keep_context: bool = False) -> None:
        for agent_id in transition.activated:
            # Activated, not started: the attempt is counted when the agent starts executing it.
            step = self.steps[agent_id]
            step.status, step.started_at = "running", None
            step.output, step.error, step.finished_at = None, None, None
            step.input = self.input_for(agent_id)
            fields: dict[str, Any] = {
                "status": "running",
                "started_at": None,
                "input": step.input,
                "output": None,
                "error": None,
                "finished_at": None,
            }
            if not keep_context:
                # A new activation (a cycle) builds its own context; a resume (after a crash, or the
                # retry of a failed run) sends the one its first attempt sent.
                step.context = None
                fields["context"] = None
            outcome.batch.step_updates.append(StepUpdate(self.run.run_id, agent_id, fields))
            self._event(outcome, ev.AGENT_ACTIVATED, agent_id, {"agent_id": agent_id}, now)
            outcome.activated.append(agent_id)
        for agent_id, reason in transition.skipped:
            self._skip(agent_id, reason, outcome, now)

    def _skip(self, agent_id: str, reason: str, outcome: Outcome, now: float) -> None:
        step = self.steps[agent_id]
        step.status, step.error, step.finished_at = "skipped", reason, now
        outcome.batch.step_updates.append(
            StepUpdate(self.run.run_id, agent_id, {"status": "skipped", "error": reason, "finished_at": now})
        )
        self._event(outcome, ev.STEP_SKIPPED, agent_id, {"agent_id": agent_id, "reason": reason}, now)

    def _event(self, outcome: Outcome, kind: str, agent_id: str | None, payload: dict[str, Any], now: float) -> None:
        event_id = new_id("evt")
        producer = agent_id or "runtime"
        run = self.run
        outcome.batch.events.append(EventRecord(event_id, kind, now, producer, run.run_id, agent_id, payload))
        outcome.events.append(
            RuntimeEvent(kind, now, run.run_id, run.workflow_id, agent_id, producer, payload, event_id=event_id)
        )


def _inserted(run: RunRecord) -> RunRecord:
    """The run row as it is before its first transition (the activations update it in the same batch)."""
    return RunRecord(
        run_id=run.run_id,
        workflow_id=run.workflow_id,
        status=run.status,
        input=run.input,
        spec=run.spec,
        started_at=run.started_at,
        kind=run.kind,
        owner=run.owner,
        heartbeat_at=run.heartbeat_at,
        steps=[copy.copy(step) for step in run.steps],
        trigger=run.trigger,
    )


def new_run_record(
    run_id: str, plan: RunPlan, task: str, *, owner: str, now: float, trigger: str = "manual"
) -> RunRecord:
    """A fresh run with one pending step per node, in plan order."""
    steps = [StepRecord(run_id, node.agent_id, position) for position, node in enumerate(plan.nodes)]
    return RunRecord(
        run_id=run_id,
        workflow_id=plan.workflow_id,
        status="running",
        input=task,
        spec=plan.to_json(),
        started_at=now,
        kind=plan.kind,
        owner=owner,
        heartbeat_at=now,
        steps=steps,
        trigger=trigger,
    )
