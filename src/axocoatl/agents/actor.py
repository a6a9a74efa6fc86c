"""The agent actor: a bounded mailbox handled one message at a time.

The worker task exists only while the mailbox has work, so an idle agent costs a
few hundred bytes, not a parked task. Each turn commits its session messages, token
spend and (for a workflow step) the step's result in one transaction, before the
caller hears about it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from axocoatl.agents.turn import TurnFailed, TurnResult, TurnSetup, run_turn
from axocoatl.config.schema import AgentConfig
from axocoatl.core.errors import AgentTimeout, AxocoatlError, MailboxClosed
from axocoatl.core.events import StreamSink
from axocoatl.core.ids import Clock
from axocoatl.core.messages import AgentInput, AgentOutput, TokenUsage
from axocoatl.memory.agent_memory import AgentMemory, TurnMemory
from axocoatl.memory.consolidation import ConsolidationResult
from axocoatl.memory.session import Session
from axocoatl.providers.base import Provider
from axocoatl.store import LedgerEntry, SessionAppend, Store, WriteBatch
from axocoatl.tokens.budget import BudgetUsage
from axocoatl.tokens.counter import TokenCounter
from axocoatl.tools.registry import AgentToolbox

AgentStatus = Literal["idle", "running", "failed", "stopped"]
DEFAULT_MAILBOX_SIZE = 64


class StepCommit(Protocol):
    """Extra writes that must commit together with a turn (a workflow step's result)."""

    def on_success(self, output: AgentOutput) -> WriteBatch: ...

    def on_failure(self, error: BaseException) -> WriteBatch: ...


@dataclass(frozen=True)
class AgentStatusInfo:
    agent_id: str
    status: AgentStatus
    last_error: str | None
    turns: int
    queued: int
    usage: TokenUsage
    last_active: float | None
    crash: str | None = None  # set when the last turn died of an unexpected error (a bug, not a refusal)


@dataclass
class _Job:
    input: AgentInput
    future: asyncio.Future[AgentOutput]
    sink: StreamSink | None
    commit: StepCommit | None
    run_id: str | None
    task: asyncio.Task[AgentOutput] | None = None


class Agent:
    """One persistent agent."""

    def __init__(
        self,
        config: AgentConfig,
        *,
        provider: Callable[[], Provider],
        toolbox: Callable[[], AgentToolbox],
        store: Store,
        clock: Clock,
        counter: TokenCounter,
        mailbox_size: int = DEFAULT_MAILBOX_SIZE,
        memory: AgentMemory | None = None,
    ) -> None:
        self.config = config
        self.id = config.id
        self._provider_factory = provider
        self._toolbox_factory = toolbox
        self._toolbox: AgentToolbox | None = None
        self._store = store
        self._clock = clock
        self._counter = counter
        # The queue, the lock and the toolbox are made on first use: an idle agent that never
        # gets work (10,000 configured, a handful busy) stays a small object.
        self._mailbox_size = mailbox_size
        self._queue: asyncio.Queue[_Job] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._session: Session | None = None
        self.status: AgentStatus = "idle"
        self.last_error: str | None = None
        self.crash: str | None = None
        self._turns = 0
        self._usage = TokenUsage()
        self._last_active: float | None = None
        self.memory = memory
        self._restored = memory is None
        self._busy_lock: asyncio.Lock | None = None
        self._inline: asyncio.Task[object] | None = None  # the caller's task running a turn inline

    @property
    def toolbox(self) -> AgentToolbox:
        if self._toolbox is None:
            self._toolbox = self._toolbox_factory()
        return self._toolbox

    @property
    def _mailbox(self) -> asyncio.Queue[_Job]:
        if self._queue is None:
            self._queue = asyncio.Queue(self._mailbox_size)
        return self._queue

    @property
    def _busy(self) -> asyncio.Lock:
        # Held by a turn and by a consolidation pass, so a pass never edits blocks mid-turn.
        if self._busy_lock is None:
            self._busy_lock = asyncio.Lock()
        return self._busy_lock

    # ------------------------------------------------------------------ public

    async def execute(
        self,
        agent_input: AgentInput,
        *,
        sink: StreamSink | None = None,
        commit: StepCommit | None = None,
        run_id: str | None = None,
    ) -> AgentOutput:
        """Queue one message and wait for the committed result."""
        if self.status == "stopped":
            raise MailboxClosed(f"agent '{self.id}' is stopped", hint="restart it to send it work again")
        job = _Job(agent_input, asyncio.get_running_loop().create_future(), sink, commit, run_id)
        if self._inline is None and (self._worker is None or self._worker.done()) and not self._mailbox.qsize():
            return await self._run_inline(job)
        await self._mailbox.put(job)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain(), name=f"agent:{self.id}")
        try:
            return await asyncio.shield(job.future)
        except asyncio.CancelledError:
            # The caller gave up (timeout, shutdown): stop the turn it asked for.
            if job.task is not None:
                job.task.cancel()
            elif not job.future.done():
                job.future.cancel()
            raise

    async def _run_inline(self, job: _Job) -> AgentOutput:
        """An idle agent runs the message in the caller's task: no worker or job task to create.

        Messages arriving meanwhile queue and wait on the same lock, so turns still never
        overlap and keep their order.
        """
        task = asyncio.current_task()
        self._inline = task
        try:
            return await self._handle(job)
        except asyncio.CancelledError:
            if self.status == "stopped" and task is not None:
                task.uncancel()  # stop() cancelled this turn, not the caller: tell it why instead
                raise _stopped_while_running(self.id) from None
            raise
        finally:
            self._inline = None

    def statistics(self) -> AgentStatusInfo:
        return AgentStatusInfo(
            agent_id=self.id,
            status=self.status,
            last_error=self.last_error,
            turns=self._turns,
            queued=self._queue.qsize() if self._queue is not None else 0,
            usage=self._usage,
            last_active=self._last_active,
            crash=self.crash,
        )

    async def session(self) -> Session:
        if self._session is None:
            messages, next_seq = await self._store.load_session(self.id)
            self._session = Session(self.id, messages, next_seq)
        return self._session

    async def reset_session(self) -> None:
        """Start a fresh conversation; the old messages stay in the store."""
        session = await self.session()
        batch = WriteBatch(session_resets=[(self.id, session.next_seq)])
        if self.memory is not None:
            await self.restore()
            batch.extend(self.memory.reset_writes(self._clock.now()))
        await self._store.write(batch)
        session.reset()

    async def restore(self) -> None:
        """Load the agent's checkpoint (turns, usage, last activity, compaction state), once."""
        if self._restored or self.memory is None:
            return
        state = await self.memory.restore_state()
        if not self._restored:
            self._restored = True
            self._turns += state.turns
            self._usage = self._usage + state.usage
            self._last_active = self._last_active or state.last_active

    async def consolidate(self, *, idle_threshold_secs: float = 0.0) -> ConsolidationResult:
        """One sleep-time pass (memory.consolidation) unless the agent is busy or not idle long enough."""
        if self.memory is None or self.status == "stopped":
            return ConsolidationResult("skipped", reason="no memory")
        if self._busy_lock is not None and self._busy_lock.locked():
            return ConsolidationResult("skipped", reason="busy")
        async with self._busy:
            await self.restore()
            now = self._clock.now()
            if self._last_active is not None and now - self._last_active < idle_threshold_secs:
                return ConsolidationResult("skipped", reason="not idle long enough")
            if not self.memory.has_new_activity():
                return ConsolidationResult("skipped", reason="no new activity since the last pass")
            provider = self._provider_factory()
            model = self.config.model or provider.default_model()
            return await self.memory.consolidate(provider, model, await self._spent_before(None))

    async def stop(self) -> None:
        """Refuse new work, cancel what is queued or running, and wait for the worker."""
        self.status = "stopped"
        if self._inline is not None:
            self._inline.cancel()
        worker, self._worker = self._worker, None
        while self._queue is not None and not self._queue.empty():
            job = self._queue.get_nowait()
            if not job.future.done():
                job.future.set_exception(MailboxClosed(f"agent '{self.id}' was stopped before it ran this"))
        if worker is not None and not worker.done():
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        if self.memory is not None:
            await self.memory.aclose()

    # ------------------------------------------------------------------ worker

    async def _drain(self) -> None:
        while not self._mailbox.empty():
            job = self._mailbox.get_nowait()
            if job.future.done():
                continue
            job.task = asyncio.create_task(self._handle(job))
            try:
                result = await job.task
            except asyncio.CancelledError:
                if self.status == "stopped":
                    # stop() cancelled the worker: the caller must hear why, not hang on the future.
                    if not job.future.done():
                        job.future.set_exception(_stopped_while_running(self.id))
                    raise
                if job.task.cancelled() and not job.future.done():
                    job.future.cancel()
                    self.status = "idle" if self.status == "running" else self.status
                    continue
                raise
            except BaseException as exc:
                if not job.future.done():
                    job.future.set_exception(exc)
                continue
            if not job.future.done():
                job.future.set_result(result)

    async def _handle(self, job: _Job) -> AgentOutput:
        async with self._busy:
            return await self._turn(job)

    async def _turn(self, job: _Job) -> AgentOutput:
        self.status = "running"
        session = None if job.input.stateless else await self.session()
        provider = self._provider_factory()
        setup = TurnSetup(
            agent=self.config,
            provider=provider,
            model=self.config.model or provider.default_model(),
            toolbox=self.toolbox,
            history=(),
            clock=self._clock,
            counter=self._counter,
            run_id=job.run_id,
            spent_before=await self._spent_before(job.run_id),
            sink=job.sink,
        )
        memory: TurnMemory | None = None
        try:
            async with asyncio.timeout(self.config.timeout_secs):
                if session is not None and self.memory is not None:
                    await self.restore()
                    memory = await self.memory.prepare(
                        session,
                        job.input,
                        provider=provider,
                        model=setup.model,
                        tools=self.toolbox.specs(),
                        spent_before=setup.spent_before,
                        run_id=job.run_id,
                    )
                    setup.history = memory.history
                    setup.system_context = memory.context
                    setup.prior_usage = memory.usage
                    setup.prior_calls = memory.llm_calls
                elif session is not None:
                    setup.history = session.window(self.config.memory.max_session_messages)
                result = await run_turn(setup, job.input)
        except TurnFailed as failed:
            await self._commit_failure(job, failed.error, [*_memory_ledger(memory), *failed.ledger], memory)
            raise failed.error from None
        except TimeoutError:
            error = AgentTimeout(
                f"agent '{self.id}' timed out after {self.config.timeout_secs:g} s",
                hint=f"raise agents[{self.id}].timeout_secs or make the task smaller",
            )
            await self._commit_failure(job, error, _memory_ledger(memory), memory)
            raise error from None
        except asyncio.CancelledError:
            if self.status == "running":  # never overwrite "stopped": _drain reads it
                self.status = "idle"
            raise
        except Exception as exc:  # memory preparation failed (database error): the turn fails cleanly
            await self._commit_failure(job, exc, _memory_ledger(memory), memory)
            raise

        # The commit is shielded: once the turn produced a result, cancelling the caller
        # must not leave the database and the in-memory session disagreeing.
        await asyncio.shield(asyncio.ensure_future(self._commit(job, session, result, memory)))
        return result.output

    async def _commit(self, job: _Job, session: Session | None, result: TurnResult, memory: TurnMemory | None) -> None:
        batch = job.commit.on_success(result.output) if job.commit else WriteBatch()
        now = self._clock.now()
        if session is not None and memory is not None and self.memory is not None:
            # Before the session append: the memory row records the user message's seq.
            batch.extend(self.memory.turn_writes(session, memory, job.input, result.output, now, job.run_id))
            batch.ledger.extend(memory.ledger)
        if session is not None and result.new_messages:
            batch.session.append(SessionAppend(self.id, session.next_seq, tuple(result.new_messages), now))
        batch.ledger.extend(result.ledger)
        await self._store.write(batch)
        if session is not None:
            session.extend(result.new_messages)
        if memory is not None and self.memory is not None:
            self.memory.committed(memory)
        self._turns += 1
        self._usage = self._usage + result.output.usage
        self._last_active = now
        self.status = "idle"
        self.last_error = None
        self.crash = None

    async def _commit_failure(
        self, job: _Job, error: BaseException, ledger: list[LedgerEntry], memory: TurnMemory | None = None
    ) -> None:
        self.status = "failed"
        self.last_error = str(error)
        if not isinstance(error, AxocoatlError):
            self.crash = describe_error(error)
        now = self._last_active = self._clock.now()

        async def write() -> None:
            # The batch is built and queued in one step, inside the shielded task: batches
            # reach the store in the order their lattice transitions were computed.
            batch = job.commit.on_failure(error) if job.commit else WriteBatch()
            batch.ledger.extend(ledger)
            if memory is not None and self.memory is not None:
                batch.extend(self.memory.failure_writes(now))
            await self._store.write(batch)

        await asyncio.shield(asyncio.ensure_future(write()))

    async def _spent_before(self, run_id: str | None) -> BudgetUsage:
        budget = self.config.token_budget
        if budget is None or (budget.per_run is None and budget.per_day is None):
            return BudgetUsage()
        now = self._clock.now()
        day_start = now - (now % 86400)
        run, day = await self._store.usage_since(self.id, since=day_start, run_id=run_id)
        return BudgetUsage(run=run, day=day)


def _memory_ledger(memory: TurnMemory | None) -> list[LedgerEntry]:
    return list(memory.ledger) if memory is not None else []


def _stopped_while_running(agent_id: str) -> MailboxClosed:
    return MailboxClosed(
        f"agent '{agent_id}' was stopped while it handled this",
        hint="its turn did not commit; send the work again (a workflow step is re-run)",
    )


def describe_error(error: BaseException) -> str:
    """A one-line error for a step row or a status field."""
    if isinstance(error, AxocoatlError):
        return str(error)
    return f"{type(error).__name__}: {error}"
