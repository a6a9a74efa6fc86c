"""The workflow engine: drives runs through the event lattice, committing every step.

Each step's result, the agent's session and its token spend, the events it caused and
the steps it activated commit in one transaction before anything is published. A
resumed run rebuilds its lattice from the committed outcomes and runs only what was
in flight.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from axocoatl.agents.actor import Agent, describe_error
from axocoatl.coordination.lattice import RunLattice, Transition
from axocoatl.core import events as ev
from axocoatl.core.errors import MailboxClosed, StoreError, UsageError
from axocoatl.core.events import AgentStreamEvent, RuntimeEvent
from axocoatl.core.ids import Clock, new_id
from axocoatl.core.messages import AgentInput, AgentOutput
from axocoatl.runtime.bus import EventBus
from axocoatl.runtime.plans import RunPlan
from axocoatl.store import EventRecord, RunRecord, RunStatus, RunUpdate, StepRecord, StepUpdate, Store, WriteBatch

log = logging.getLogger(__name__)

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
class _Pending:
    """What a committed transition must publish once the transaction is durable."""

    events: list[RuntimeEvent] = field(default_factory=list)
    activated: list[str] = field(default_factory=list)


class RunDriver:
    """Drives one run to its end. One driver per run, inside one process."""

    def __init__(
        self,
        *,
        run: RunRecord,
        plan: RunPlan,
        lattice: RunLattice,
        agents: Callable[[str], Agent | None],
        store: Store,
        bus: EventBus,
        clock: Clock,
        outputs: dict[str, str],
        seq: int,
    ) -> None:
        self.run = run
        self.plan = plan
        self.lattice = lattice
        self._agents = agents
        self._store = store
        self._bus = bus
        self._clock = clock
        self._outputs = outputs
        self._seq = seq
        self._steps = {s.agent_id: s for s in run.steps}
        self._tasks: dict[asyncio.Task[list[str]], str] = {}
        self._idle: asyncio.Future[None] | None = None  # resolved when no step runs any more
        self._stopping = False  # set once the drive cancels its steps: nothing new may start
        self._finished = run.status != "running"
        # The workflow timeout counts from here: the run's start, or the moment it was resumed
        # (a run resumed hours after a crash gets its own time, not none at all).
        self.timeout_from = run.started_at

    # ------------------------------------------------------------------ driving

    async def drive(self, dispatch: Iterable[str]) -> RunRecord:
        """Run ``dispatch`` and everything it activates, until the run ends."""
        remaining = self.plan.timeout_secs - max(0.0, self._clock.now() - self.timeout_from)
        try:
            async with asyncio.timeout(max(remaining, 0.001)):
                self._idle = asyncio.get_running_loop().create_future()
                for agent_id in dispatch:
                    self._spawn(agent_id)
                if self._tasks:
                    # Each finished step starts what it activated from its done-callback; this
                    # wakes once nothing runs (one wake-up per run, not an asyncio.wait per step).
                    await self._idle
        except TimeoutError:
            await self._time_out()
        except BaseException:
            await self._cancel_all()
            raise
        if not self._finished:
            # Nothing is running and nothing will activate: close the run (a resume with
            # nothing left to do also ends here).
            batch = self._fenced_batch()
            pending = _Pending()
            self._close_if_finished(batch, pending, force=True)
            await self._store.write(batch)
            self._publish(pending)
        return self.run

    def _fenced_batch(self) -> WriteBatch:
        """A batch that commits only while this process still owns the run (and beats its heartbeat)."""
        batch = WriteBatch()
        if self.run.owner:
            batch.fences.append((self.run.run_id, self.run.owner, self._clock.now()))
        return batch

    def _spawn(self, agent_id: str) -> None:
        task = asyncio.create_task(self._run_step(agent_id), name=f"step:{self.run.run_id}:{agent_id}")
        self._tasks[task] = agent_id
        task.add_done_callback(self._step_done)

    def _step_done(self, task: asyncio.Task[list[str]]) -> None:
        self._tasks.pop(task, None)
        idle = self._idle
        if task.cancelled():
            pass
        elif (error := task.exception()) is not None:
            # A step that could not even record its failure (a database error): the drive ends with it.
            if idle is not None and not idle.done():
                idle.set_exception(error)
            return
        elif not self._stopping:
            for agent_id in task.result():
                self._spawn(agent_id)
        if not self._tasks and idle is not None and not idle.done():
            idle.set_result(None)

    async def _cancel_all(self) -> None:
        self._stopping = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    async def _run_step(self, agent_id: str) -> list[str]:
        step = self._steps[agent_id]
        agent = self._agents(agent_id)
        commit = _StepCommit(self, agent_id)
        if agent is None:
            error = UsageError(
                f"agent '{agent_id}' is not in the config any more",
                hint="restore it in axocoatl.yaml, then resume the run",
            )
            batch = commit.on_failure(error)
            await self._store.write(batch)
            self._publish(commit.pending)
            return commit.pending.activated
        agent_input = AgentInput(
            step.input or "",
            context={"run_id": self.run.run_id, "workflow_id": self.run.workflow_id},
        )
        while True:
            try:
                await agent.execute(agent_input, sink=self._sink(agent_id), commit=commit, run_id=self.run.run_id)
            except asyncio.CancelledError:
                raise
            except StoreError:
                raise
            except MailboxClosed as exc:
                replacement = self._agents(agent_id)
                if not commit.used and replacement is not None and replacement is not agent:
                    # The agent was restarted under us (supervision, a config reload): its turn
                    # never committed, so the new actor runs the step.
                    agent = replacement
                    continue
                if not commit.used:
                    await self._store.write(commit.on_failure(exc))
            except Exception as exc:
                if not commit.used:
                    # The agent refused before its turn: record it here.
                    await self._store.write(commit.on_failure(exc))
            break
        self._publish(commit.pending)
        return commit.pending.activated

    def _sink(self, agent_id: str) -> Callable[[AgentStreamEvent], None] | None:
        if not self._bus.has_listeners:
            return None
        base: dict[str, Any] = {"run_id": self.run.run_id, "workflow_id": self.run.workflow_id, "agent_id": agent_id}

        def sink(event: AgentStreamEvent) -> None:
            kind, payload = ev.stream_payload(event)
            self._bus.publish(RuntimeEvent(ev.BUS_TYPES[kind], self._clock.now(), payload=payload, **base))

        return sink

    # ------------------------------------------------------------------ starting and resuming

    def start_batch(
        self, batch: WriteBatch, transition: Transition, now: float, kind: str, payload: dict[str, Any]
    ) -> _Pending:
        """Writes that open a new run: the start event and the entry activations."""
        pending = _Pending()
        self._event(batch, pending, kind, None, payload, now)
        self._apply(transition, batch, pending, now)
        return pending

    def publish_event(self, event: str, batch: WriteBatch, pending: _Pending, now: float, *, producer: str) -> None:
        """Publish a skill event into the run's lattice."""
        transition = self.lattice.publish(event, now, producer)
        self._event(batch, pending, ev.CUSTOM, None, {"name": event, "producer": producer}, now)
        self._apply(transition, batch, pending, now)

    def resume_batch(self, batch: WriteBatch, now: float, *, retry: bool) -> _Pending:
        """Writes that reconcile the steps with the rebuilt lattice and re-dispatch what was in flight."""
        pending = _Pending()
        self._event(batch, pending, ev.RUN_RESUMED, None, {"retry": retry}, now)
        states = self.lattice.states()
        activated = []
        for step in self.run.steps:
            state = states[step.agent_id]
            if state == "active":
                activated.append(step.agent_id)
            elif state == "pending" and step.status != "pending":
                step.status, step.error, step.finished_at, step.started_at = "pending", None, None, None
                batch.step_updates.append(
                    StepUpdate(
                        self.run.run_id,
                        step.agent_id,
                        {"status": "pending", "error": None, "finished_at": None, "started_at": None},
                    )
                )
            elif state == "skipped" and step.status != "skipped":
                self._skip(step.agent_id, self.lattice.reason(step.agent_id) or "skipped", batch, pending, now)
        self._apply(Transition(activated=tuple(activated)), batch, pending, now)
        return pending

    def announce(self, pending: _Pending) -> None:
        """Publish a committed batch's events on the bus."""
        self._publish(pending)

    # ------------------------------------------------------------------ transitions

    def complete(self, agent_id: str, output: AgentOutput, pending: _Pending) -> WriteBatch:
        now = self._clock.now()
        self._seq += 1
        self._outputs[agent_id] = output.content
        step = self._steps[agent_id]
        step.status, step.output, step.finished_at = "completed", output.content, now
        step.tokens_in, step.tokens_out, step.completed_seq = output.usage.input, output.usage.output, self._seq
        batch = self._fenced_batch()
        batch.step_updates.append(
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
                    "completed_seq": self._seq,
                },
            )
        )
        payload = {
            "agent_id": agent_id,
            "output": output.content[:OUTPUT_EVENT_LIMIT],
            "tokens": output.usage.to_dict(),
        }
        self._event(batch, pending, ev.TASK_COMPLETED, agent_id, payload, now)
        transition = self.lattice.complete(agent_id, now)
        for event in self.lattice.spec(agent_id).emits:
            self._event(batch, pending, ev.CUSTOM, agent_id, {"name": event}, now)
        self._apply(transition, batch, pending, now)
        self._close_if_finished(batch, pending)
        return batch

    def fail(self, agent_id: str, error: BaseException, pending: _Pending) -> WriteBatch:
        now = self._clock.now()
        self._seq += 1
        message = describe_error(error)
        step = self._steps[agent_id]
        step.status, step.error, step.finished_at, step.completed_seq = "failed", message, now, self._seq
        batch = self._fenced_batch()
        batch.step_updates.append(
            StepUpdate(
                self.run.run_id,
                agent_id,
                {"status": "failed", "error": message, "finished_at": now, "completed_seq": self._seq},
            )
        )
        self._event(batch, pending, ev.AGENT_FAILED, agent_id, {"agent_id": agent_id, "error": message}, now)
        transition = self.lattice.fail(agent_id, now, message)
        self._apply(transition, batch, pending, now)
        self._close_if_finished(batch, pending)
        return batch

    def _apply(self, transition: Transition, batch: WriteBatch, pending: _Pending, now: float) -> None:
        for agent_id in transition.activated:
            step = self._steps[agent_id]
            step.status, step.started_at, step.attempts = "running", now, step.attempts + 1
            step.output, step.error, step.finished_at = None, None, None
            step.input = self.input_for(agent_id)
            batch.step_updates.append(
                StepUpdate(
                    self.run.run_id,
                    agent_id,
                    {
                        "status": "running",
                        "started_at": now,
                        "input": step.input,
                        "output": None,
                        "error": None,
                        "finished_at": None,
                    },
                    bump_attempts=True,
                )
            )
            self._event(batch, pending, ev.AGENT_ACTIVATED, agent_id, {"agent_id": agent_id}, now)
            pending.activated.append(agent_id)
        for agent_id, reason in transition.skipped:
            self._skip(agent_id, reason, batch, pending, now)

    def _skip(self, agent_id: str, reason: str, batch: WriteBatch, pending: _Pending, now: float) -> None:
        step = self._steps[agent_id]
        step.status, step.error, step.finished_at = "skipped", reason, now
        batch.step_updates.append(
            StepUpdate(self.run.run_id, agent_id, {"status": "skipped", "error": reason, "finished_at": now})
        )
        self._event(batch, pending, ev.STEP_SKIPPED, agent_id, {"agent_id": agent_id, "reason": reason}, now)

    def _close_if_finished(self, batch: WriteBatch, pending: _Pending, *, force: bool = False) -> None:
        if self._finished or not (force or self.lattice.is_finished()):
            return
        if self.lattice.active_nodes():
            return
        now = self._clock.now()
        self._apply(self.lattice.finalize(now), batch, pending, now)
        failed = [s.agent_id for s in self.run.steps if s.status == "failed"]
        stats = self.lattice.statistics()
        error = None
        if failed:
            error = f"{len(failed)} step(s) failed: {', '.join(failed)}"
        elif stats.limit_reached:
            error = f"cycle guard stopped the run after {stats.activations} activations"
        status: RunStatus = "failed" if error else "completed"
        output = final_output(self.lattice.final_order(), self._outputs)
        self.run.status, self.run.final_output, self.run.error, self.run.finished_at = status, output, error, now
        batch.run_updates.append(
            RunUpdate(
                self.run.run_id,
                {"status": status, "final_output": output, "error": error, "finished_at": now},
            )
        )
        kind = ev.WORKFLOW_COMPLETED if status == "completed" else ev.WORKFLOW_FAILED
        self._event(batch, pending, kind, None, {"status": status, "error": error}, now)
        self._finished = True

    def _event(
        self, batch: WriteBatch, pending: _Pending, kind: str, agent_id: str | None, payload: dict[str, Any], now: float
    ) -> None:
        event_id = new_id("evt")
        producer = agent_id or "runtime"
        batch.events.append(EventRecord(event_id, kind, now, producer, self.run.run_id, agent_id, payload))
        pending.events.append(
            RuntimeEvent(
                kind, now, self.run.run_id, self.run.workflow_id, agent_id, producer, payload, event_id=event_id
            )
        )

    def _publish(self, pending: _Pending) -> None:
        for event in pending.events:
            self._bus.publish(event)
        pending.events.clear()

    def input_for(self, agent_id: str) -> str:
        upstream = [(d, self._outputs[d]) for d in self.plan.dependencies(agent_id) if d in self._outputs]
        return upstream_input(self.run.input, upstream, self.plan.skill_prompts.get(agent_id))

    async def _time_out(self) -> None:
        await self._cancel_all()
        now = self._clock.now()
        reason = f"workflow '{self.run.workflow_id}' timed out after {self.plan.timeout_secs:g} s"
        if self.plan.kind == "workflow":
            hint = f"raise workflows[{self.run.workflow_id}].timeout_secs, or make its agents faster"
        else:
            hint = "a skill run may take at most this long; make the reacting agents faster"
        batch = self._fenced_batch()
        pending = _Pending()
        for step in self.run.steps:
            if step.status == "running":
                step.status, step.error, step.finished_at = "failed", f"{reason} ({hint})", now
                batch.step_updates.append(
                    StepUpdate(
                        self.run.run_id,
                        step.agent_id,
                        {"status": "failed", "error": step.error, "finished_at": now},
                    )
                )
            elif step.status == "pending":
                self._skip(step.agent_id, reason, batch, pending, now)
        self.run.status, self.run.error, self.run.finished_at = "failed", f"{reason} ({hint})", now
        self.run.final_output = final_output(self.lattice.final_order(), self._outputs)
        batch.run_updates.append(
            RunUpdate(
                self.run.run_id,
                {
                    "status": "failed",
                    "error": self.run.error,
                    "finished_at": now,
                    "final_output": self.run.final_output,
                },
            )
        )
        self._event(batch, pending, ev.WORKFLOW_FAILED, None, {"status": "failed", "error": reason}, now)
        self._finished = True
        await self._store.write(batch)
        self._publish(pending)


class _StepCommit:
    """Handed to the agent: builds the step's writes, which the agent commits with its turn."""

    def __init__(self, driver: RunDriver, agent_id: str) -> None:
        self._driver = driver
        self._agent_id = agent_id
        self.pending = _Pending()
        self.used = False

    def on_success(self, output: AgentOutput) -> WriteBatch:
        self.used = True
        return self._driver.complete(self._agent_id, output, self.pending)

    def on_failure(self, error: BaseException) -> WriteBatch:
        self.used = True
        return self._driver.fail(self._agent_id, error, self.pending)


def new_run_record(run_id: str, plan: RunPlan, task: str, *, owner: str, now: float) -> RunRecord:
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
    )
