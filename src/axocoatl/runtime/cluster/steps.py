"""Workflow steps as work items (cluster mode): the run's driver publishes a step, any node runs it.

The driver (the node that owns the run) publishes a ``step`` item instead of running the turn, and
waits for the step's result. The node that pulls the item claims the step in the database
(``step_claims``: a token, compare-and-set, renewed while the turn runs), runs the agent's turn and
commits its session, token spend and the step's result in one transaction fenced by the claim, then
acknowledges the item and tells the driver (a core NATS notice; the driver also looks in the database
every few seconds, notices being at most once). The driver applies the result to the run's lattice in
its own fenced commit (``TaskCompleted``, the next activations), exactly as for a local turn.

A redelivered item whose result committed is acknowledged without running; an item whose step another
node holds (and renews) comes back later, to run the step if that node died meanwhile. A node that lost
its claim (paused past the ack wait) commits nothing: its commit fails the claim's fence, as does a
turn whose run ended meanwhile (cancelled, timed out).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from axocoatl.agents.actor import Agent, describe_error
from axocoatl.core.errors import (
    AxocoatlError,
    ClusterError,
    HumanQuestion,
    MailboxClosed,
    OwnershipLost,
    StoreError,
)
from axocoatl.core.ids import Clock
from axocoatl.core.messages import AgentInput, AgentOutput, TokenUsage
from axocoatl.runtime.bus import EventBus, step_stream
from axocoatl.runtime.cluster.connection import NatsConnection, node_id_of
from axocoatl.runtime.cluster.workqueue import RetryLater, WorkItem, WorkQueue
from axocoatl.store import ApprovalRecord, RunRecord, StepClaim, StepRecord, StepUpdate, Store, WriteBatch
from axocoatl.tools.context import HumanReply

if TYPE_CHECKING:
    from nats.aio.msg import Msg
    from nats.aio.subscription import Subscription

    from axocoatl.config.schema import ClusterConfig
    from axocoatl.runtime.workflows import RunDriver, _StepCommit

log = logging.getLogger(__name__)

RESULT_POLL_SECS = 2.0  # a driver looks in the database this often even without a notice
STEP_CONCURRENCY = 64  # turns a node runs for the cluster at once (LLM calls: I/O)


@dataclass(frozen=True)
class StepResult:
    """A step's outcome as the node that ran it committed it (``step_claims.result``)."""

    outcome: str  # "succeed" | "fail" | "ask"
    text: str  # the output, the error, or the question
    usage: TokenUsage
    timeout: float | None = None  # of a question

    def to_json(self) -> str:
        data: dict[str, Any] = {"outcome": self.outcome, "text": self.text, "usage": self.usage.to_dict()}
        if self.timeout is not None:
            data["timeout"] = self.timeout
        return json.dumps(data, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> StepResult:
        data = json.loads(text)
        usage = TokenUsage(int(data["usage"]["input"]), int(data["usage"]["output"]))
        return cls(str(data["outcome"]), str(data["text"]), usage, data.get("timeout"))


class ClusterSteps:
    """This node's part in sharing steps: publishing its runs' steps, and running any node's."""

    def __init__(
        self,
        settings: ClusterConfig,
        connection: NatsConnection,
        queue: WorkQueue,
        *,
        store: Store,
        clock: Clock,
        agents: Callable[[str], Agent | None],
        bus: EventBus | None = None,
    ) -> None:
        self.settings = settings
        self.node_id = node_id_of(settings)
        self._bus = bus  # a turn's stream goes on this node's bus: the event fan-out relays it to every node
        self._connection = connection
        self._queue = queue
        self._store = store
        self._clock = clock
        self._agents = agents
        self._waiters: dict[tuple[str, str], asyncio.Event] = {}
        self._subscription: Subscription | None = None

    @property
    def _done_subject(self) -> str:
        return f"{self.settings.stream}.steps.done"

    async def start(self) -> None:
        async def on_done(message: Msg) -> None:
            try:
                data = json.loads(message.data)
                waiter = self._waiters.get((str(data["run_id"]), str(data["step"])))
            except (ValueError, KeyError, TypeError):
                return
            if waiter is not None:
                waiter.set()

        self._subscription = await self._connection.client.subscribe(self._done_subject, cb=on_done)

    # ------------------------------------------------------------------ the driver's side

    def takes(self, driver: RunDriver, key: str, agent: Agent) -> bool:
        """Whether a step travels as a work item. A coordinator's step stays (it delegates from the driver), and
        so does a turn of an agent whose steps share one conversation thread (it runs on the run's node, under
        the thread's lease: agents/thread_lease.py)."""
        coordinator = driver.plan.coordinator
        return agent.config.thread is None and not (coordinator is not None and coordinator.agent_id == key)

    async def run(self, driver: RunDriver, key: str, commit: _StepCommit) -> None:
        """Have the step run by some node and apply its committed result through ``commit``."""
        run_id = driver.run.run_id
        step = driver.state.steps[key]
        waiter = self._waiters.setdefault((run_id, key), asyncio.Event())
        try:
            published = False
            while True:
                waiter.clear()
                try:
                    found = await self._store.step_result(run_id, key)
                    if found is not None and found[1] is not None:
                        await self._apply(driver, key, StepResult.from_json(found[1]), commit)
                        return
                    if not published:
                        await self._publish(driver, key, step)
                        published = True
                except OwnershipLost:
                    raise
                except (ClusterError, StoreError) as exc:
                    if commit.done:
                        raise
                    # NATS or the database away: the step may be running elsewhere; look (and publish) again.
                    log.warning("step %s of run %s: %s; trying again", key, run_id, exc)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(waiter.wait(), RESULT_POLL_SECS)
        finally:
            self._waiters.pop((run_id, key), None)

    async def _publish(self, driver: RunDriver, key: str, step: StepRecord) -> None:
        human = "item" if step.item is not None else "interrupt" if step.agent in driver.plan.interrupts else "ask"
        payload = {"run_id": driver.run.run_id, "step": key, "human": human}
        # One item per attempt of the step: a driver that resumes publishes the same id (dropped as a
        # duplicate while the first is queued); a step that already started elsewhere gets a new one,
        # which the claim then sorts out.
        current = await self._store.get_run(driver.run.run_id)
        steps = current.steps if current is not None else []
        attempts = next((s.attempts for s in steps if s.agent_id == key), step.attempts)
        await self._queue.publish("step", driver.run.run_id, payload, dedup_id=f"{driver.run.run_id}/{key}/{attempts}")

    async def _apply(self, driver: RunDriver, key: str, result: StepResult, commit: _StepCommit) -> None:
        # Marked applied in the same commit: a later activation of the step (an answer, a retry, a cycle) runs
        # it afresh instead of finding this result.
        applied = WriteBatch(claims_applied=[(driver.run.run_id, key)])
        if result.outcome == "succeed":
            await commit.succeed(AgentOutput(result.text, result.usage), applied)
        elif result.outcome == "ask":
            await commit.fail(HumanQuestion(result.text, result.timeout), applied)
        else:
            await commit.fail(AxocoatlError(result.text), applied)

    # ------------------------------------------------------------------ the worker's side

    async def handle(self, item: WorkItem) -> None:
        """Run one step item: claim, turn, commit (fenced by the claim); returns once there is nothing to do."""
        run_id, key = str(item.payload["run_id"]), str(item.payload["step"])
        run = await self._store.get_run(run_id)
        step = None if run is None else next((s for s in run.steps if s.agent_id == key), None)
        # Only a step its driver dispatched runs: a copy of an item whose result the driver applied (a waiting,
        # completed or failed step) has nothing left to do.
        if run is None or run.status != "running" or step is None or step.status not in ("running", "pending"):
            return
        token = os.urandom(8).hex()
        claim = await self._claim(run_id, key, token)
        if claim == "done":
            await self._notify(run_id, key)  # the driver may have missed it
            return
        if claim == "held":
            # Another node runs it and renews its claim. Not dropped: if that node dies, its claim goes stale
            # and this copy (or that node's own item) runs the step.
            raise RetryLater(max(self.settings.ack_wait_secs / 2, 0.5))
        agent = self._agents(step.agent)
        commit = RemoteStepCommit(self._store, self._clock, step, token, human=str(item.payload.get("human", "ask")))
        renew = asyncio.create_task(self._renew(run_id, key, token), name=f"claim:{run_id}:{key}")
        try:
            if agent is None:
                message = f"agent '{step.agent}' is not in the config of node {self.node_id}"
                await commit.fail(AxocoatlError(message, hint="give every node the same axocoatl.yaml"), WriteBatch())
            else:
                await self._turn(agent, run, step, commit)
        except OwnershipLost:
            log.info("step %s of run %s was taken over by another node; dropping its turn", key, run_id)
            return
        finally:
            renew.cancel()
        await self._notify(run_id, key)

    async def _turn(self, agent: Agent, run: RunRecord, step: StepRecord, commit: RemoteStepCommit) -> None:
        agent_input = AgentInput(step.input or "", context={"run_id": run.run_id, "workflow_id": run.workflow_id})
        sink = None
        if self._bus is not None:
            sink = step_stream(
                self._bus, self._clock, run_id=run.run_id, workflow_id=run.workflow_id, agent_id=step.agent_id
            )
        try:
            await agent.execute(
                agent_input, thread=None, sink=sink, commit=commit, run_id=run.run_id, step=step.agent_id
            )
        except (asyncio.CancelledError, OwnershipLost, MailboxClosed):
            raise  # the item comes back (a stopped agent: to this node's replacement actor or another node)
        except Exception as exc:
            if not commit.done:
                await commit.fail(exc, WriteBatch())

    async def _claim(self, run_id: str, key: str, token: str) -> str:
        now = self._clock.now()
        stale_before = now - self.settings.ack_wait_secs
        return await self._store.claim_step(
            run_id, key, node=self.node_id, token=token, now=now, stale_before=stale_before
        )

    async def _renew(self, run_id: str, key: str, token: str) -> None:
        while True:
            await asyncio.sleep(max(self.settings.ack_wait_secs / 3, 0.1))
            try:
                await self._claim(run_id, key, token)
            except Exception:  # the next beat tries again; a claim left stale may be taken over
                log.debug("renewing the claim of step %s of run %s failed", key, run_id, exc_info=True)

    async def _notify(self, run_id: str, key: str) -> None:
        try:
            data = json.dumps({"run_id": run_id, "step": key}).encode()
            await self._connection.client.publish(self._done_subject, data)
        except Exception:  # the driver looks in the database anyway
            log.debug("could not notify the driver of step %s of run %s", key, run_id, exc_info=True)

    async def aclose(self) -> None:
        if self._subscription is not None:
            try:
                await self._subscription.unsubscribe()
            except Exception:
                log.debug("unsubscribing from step notices failed", exc_info=True)
            self._subscription = None


class RemoteStepCommit:
    """The StepCommit of a turn run for another node's run: each write fenced by the step's claim."""

    def __init__(self, store: Store, clock: Clock, step: StepRecord, token: str, *, human: str) -> None:
        self._store = store
        self._clock = clock
        self._step = step
        self._token = token
        self._human = human
        self.done = False

    def _fence(self, result: StepResult | None = None) -> StepClaim:
        return StepClaim(
            self._step.run_id, self._step.agent_id, self._token, None if result is None else result.to_json()
        )

    @property
    def replay_context(self) -> str | None:
        return self._step.context

    async def started(self, context: str) -> None:
        now = self._clock.now()
        fields: dict[str, Any] = {"started_at": now}
        if self._step.context is None:
            fields["context"] = context
        update = StepUpdate(self._step.run_id, self._step.agent_id, fields, bump_attempts=True)
        await self._store.write(WriteBatch(step_updates=[update], step_claims=[self._fence()]), durable=False)

    async def succeed(self, output: AgentOutput, writes: WriteBatch) -> None:
        writes.step_claims.append(self._fence(StepResult("succeed", output.content, output.usage)))
        await self._store.write(writes, durable=True)
        self.done = True

    async def fail(self, error: BaseException, writes: WriteBatch) -> None:
        if isinstance(error, HumanQuestion) and self._human == "ask":
            result = StepResult("ask", error.question, TokenUsage(), error.timeout_secs)
        else:
            result = StepResult("fail", describe_error(error), TokenUsage())
        writes.step_claims.append(self._fence(result))
        await self._store.write(writes, durable=True)
        self.done = True

    async def parked(self, request: ApprovalRecord) -> None:
        return None  # the run's timeout is the driver's; the approval itself is durable

    async def resumed(self, request: ApprovalRecord) -> None:
        return None

    def human_reply(self) -> HumanReply:
        if self._human == "item":
            return HumanReply(refused="a map item cannot ask a person; ask in the step before or after the map")
        if self._human == "interrupt":
            return HumanReply(
                refused=f"agent '{self._step.agent}' has an interrupt; its question is the one a person answers"
            )
        step = self._step
        expired = step.answer is None and step.wait_until is not None and self._clock.now() >= step.wait_until
        return HumanReply(answer=step.answer, expired=expired)
