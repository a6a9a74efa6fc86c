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

from axocoatl.coordination.conditions import map_items, router_instruction
from axocoatl.coordination.lattice import LatticeSnapshot, RunLattice, Transition
from axocoatl.core import events as ev
from axocoatl.core.events import RuntimeEvent
from axocoatl.core.ids import new_id
from axocoatl.core.messages import AgentOutput, TokenUsage
from axocoatl.runtime.plans import RunPlan
from axocoatl.store import EventRecord, RunRecord, RunStatus, RunUpdate, StepRecord, StepUpdate, WriteBatch
from axocoatl.store.records import map_item_step, step_order

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
    steps: tuple[dict[str, Any], ...]  # each step's fields (``vars``): a dict copy is ~30x cheaper than copy.copy
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
            tuple(s.__dict__.copy() for s in run.steps),
            dict(self.outputs),
            self.seq,
            self.finished,
        )

    def rollback(self, snap: RunSnapshot) -> None:
        self.lattice.rollback(snap.lattice)
        self.run.status, self.run.final_output, self.run.error, self.run.finished_at = snap.run
        kept = {saved["agent_id"] for saved in snap.steps}
        if len(kept) != len(self.run.steps):  # steps added since (map items) are forgotten
            self.run.steps = [s for s in self.run.steps if s.agent_id in kept]
            self.steps = {s.agent_id: s for s in self.run.steps}
        for saved in snap.steps:
            vars(self.steps[saved["agent_id"]]).update(saved)
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

    def start_restored(self, now: float, payload: dict[str, Any]) -> Outcome:
        """A new run whose lattice was already replayed through steps it reuses (a fork): its row,
        the start event, and the activations the replay left to run."""
        outcome = Outcome()
        outcome.batch.new_runs.append(_inserted(self.run))
        self._event(outcome, ev.RUN_STARTED, None, payload, now)
        self._apply(Transition(activated=self.lattice.active_nodes()), outcome, now)
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
            if step.item is not None:
                continue  # a map's items: its driver runs what is not done
            state = states[step.agent_id]
            if state == "active" and step.status == "waiting":
                continue  # still waiting for its answer
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

    def awaiting_approval(self, agent_id: str, now: float, waiting: bool) -> Outcome:
        """A call of a running step starts (or stops) waiting for a person's decision."""
        step = self.steps[agent_id]
        step.status = "awaiting_approval" if waiting else "running"
        outcome = self.fenced(now)
        outcome.batch.step_updates.append(StepUpdate(self.run.run_id, agent_id, {"status": step.status}))
        return outcome

    def complete(self, agent_id: str, output: AgentOutput, now: float) -> Outcome:
        interrupt = self.plan.interrupts.get(agent_id)
        if interrupt is not None and interrupt.when == "after" and self.steps[agent_id].answer is None:
            return self._park(agent_id, now, output)
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
        transition = self.lattice.complete(agent_id, now, output.content)
        for event in self.lattice.spec(agent_id).emits:
            self._event(outcome, ev.CUSTOM, agent_id, {"name": event}, now)
        self._apply(transition, outcome, now)
        self.close_if_finished(outcome, now)
        return outcome

    def item_complete(self, key: str, output: AgentOutput, now: float) -> Outcome:
        """One map item done: its step row only (the map agent completes once every item did)."""
        step = self.steps[key]
        step.status, step.output, step.error, step.finished_at = "completed", output.content, None, now
        step.tokens_in, step.tokens_out = output.usage.input, output.usage.output
        outcome = self.fenced(now)
        fields = {"status": "completed", "output": output.content, "error": None, "finished_at": now}
        fields |= {"tokens_in": output.usage.input, "tokens_out": output.usage.output}
        outcome.batch.step_updates.append(StepUpdate(self.run.run_id, key, fields))
        payload = {"agent_id": key, "item": step.item, "output": output.content[:OUTPUT_EVENT_LIMIT]}
        self._event(outcome, ev.TASK_COMPLETED, key, payload | {"tokens": output.usage.to_dict()}, now)
        return outcome

    def item_fail(self, key: str, message: str, now: float) -> Outcome:
        step = self.steps[key]
        step.status, step.error, step.finished_at = "failed", message, now
        outcome = self.fenced(now)
        fields = {"status": "failed", "error": message, "finished_at": now}
        outcome.batch.step_updates.append(StepUpdate(self.run.run_id, key, fields))
        self._event(outcome, ev.AGENT_FAILED, key, {"agent_id": key, "item": step.item, "error": message}, now)
        return outcome

    def map_items(self, agent_id: str) -> list[StepRecord]:
        """A map agent's item steps, in item order."""
        return sorted((s for s in self.run.steps if s.item is not None and s.agent == agent_id), key=step_order)

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
            if step.status in ("running", "awaiting_approval", "waiting"):
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

    def cancel(self, now: float, reason: str) -> Outcome:
        """Someone cancelled the run: its running steps stop (``cancelled``, their turns never committed),
        committed and pending steps stay as they are, a waiting step keeps its question; resumable."""
        outcome = self.fenced(now)
        stopped = []
        for step in self.run.steps:
            if step.status in ("running", "awaiting_approval"):
                step.status, step.error, step.finished_at = "cancelled", reason, now
                fields = {"status": "cancelled", "error": reason, "finished_at": now}
                outcome.batch.step_updates.append(StepUpdate(self.run.run_id, step.agent_id, fields))
                stopped.append(step.agent_id)
        run = self.run
        run.status, run.error, run.finished_at = "cancelled", reason, now
        run.final_output = final_output(self.lattice.final_order(), self.outputs)
        fields = {"status": "cancelled", "error": reason, "finished_at": now, "final_output": run.final_output}
        outcome.batch.run_updates.append(RunUpdate(run.run_id, fields))
        payload = {"status": "cancelled", "error": reason, "steps": stopped}  # the steps it stopped
        self._event(outcome, ev.RUN_CANCELLED, None, payload, now)
        self.finished = True
        return outcome

    def close_if_finished(self, outcome: Outcome, now: float, *, force: bool = False) -> None:
        """End the run once nothing runs and nothing can activate any more; park it as ``waiting``
        when all that is left are steps waiting for a human."""
        if self.finished:
            return
        active = self.lattice.active_nodes()
        if active and all(self.steps[a].status == "waiting" for a in active):
            self._wait(outcome, now)
            return
        if not (force or self.lattice.is_finished()):
            return
        if self.lattice.active_nodes():
            return
        self._apply(self.lattice.finalize(now), outcome, now)
        failed = [s.agent_id for s in self.run.steps if s.status == "failed" and s.item is None]
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
        text = upstream_input(self.run.input, upstream, self.plan.skill_prompts.get(agent_id))
        branches = self.plan.routers.get(agent_id)
        if branches:
            text = f"{text}\n\n{router_instruction(branches)}"
        answer = self.steps[agent_id].answer
        if answer is not None and agent_id in self.plan.interrupts:
            text = f"{text}\n\nHuman answer: {answer}"
        return text

    # ------------------------------------------------------------------ waiting for a human

    def waiting_steps(self) -> list[StepRecord]:
        return [s for s in self.run.steps if s.status == "waiting"]

    def answer(self, agent_id: str, text: str, now: float) -> Outcome:
        """A human answered a waiting step: it runs (``before``) or completes with the answer (``after``)."""
        step = self.steps[agent_id]
        step.answer, step.wait_until = text, None
        self.run.status, self.finished = "running", False
        payload = {"agent_id": agent_id, "answer": text[:OUTPUT_EVENT_LIMIT]}
        if agent_id in self.plan.subflows or agent_id not in self.plan.interrupts:
            # The answer is for the child run this step waits on (it runs again and passes it on), or
            # for its ask_human call (its turn resumes from the journal and the call returns the answer).
            outcome = self.fenced(now)
            step.status = "running"
            fields: dict[str, Any] = {"status": "running", "answer": text, "wait_until": None}
            outcome.batch.step_updates.append(StepUpdate(self.run.run_id, agent_id, fields))
            self._event(outcome, ev.ANSWERED, agent_id, payload, now)
            outcome.activated.append(agent_id)
            return outcome
        interrupt = self.plan.interrupts[agent_id]
        if interrupt.when == "after":
            combined = f"{step.output or ''}\n\nHuman answer: {text}"
            usage = TokenUsage(step.tokens_in, step.tokens_out)
            outcome = self.complete(agent_id, AgentOutput(combined, usage), now)
            outcome.batch.step_updates.append(
                StepUpdate(self.run.run_id, agent_id, {"answer": text, "wait_until": None})
            )
            self._event(outcome, ev.ANSWERED, agent_id, payload, now)
            return outcome
        outcome = self.fenced(now)
        step.status = "running"
        step.input = self.input_for(agent_id)
        fields = {"status": "running", "answer": text, "wait_until": None, "input": step.input}
        outcome.batch.step_updates.append(StepUpdate(self.run.run_id, agent_id, fields))
        self._event(outcome, ev.ANSWERED, agent_id, payload, now)
        outcome.activated.append(agent_id)
        return outcome

    def expire(self, agent_id: str, now: float) -> Outcome:
        """Nobody answered in time: the interrupt's policy (fail the step, or go on with the default answer)."""
        if agent_id not in self.plan.interrupts:
            # An ask_human question: the step runs on without an answer (its deadline kept), and the
            # call applies its own policy (tools/human.py).
            self.run.status, self.finished = "running", False
            self.steps[agent_id].status = "running"
            outcome = self.fenced(now)
            outcome.batch.step_updates.append(StepUpdate(self.run.run_id, agent_id, {"status": "running"}))
            outcome.activated.append(agent_id)
            return outcome
        interrupt = self.plan.interrupts[agent_id]
        if interrupt.on_timeout == "answer" and interrupt.default_answer is not None:
            return self.answer(agent_id, interrupt.default_answer, now)
        self.run.status, self.finished = "running", False
        step = self.steps[agent_id]
        step.wait_until = None
        message = f"no answer within {interrupt.timeout_secs:g} s to: {interrupt.question}"
        return self.fail(agent_id, message, now)

    def ask(self, agent_id: str, question: str, timeout: float | None, now: float) -> Outcome:
        """A step's ask_human call parks it, waiting with the question until someone answers (or ``timeout``)."""
        step = self.steps[agent_id]
        step.answer = None
        outcome = self._park(agent_id, now, question=question, when="ask_human", timeout=timeout)
        outcome.batch.step_updates.append(StepUpdate(self.run.run_id, agent_id, {"answer": None}))
        return outcome

    def wait_for_child(self, agent_id: str, question: str, now: float) -> Outcome:
        """A sub-workflow step whose child run waits for a human: the step (and the run) wait too."""
        return self._park(agent_id, now, question=question)

    def forwarded(self, agent_id: str, now: float) -> Outcome:
        """The answer a sub-workflow step held went to its child run: it is not passed on twice."""
        self.steps[agent_id].answer = None
        outcome = self.fenced(now)
        outcome.batch.step_updates.append(StepUpdate(self.run.run_id, agent_id, {"answer": None}))
        return outcome

    def _park(
        self,
        agent_id: str,
        now: float,
        output: AgentOutput | None = None,
        *,
        into: Outcome | None = None,
        question: str | None = None,
        when: str = "child",
        timeout: float | None = None,
    ) -> Outcome:
        """A step starts waiting for a human (its output kept, for ``after``; a child run's question, or
        an ask_human call's, ``when`` says which, with its own ``timeout``)."""
        interrupt = self.plan.interrupts.get(agent_id)
        step = self.steps[agent_id]
        step.status = "waiting"
        step.question = question if question is not None or interrupt is None else interrupt.question
        if interrupt is not None and question is None:
            timeout, when = interrupt.timeout_secs, interrupt.when
        step.wait_until = now + timeout if timeout is not None else None
        fields: dict[str, Any] = {"status": "waiting", "question": step.question, "wait_until": step.wait_until}
        if output is not None:
            step.output, step.tokens_in, step.tokens_out = output.content, output.usage.input, output.usage.output
            fields |= {"output": output.content, "tokens_in": output.usage.input, "tokens_out": output.usage.output}
        outcome = into if into is not None else self.fenced(now)
        outcome.batch.step_updates.append(StepUpdate(self.run.run_id, agent_id, fields))
        payload: dict[str, Any] = {"agent_id": agent_id, "question": step.question, "when": when}
        payload |= {"wait_until": step.wait_until, "output": (step.output or "")[:OUTPUT_EVENT_LIMIT]}
        self._event(outcome, ev.STEP_WAITING, agent_id, payload, now)
        self.close_if_finished(outcome, now)
        return outcome

    def _wait(self, outcome: Outcome, now: float) -> None:
        """Nothing runs and some steps wait for a human: the run waits too (no process drives it)."""
        run = self.run
        run.status = "waiting"
        outcome.batch.run_updates.append(RunUpdate(run.run_id, {"status": "waiting"}))
        questions = [{"step": s.agent_id, "question": s.question} for s in self.waiting_steps()]
        self._event(outcome, ev.RUN_WAITING, None, {"status": "waiting", "questions": questions}, now)
        self.finished = True

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
            payload: dict[str, Any] = {"agent_id": agent_id}
            if agent_id in self.plan.maps:
                payload["items"] = self._add_items(agent_id, outcome)
            self._event(outcome, ev.AGENT_ACTIVATED, agent_id, payload, now)
            interrupt = self.plan.interrupts.get(agent_id)
            if interrupt is not None and interrupt.when == "before" and step.answer is None:
                self._park(agent_id, now, into=outcome)  # asks before it runs
                continue
            outcome.activated.append(agent_id)
        for agent_id, reason in transition.skipped:
            self._skip(agent_id, reason, outcome, now)

    def _add_items(self, agent_id: str, outcome: Outcome) -> int:
        """A map agent's item steps, made when it activates (kept as they are when it is resumed)."""
        existing = self.map_items(agent_id)
        if existing:
            return len(existing)
        spec = self.plan.maps[agent_id]
        items = map_items(self.outputs.get(spec.over, ""))
        parent = self.steps[agent_id]
        others = [
            (d, self.outputs[d]) for d in self.plan.dependencies(agent_id) if d in self.outputs and d != spec.over
        ]
        for index, item in enumerate(items):
            text = f"{spec.name} {index + 1} of {len(items)}: {item}"
            step = StepRecord(self.run.run_id, map_item_step(agent_id, index), parent.position)
            context = upstream_input(self.run.input, others) if others else f"Original task: {self.run.input}"
            step.input = f"{text}\n\n{context}"
            self.run.steps.append(step)
            self.steps[step.agent_id] = step
            outcome.batch.new_steps.append(copy.copy(step))
        return len(items)

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
        parent_run_id=run.parent_run_id,
        parent_step=run.parent_step,
        relation=run.relation,
        depth=run.depth,
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
