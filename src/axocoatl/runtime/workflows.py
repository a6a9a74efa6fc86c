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
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from axocoatl.agents.actor import Agent, describe_error
from axocoatl.core.errors import HumanQuestion, MailboxClosed, OwnershipLost, StoreError, UsageError
from axocoatl.core.events import AgentStreamEvent
from axocoatl.core.ids import Clock
from axocoatl.core.messages import AgentInput, AgentOutput, TokenUsage
from axocoatl.runtime.bus import EventBus, step_stream
from axocoatl.runtime.coordinator import AdhocFactory, CoordinatorPass
from axocoatl.runtime.transitions import Outcome, RunState
from axocoatl.store import ApprovalRecord, RunRecord, Store, WriteBatch
from axocoatl.tools.context import HumanReply

if TYPE_CHECKING:
    from axocoatl.runtime.cluster.steps import ClusterSteps

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChildOutcome:
    """How the child run of a sub-workflow step ended: completed (its output), failed, or waiting (its question)."""

    status: Literal["completed", "failed", "waiting"]
    text: str  # the final output, the error, or the question
    usage: TokenUsage = field(default_factory=TokenUsage)


ChildRunner = Callable[["RunDriver", str], Awaitable[ChildOutcome]]


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
        children: ChildRunner | None = None,
        adhoc: AdhocFactory | None = None,
        remote: ClusterSteps | None = None,
    ) -> None:
        self.state = state
        self._remote = remote  # cluster mode: steps run on whichever node takes them (runtime/cluster/steps.py)
        self._children = children  # runs a sub-workflow step's child run (runtime/subflows.py)
        self._adhoc = adhoc  # makes a coordinator's ad-hoc workers (runtime/coordinator.py)
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
        self._cancel_reason: str | None = None  # set by cancel(): the drive ends the run cancelled
        self.retrying = False
        # The workflow timeout counts from here: the run's start, or the moment it was resumed
        # (a run resumed hours after a crash gets its own time, not none at all).
        self.timeout_from = state.run.started_at
        # Time spent waiting for a person's approval does not count: the timeout stops while a step waits.
        self._deadline: asyncio.Timeout | None = None
        self._parked = 0
        self._left: float | None = None
        self._waiting_calls: dict[str, int] = {}  # agent id -> its calls waiting for approval

    # ------------------------------------------------------------------ committing

    @property
    def clock(self) -> Clock:
        return self._clock

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
        self.retrying = retry  # a failed run tried again: a coordinator gives its failed subtasks new attempts
        return await self.commit(lambda now: self.state.resume(now, retry=retry))

    # ------------------------------------------------------------------ driving

    async def drive(self, dispatch: Iterable[str]) -> RunRecord:
        """Run ``dispatch`` and everything it activates, until the run ends."""
        remaining = self.plan.timeout_secs - max(0.0, self._clock.now() - self.timeout_from)
        try:
            async with asyncio.timeout(max(remaining, 0.001)) as deadline:
                self._deadline = deadline
                self._idle = asyncio.get_running_loop().create_future()
                for agent_id in dispatch if self._cancel_reason is None else ():
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
        reason = self._cancel_reason
        if reason is not None and not self.state.finished:
            await self.commit(lambda now: self.state.cancel(now, reason))
        if not self.state.finished:
            # Nothing is running and nothing will activate: close the run (a resume with
            # nothing left to do also ends here).
            def close(now: float) -> Outcome:
                outcome = self.state.fenced(now)
                self.state.close_if_finished(outcome, now, force=True)
                return outcome

            await self.commit(close)
        return self.run

    def cancel(self, reason: str) -> None:
        """Stop the run: its running steps' turns are cancelled (nothing of them commits) and the drive
        ends the run ``cancelled`` once they stopped."""
        if self._cancel_reason is not None:
            return
        self._cancel_reason = reason
        self._stopping = True
        for task in list(self._tasks):
            task.cancel()

    @property
    def waiting_for_approval(self) -> bool:
        """Every step that runs waits for a person's decision: the run cannot go on by itself."""
        waiting = sum(1 for calls in self._waiting_calls.values() if calls > 0)
        return waiting > 0 and waiting >= len(self._tasks)

    async def park(self, agent_id: str, waiting: bool) -> None:
        """A step starts (``waiting``) or stops waiting for approval: its status, and the run's timeout."""
        deadline = self._deadline
        loop = asyncio.get_running_loop()
        if waiting:
            self._parked += 1
            when = deadline.when() if deadline is not None else None
            if self._parked == 1 and deadline is not None and when is not None:
                self._left = max(0.001, when - loop.time())
                deadline.reschedule(None)
        else:
            self._parked -= 1
            if self._parked == 0 and deadline is not None and self._left is not None:
                deadline.reschedule(loop.time() + self._left)
                self._left = None
        # A step's status changes with its first waiting call and its last (read calls wait together).
        before = self._waiting_calls.get(agent_id, 0)
        after = self._waiting_calls[agent_id] = before + (1 if waiting else -1)
        if (before == 0) != (after == 0):
            state = self.state
            await self.commit(lambda now: state.awaiting_approval(agent_id, now, waiting), durable=False)

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
        if agent_id in self.plan.maps:
            return await self._run_map(agent_id)
        if agent_id in self.plan.subflows:
            return await self._run_child(agent_id)
        commit = _StepCommit(self, agent_id)
        await self._execute(agent_id, commit)
        return commit.activated

    async def _run_child(self, agent_id: str) -> list[str]:
        """A sub-workflow step: its child run decides its outcome (a waiting child makes it wait)."""
        state = self.state
        if self._children is None:
            message = f"step '{agent_id}' runs a sub-workflow, which this engine cannot start"
            return (await self.commit(lambda now: state.fail(agent_id, message, now))).activated
        # An attempt, as an agent's turn counts one (a resumed step takes its child run up again).
        await self.commit(lambda now: state.started(agent_id, now, ""), durable=False)
        try:
            child = await self._children(self, agent_id)
        except (OwnershipLost, asyncio.CancelledError):
            raise
        except Exception as exc:
            error = describe_error(exc)
            return (await self.commit(lambda now: state.fail(agent_id, error, now))).activated
        if child.status == "completed":
            output = AgentOutput(child.text, child.usage)
            outcome = await self.commit(lambda now: state.complete(agent_id, output, now))
        elif child.status == "waiting":
            outcome = await self.commit(lambda now: state.wait_for_child(agent_id, child.text, now))
        else:
            outcome = await self.commit(lambda now: state.fail(agent_id, child.text, now))
        return outcome.activated

    async def _run_map(self, agent_id: str) -> list[str]:
        """Run a map agent's items (those not done yet), at most ``max_parallel`` at once, then complete it
        with their outputs as a JSON array in item order; after a failed item, no new item starts."""
        spec = self.plan.maps[agent_id]
        items = self.state.map_items(agent_id)
        slots = asyncio.Semaphore(spec.max_parallel)
        failed: list[str] = []

        async def run_item(key: str) -> None:
            async with slots:
                if failed:
                    return
                await self._execute(key, _ItemCommit(self, key))
                if self.state.steps[key].status != "completed":
                    failed.append(key)

        await asyncio.gather(*(run_item(s.agent_id) for s in items if s.status != "completed"))
        state = self.state
        if failed:
            first = state.steps[min(failed, key=lambda k: state.steps[k].item or 0)]
            message = f"{len(failed)} of {len(items)} items failed; item {first.item}: {first.error}"
            outcome = await self.commit(lambda now: state.fail(agent_id, message, now))
        else:
            done = state.map_items(agent_id)
            content = json.dumps([s.output or "" for s in done], ensure_ascii=False)
            # The tokens stay on the item steps (counted once in the run's totals).
            outcome = await self.commit(lambda now: state.complete(agent_id, AgentOutput(content), now))
        return outcome.activated

    async def _execute(self, key: str, commit: _StepCommit) -> None:
        """One execution of a step (``key``: an agent, or a map item ``agent[i]``) until its outcome committed."""
        step = self.state.steps[key]
        agent_id = step.agent
        agent = self._agents(agent_id)
        if agent is None:
            error = UsageError(
                f"agent '{agent_id}' is not in the config any more",
                hint="restore it in axocoatl.yaml, then resume the run",
            )
            await commit.fail(error, WriteBatch())
            return
        agent_input = AgentInput(
            step.input or "",
            context={"run_id": self.run.run_id, "workflow_id": self.run.workflow_id},
        )
        coordinator = self.plan.coordinator
        if self._remote is not None and self._remote.takes(self, key, agent):
            # Another node runs the turn; this waits for its result and commits it (errors end the drive, and
            # the run stays resumable: the result is kept in the database).
            await self._remote.run(self, key, commit)
            return
        while True:
            # A turn cancelled while a call waited (its agent restarted) never said it stopped waiting.
            self._forget_waiting(key)
            try:
                if coordinator is not None and coordinator.agent_id == key:
                    # A coordinator step: its pass plans, delegates, and commits the synthesis as the step.
                    coordination = CoordinatorPass(
                        self,
                        coordinator,
                        agents=self._agents,
                        adhoc=self._adhoc,
                        store=self._store,
                        clock=self._clock,
                        sinks=self._sink,
                    )
                    await coordination.run_step(agent, commit, self._sink(agent_id), self.workspaces.get(agent_id))
                    break
                await agent.execute(
                    agent_input,
                    thread=agent.config.thread,
                    sink=self._sink(key),
                    commit=commit,
                    run_id=self.run.run_id,
                    workspace=self.workspaces.get(agent_id),
                    step=key,
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
                unsaved = StoreError(f"step '{key}' could not commit its result: {exc.message}", hint=exc.hint)
                await commit.fail(unsaved, WriteBatch())
            except Exception as exc:
                if not commit.done:
                    # The agent refused before its turn: record it here.
                    await commit.fail(exc, WriteBatch())
            break
        self._forget_waiting(key)

    def _forget_waiting(self, agent_id: str) -> None:
        calls = self._waiting_calls.pop(agent_id, 0)
        if not calls:
            return
        self._parked -= calls
        deadline = self._deadline
        if self._parked == 0 and deadline is not None and self._left is not None:
            deadline.reschedule(asyncio.get_running_loop().time() + self._left)
            self._left = None

    def _sink(self, agent_id: str) -> Callable[[AgentStreamEvent], None] | None:
        return step_stream(
            self._bus, self._clock, run_id=self.run.run_id, workflow_id=self.run.workflow_id, agent_id=agent_id
        )

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

    async def parked(self, request: ApprovalRecord) -> None:
        await self._driver.park(self._agent_id, True)

    async def resumed(self, request: ApprovalRecord) -> None:
        await self._driver.park(self._agent_id, False)

    async def fail(self, error: BaseException, writes: WriteBatch) -> None:
        state = self._driver.state
        if isinstance(error, HumanQuestion):
            question, timeout = error.question, error.timeout_secs
            outcome = await self._driver.commit(lambda now: state.ask(self._agent_id, question, timeout, now), writes)
        else:
            message = describe_error(error)
            outcome = await self._driver.commit(lambda now: state.fail(self._agent_id, message, now), writes)
        self.done = True
        self.activated = outcome.activated

    def human_reply(self) -> HumanReply:
        state = self._driver.state
        agent_id = self._agent_id
        if agent_id in state.plan.interrupts:
            return HumanReply(refused=f"agent '{agent_id}' has an interrupt; its question is the one a person answers")
        step = state.steps[agent_id]
        expired = step.answer is None and step.wait_until is not None and self._driver.clock.now() >= step.wait_until
        return HumanReply(answer=step.answer, expired=expired)


class _ItemCommit(_StepCommit):
    """A map item's outcome: its own step row only; the map agent completes once all its items did."""

    async def succeed(self, output: AgentOutput, writes: WriteBatch) -> None:
        state = self._driver.state
        await self._driver.commit(lambda now: state.item_complete(self._agent_id, output, now), writes)
        self.done = True

    async def fail(self, error: BaseException, writes: WriteBatch) -> None:
        message = describe_error(error)
        state = self._driver.state
        await self._driver.commit(lambda now: state.item_fail(self._agent_id, message, now), writes)
        self.done = True

    def human_reply(self) -> HumanReply:
        return HumanReply(refused="a map item cannot ask a person; ask in the step before or after the map")
