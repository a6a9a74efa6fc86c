"""The workflow engine: drives runs through the event lattice, committing every step.

Each step's result, the agent's thread and its token spend, the events it caused and
the steps it activated commit in one transaction before anything is published. The
transitions themselves are pure (runtime/transitions.py); the engine computes one,
commits it, and keeps it in memory only once the database accepted it. A run's commits
are serialized (its steps still run concurrently), so its batches reach the store in the
order their transitions were computed. A resumed run rebuilds its lattice from the
committed outcomes and runs only what was in flight.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from axocoatl.agents.actor import Agent, describe_error
from axocoatl.core import events as ev
from axocoatl.core.errors import MailboxClosed, OwnershipLost, StoreError, UsageError
from axocoatl.core.events import AgentStreamEvent, RuntimeEvent
from axocoatl.core.ids import Clock
from axocoatl.core.messages import AgentInput, AgentOutput
from axocoatl.runtime.bus import EventBus
from axocoatl.runtime.transitions import Outcome, RunState
from axocoatl.store import RunRecord, Store, WriteBatch

log = logging.getLogger(__name__)


class RunDriver:
    """Drives one run to its end. One driver per run, inside one process."""

    def __init__(
        self,
        *,
        state: RunState,
        agents: Callable[[str], Agent | None],
        store: Store,
        bus: EventBus,
        clock: Clock,
        workspaces: Mapping[str, Path] | None = None,
    ) -> None:
        self.state = state
        self.workspaces = dict(workspaces or {})  # agent id -> the directory its step's tools work in
        self.run = state.run
        self.plan = state.plan
        self._agents = agents
        self._store = store
        self._bus = bus
        self._clock = clock
        self._commit_lock: asyncio.Lock | None = None
        self._tasks: dict[asyncio.Task[list[str]], str] = {}
        self._idle: asyncio.Future[None] | None = None  # resolved when no step runs any more
        self._stopping = False  # set once the drive cancels its steps: nothing new may start
        # The workflow timeout counts from here: the run's start, or the moment it was resumed
        # (a run resumed hours after a crash gets its own time, not none at all).
        self.timeout_from = state.run.started_at

    # ------------------------------------------------------------------ committing

    async def commit(
        self, transition: Callable[[float], Outcome], extra: WriteBatch | None = None, *, durable: bool = True
    ) -> Outcome:
        """Compute a transition, commit it (with ``extra``), keep it only if the database accepted it.

        Serialized per run: the next transition is computed on committed state.
        """
        if self._commit_lock is None:
            self._commit_lock = asyncio.Lock()
        async with self._commit_lock:
            snap = self.state.snapshot()
            outcome = transition(self._clock.now())
            if extra is not None:
                outcome.batch.extend(extra)
            try:
                await self._store.write(outcome.batch, durable=durable)
            except BaseException:
                self.state.rollback(snap)
                raise
        self._publish(outcome)
        return outcome

    async def start(self, payload: dict[str, Any], extra: WriteBatch | None = None) -> Outcome:
        """Commit a new run (its row, start event and entry activations), with ``extra`` (its workspaces,
        a schedule's claim)."""
        return await self.commit(lambda now: self.state.start(now, payload), extra)

    async def resume(self, *, retry: bool) -> Outcome:
        return await self.commit(lambda now: self.state.resume(now, retry=retry))

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
        if not self.state.finished:
            # Nothing is running and nothing will activate: close the run (a resume with
            # nothing left to do also ends here).
            def close(now: float) -> Outcome:
                outcome = self.state.fenced(now)
                self.state.close_if_finished(outcome, now, force=True)
                return outcome

            await self.commit(close)
        return self.run

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
            # A step that could not even record its failure (a database error, the run taken over
            # by another process): the drive ends with it.
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
        step = self.state.steps[agent_id]
        agent = self._agents(agent_id)
        commit = _StepCommit(self, agent_id)
        if agent is None:
            error = UsageError(
                f"agent '{agent_id}' is not in the config any more",
                hint="restore it in axocoatl.yaml, then resume the run",
            )
            await commit.fail(error, WriteBatch())
            return commit.activated
        agent_input = AgentInput(
            step.input or "",
            context={"run_id": self.run.run_id, "workflow_id": self.run.workflow_id},
        )
        while True:
            try:
                await agent.execute(
                    agent_input,
                    thread=agent.config.thread,
                    sink=self._sink(agent_id),
                    commit=commit,
                    run_id=self.run.run_id,
                    workspace=self.workspaces.get(agent_id),
                )
            except asyncio.CancelledError:
                raise
            except OwnershipLost:
                raise
            except MailboxClosed as exc:
                replacement = self._agents(agent_id)
                if not commit.done and replacement is not None and replacement is not agent:
                    # The agent was restarted under us (supervision, a config reload): its turn
                    # never committed, so the new actor runs the step.
                    agent = replacement
                    continue
                if not commit.done:
                    await commit.fail(exc, WriteBatch())
            except StoreError as exc:
                if commit.done:
                    raise
                # The step's result (or its start) could not be committed: the step fails with the
                # reason; if even that cannot be written, the drive ends and the run stays resumable.
                unsaved = StoreError(f"step '{agent_id}' could not commit its result: {exc.message}", hint=exc.hint)
                await commit.fail(unsaved, WriteBatch())
            except Exception as exc:
                if not commit.done:
                    # The agent refused before its turn: record it here.
                    await commit.fail(exc, WriteBatch())
            break
        return commit.activated

    def _sink(self, agent_id: str) -> Callable[[AgentStreamEvent], None] | None:
        if not self._bus.has_listeners:
            return None
        base: dict[str, Any] = {"run_id": self.run.run_id, "workflow_id": self.run.workflow_id, "agent_id": agent_id}

        def sink(event: AgentStreamEvent) -> None:
            kind, payload = ev.stream_payload(event)
            self._bus.publish(RuntimeEvent(ev.BUS_TYPES[kind], self._clock.now(), payload=payload, **base))

        return sink

    def _publish(self, outcome: Outcome) -> None:
        for event in outcome.events:
            self._bus.publish(event)
        outcome.events.clear()

    async def _time_out(self) -> None:
        await self._cancel_all()
        reason = f"workflow '{self.run.workflow_id}' timed out after {self.plan.timeout_secs:g} s"
        if self.plan.kind == "workflow":
            hint = f"raise workflows[{self.run.workflow_id}].timeout_secs, or make its agents faster"
        else:
            hint = "a skill run may take at most this long; make the reacting agents faster"
        await self.commit(lambda now: self.state.time_out(now, reason, hint))


class _StepCommit:
    """Handed to the agent: the step's start and outcome, committed with the agent's own writes."""

    def __init__(self, driver: RunDriver, agent_id: str) -> None:
        self._driver = driver
        self._agent_id = agent_id
        self.activated: list[str] = []
        self.done = False  # the step's outcome is committed (until then a restarted agent re-runs it)

    @property
    def replay_context(self) -> str | None:
        return self._driver.state.steps[self._agent_id].context

    async def started(self, context: str) -> None:
        state = self._driver.state
        # Not durable on its own: a crash may forget the attempt, but only together with its outcome.
        await self._driver.commit(lambda now: state.started(self._agent_id, now, context), durable=False)

    async def succeed(self, output: AgentOutput, writes: WriteBatch) -> None:
        state = self._driver.state
        outcome = await self._driver.commit(lambda now: state.complete(self._agent_id, output, now), writes)
        self.done = True
        self.activated = outcome.activated

    async def fail(self, error: BaseException, writes: WriteBatch) -> None:
        message = describe_error(error)
        state = self._driver.state
        outcome = await self._driver.commit(lambda now: state.fail(self._agent_id, message, now), writes)
        self.done = True
        self.activated = outcome.activated
