"""The agent actor: turns of one persistent agent, each with a context of its own.

Turns of one thread run in order (a per-thread lock, and on a shared database the thread's lease:
agents/thread_lease.py); turns of different threads and workflow steps of different runs run
concurrently, at most ``max_concurrency`` at once.
A turn runs in its caller's task, so an idle agent holds no task at all. Each turn
commits its thread's messages, its token spend and (for a workflow step) the step's
result in one transaction, before the caller hears about it; a turn whose commit fails
still records its spend, and leaves the agent usable.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from axocoatl.agents.thread_lease import thread_lease
from axocoatl.agents.turn import TurnFailed, TurnResult, TurnSetup, run_turn
from axocoatl.config.schema import AgentConfig
from axocoatl.core.errors import AgentTimeout, AxocoatlError, HumanQuestion, MailboxClosed
from axocoatl.core.events import StreamSink
from axocoatl.core.ids import Clock
from axocoatl.core.messages import AgentInput, AgentOutput, TokenUsage
from axocoatl.memory.agent_memory import AgentMemory, TurnMemory
from axocoatl.memory.consolidation import ConsolidationResult
from axocoatl.memory.session import DEFAULT_THREAD, Session
from axocoatl.providers.base import Provider
from axocoatl.store import ApprovalRecord, LedgerEntry, SessionAppend, Store, WriteBatch
from axocoatl.tokens.budget import BudgetDecision, BudgetUsage, plan_call
from axocoatl.tokens.counter import TokenCounter
from axocoatl.tools.context import HumanReply
from axocoatl.tools.journal import ToolJournal
from axocoatl.tools.pipeline import ToolPipeline, ToolServices
from axocoatl.tools.registry import AgentToolbox
from axocoatl.tools.workspace import Workspace

log = logging.getLogger(__name__)

AgentStatus = Literal["idle", "running", "failed", "stopped"]
STOP_WAIT_SECS = 5.0  # how long stop() waits for cancelled turns to leave
RESERVATION_GRACE_SECS = 60.0  # a budget reservation outlives its turn's timeout by this much


class StepCommit(Protocol):
    """A workflow step's side of a turn: its start, and the writes that commit with its outcome."""

    @property
    def replay_context(self) -> str | None:
        """The memory context an earlier attempt of the step sent (a retry sends it again)."""
        ...

    async def started(self, context: str) -> None:
        """The execution starts (counted as an attempt); ``context`` is its memory context."""
        ...

    async def succeed(self, output: AgentOutput, writes: WriteBatch) -> None:
        """Commit the step's result together with ``writes``; raises if the store refused them."""
        ...

    async def fail(self, error: BaseException, writes: WriteBatch) -> None:
        """Commit the step's failure together with ``writes``."""
        ...

    async def parked(self, request: ApprovalRecord) -> None:
        """A call of the step waits for approval (the step shows awaiting_approval)."""
        ...

    def human_reply(self) -> HumanReply:
        """The answer to the question the step parked on (ask_human), as its row holds it."""
        ...

    async def resumed(self, request: ApprovalRecord) -> None:
        """The call was decided: the step runs on."""
        ...


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
    running: int = 0  # turns in progress right now


@dataclass
class _Job:
    input: AgentInput
    thread: str | None
    sink: StreamSink | None
    commit: StepCommit | None
    run_id: str | None
    workspace: Path | None = None
    step: str | None = None  # the workflow step's key (a map item's differs from the agent id)
    lease: str | None = None  # the token of the thread's lease (a shared database) while the turn runs


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
        memory: AgentMemory | None = None,
        tools: ToolServices | None = None,
        workspace: Callable[[str | None], Path] | None = None,
        leases: bool = False,
    ) -> None:
        self.config = config
        # A shared database (several nodes): a thread's turn also takes the thread's lease there.
        self._leases = leases
        self._tool_services = tools or ToolServices()
        # The directory a turn's tools work in when its caller names none (by thread).
        self._default_workspace = workspace
        self.id = config.id
        self._provider_factory = provider
        self._toolbox_factory = toolbox
        self._toolbox: AgentToolbox | None = None
        self._store = store
        self._clock = clock
        self._counter = counter
        # Locks, the slot semaphore and sessions are made on first use: an idle agent that never
        # gets work (10,000 configured, a handful busy) stays a small object.
        self._slots_: asyncio.Semaphore | None = None
        self._thread_locks: dict[str, asyncio.Lock] = {}
        self._sessions: dict[str, Session] = {}
        self._tasks: set[asyncio.Task[object]] = set()  # callers inside execute (waiting or running)
        self._running = 0
        self._waiting = 0
        self._stopped = False
        self._failed = False
        self._consolidating: asyncio.Event | None = None  # set while no consolidation pass runs
        self.last_error: str | None = None
        self.crash: str | None = None
        self._turns = 0
        self._usage = TokenUsage()
        self._last_active: float | None = None
        self.memory = memory
        self._restored = memory is None

    @property
    def status(self) -> AgentStatus:
        if self._stopped:
            return "stopped"
        if self._running:
            return "running"
        return "failed" if self._failed else "idle"

    @property
    def toolbox(self) -> AgentToolbox:
        if self._toolbox is None:
            self._toolbox = self._toolbox_factory()
        return self._toolbox

    @property
    def _slots(self) -> asyncio.Semaphore:
        if self._slots_ is None:
            self._slots_ = asyncio.Semaphore(self.config.max_concurrency)
        return self._slots_

    # ------------------------------------------------------------------ public

    async def execute(
        self,
        agent_input: AgentInput,
        *,
        thread: str | None = DEFAULT_THREAD,
        sink: StreamSink | None = None,
        commit: StepCommit | None = None,
        run_id: str | None = None,
        workspace: Path | None = None,
        step: str | None = None,
    ) -> AgentOutput:
        """Run one turn and wait for its committed result.

        ``thread``: the conversation the turn belongs to (its history is the thread's, and the turn
        is appended to it); None: a turn with a context of its own (a workflow step).
        ``workspace``: the directory its tools work in (default: the agent's, by thread).
        ``step``: the workflow step it executes (its tool journal's key; default: the agent id).
        """
        if self._stopped:
            raise MailboxClosed(f"agent '{self.id}' is stopped", hint="restart it to send it work again")
        job = _Job(agent_input, None if agent_input.stateless else thread, sink, commit, run_id, workspace, step)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self._waiting += 1
        waiting = True
        try:
            while self._consolidating is not None:
                await self._consolidating.wait()
            lock = self._thread_lock(job.thread) if job.thread is not None else contextlib.nullcontext()
            async with lock, self._lease(job.thread) as job.lease, self._slots:
                self._waiting -= 1
                waiting = False
                if self._stopped:
                    raise MailboxClosed(f"agent '{self.id}' was stopped before it ran this")
                self._running += 1
                try:
                    return await self._turn(job)
                finally:
                    self._running -= 1
        except asyncio.CancelledError:
            if self._stopped and task is not None and task.cancelling():
                task.uncancel()  # stop() cancelled this turn, not the caller: tell it why instead
                if waiting:
                    raise MailboxClosed(f"agent '{self.id}' was stopped before it ran this") from None
                raise _stopped_while_running(self.id) from None
            raise
        finally:
            if waiting:
                self._waiting -= 1
            if task is not None:
                self._tasks.discard(task)

    def _lease(self, thread: str | None) -> contextlib.AbstractAsyncContextManager[str | None]:
        """The thread's lease on a shared database (taken before the turn reads the session), else nothing."""
        if thread is None or not self._leases:
            return contextlib.nullcontext()
        return thread_lease(self._store, self._clock, self.id, thread)

    def _thread_lock(self, thread: str) -> asyncio.Lock:
        lock = self._thread_locks.get(thread)
        if lock is None:
            lock = self._thread_locks[thread] = asyncio.Lock()
        return lock

    def statistics(self) -> AgentStatusInfo:
        return AgentStatusInfo(
            agent_id=self.id,
            status=self.status,
            last_error=self.last_error,
            turns=self._turns,
            queued=self._waiting,
            usage=self._usage,
            last_active=self._last_active,
            crash=self.crash,
            running=self._running,
        )

    async def session(self, thread: str = DEFAULT_THREAD) -> Session:
        """The thread's committed conversation (reloaded when another process appended to it)."""
        session = self._sessions.get(thread)
        if (
            session is not None
            and not session.stale
            and await self._store.session_head(self.id, thread) == (session.next_seq)
        ):
            return session
        session = self._sessions[thread] = Session.from_record(await self._store.load_session(self.id, thread))
        return session

    async def reset_session(self, thread: str = DEFAULT_THREAD) -> None:
        """Start the thread afresh; its old messages stay in the store (and in the daily log)."""
        async with self._thread_lock(thread), self._lease(thread):  # never in the middle of another node's turn
            await self._store.write(WriteBatch(session_resets=[(self.id, thread)]))
            self._sessions.pop(thread, None)
            if self.memory is not None:
                self.memory.forget_thread(thread)

    async def restore(self) -> None:
        """Load the agent's checkpoint (turns, usage, last activity), once."""
        if self._restored or self.memory is None:
            return
        state = await self.memory.restore_state()
        if not self._restored:
            self._restored = True
            self._turns += state.turns
            self._usage = self._usage + state.usage
            self._last_active = self._last_active or state.last_active

    async def consolidate(self, *, idle_threshold_secs: float = 0.0) -> ConsolidationResult:
        """One sleep-time pass (memory.consolidation) unless the agent is busy or not idle long enough.

        Turns that arrive during the pass wait for it, so it never edits blocks mid-turn.
        """
        if self.memory is None or self._stopped:
            return ConsolidationResult("skipped", reason="no memory")
        if self._running or self._waiting or self._consolidating is not None:
            return ConsolidationResult("skipped", reason="busy")
        self._consolidating = asyncio.Event()
        try:
            await self.restore()
            now = self._clock.now()
            if self._last_active is not None and now - self._last_active < idle_threshold_secs:
                return ConsolidationResult("skipped", reason="not idle long enough")
            if not self.memory.has_new_activity():
                return ConsolidationResult("skipped", reason="no new activity since the last pass")
            provider = self._provider_factory()
            model = self.config.model or provider.default_model()
            return await self.memory.consolidate(provider, model, await self._spent_before(None))
        finally:
            gate, self._consolidating = self._consolidating, None
            gate.set()

    async def stop(self) -> None:
        """Refuse new work, cancel what waits or runs, and wait for it to end."""
        self._stopped = True
        tasks = [t for t in self._tasks if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        # The callers are other tasks (a workflow step, a request): wait until they left the turn,
        # but never for their own work after it, and not forever for a turn that ignores cancellation.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STOP_WAIT_SECS
        while any(t in self._tasks and not t.done() for t in tasks) and loop.time() < deadline:
            await asyncio.sleep(0.001)
        if self.memory is not None:
            await self.memory.aclose()

    # ------------------------------------------------------------------ one turn

    async def _turn(self, job: _Job) -> AgentOutput:
        session = await self.session(job.thread) if job.thread is not None else None
        provider = self._provider_factory()
        tools = await self._pipeline(job)
        setup = TurnSetup(
            agent=self.config,
            provider=provider,
            model=self.config.model or provider.default_model(),
            tools=tools,
            history=(),
            clock=self._clock,
            counter=self._counter,
            run_id=job.run_id,
            spent_before=await self._spent_before(job.run_id),
            sink=job.sink,
        )
        budget = self.config.token_budget
        if budget is not None and (budget.per_run is not None or budget.per_day is not None):
            setup.reserve = functools.partial(self._reserve, job.run_id)
            setup.release = self._store.release_tokens
        memory: TurnMemory | None = None
        try:
            async with asyncio.timeout(self.config.timeout_secs) as deadline:
                if isinstance(tools.env.parking, _TurnParking):
                    tools.env.parking.timeout = deadline
                if self.memory is not None and not job.input.stateless:
                    await self.restore()
                    memory = await self.memory.prepare(
                        session,
                        job.input,
                        provider=provider,
                        model=setup.model,
                        tools=self.toolbox.specs(),
                        spent_before=setup.spent_before,
                        run_id=job.run_id,
                        replay_context=job.commit.replay_context if job.commit else None,
                    )
                    setup.history = memory.history
                    setup.system_context = memory.context
                    setup.prior_usage = memory.usage
                    setup.prior_calls = memory.llm_calls
                elif session is not None:
                    setup.history = session.window(self.config.memory.max_session_messages)
                if job.commit is not None:
                    context = setup.system_context
                    await job.commit.started(context() if callable(context) else context)
                result = await run_turn(setup, job.input)
        except TurnFailed as failed:
            ledger = [*_memory_ledger(memory), *failed.ledger]
            await self._record_failure(job, failed.error, ledger, session, memory, tools)
            raise failed.error from None
        except TimeoutError:
            error = AgentTimeout(
                f"agent '{self.id}' timed out after {self.config.timeout_secs:g} s",
                hint=f"raise agents[{self.id}].timeout_secs or make the task smaller",
            )
            await self._record_failure(job, error, _memory_ledger(memory), session, memory, tools)
            raise error from None
        except asyncio.CancelledError:
            tools.abandon()  # nothing of the turn commits: its staged edits must not linger in memory
            raise
        except Exception as exc:  # memory preparation or the step's start failed (a database error)
            await self._record_failure(job, exc, _memory_ledger(memory), session, memory, tools)
            raise

        # The commit is shielded: once the turn produced a result, cancelling the caller
        # must not leave the database and the in-memory session disagreeing.
        await asyncio.shield(asyncio.ensure_future(self._commit(job, session, result, memory, tools)))
        return result.output

    async def _pipeline(self, job: _Job) -> ToolPipeline:
        """The turn's tool pipeline: where its tools work, and (a workflow step) its journal."""
        root = job.workspace
        if root is None and self._default_workspace is not None:
            root = self._default_workspace(job.thread)
        env = self._tool_services.environment(
            self.id,
            Workspace(root or Path.cwd()),
            run_id=job.run_id,
            step=(job.step or self.id) if job.commit is not None else None,
            thread=job.thread,
            approval_tools=self.config.approval_tools,
            parking=_TurnParking(job.commit),
            asking=job.commit,
        )
        journal = None
        toolbox = self.toolbox
        if toolbox and job.commit is not None and job.run_id is not None and not job.input.stateless:
            journal = await ToolJournal.open(self._store, self._clock, job.run_id, job.step or self.id)
        return ToolPipeline(toolbox, env, journal=journal, hooks=self._tool_services.hooks, sink=job.sink)

    async def _commit(
        self, job: _Job, session: Session | None, result: TurnResult, memory: TurnMemory | None, tools: ToolPipeline
    ) -> None:
        now = self._clock.now()
        batch = WriteBatch()
        batch.extend(result.writes)
        if tools.journal is not None:
            batch.extend(tools.journal.close())
        if memory is not None and self.memory is not None:
            batch.extend(self.memory.turn_writes(session, memory, job.input, result.output, now, job.run_id))
            batch.ledger.extend(memory.ledger)
        append = None
        if session is not None and result.new_messages:
            append = SessionAppend(self.id, session.thread, tuple(result.new_messages), now, lease=job.lease)
            batch.session.append(append)
        batch.ledger.extend(result.ledger)
        try:
            if job.commit is not None:
                await job.commit.succeed(result.output, batch)
            else:
                await self._store.write(batch)
        except Exception as exc:
            # The provider was paid for these tokens: the ledger rows commit on their own.
            await self._save_ledger(batch.ledger)
            self._mark_failed(exc)
            raise
        if session is not None and append is not None:
            session.extend(result.new_messages, append.first_seq)
        if memory is not None and self.memory is not None:
            self.memory.committed(memory, batch, result.output)
        self._turns += 1
        self._usage = self._usage + result.output.usage
        self._last_active = now
        self._failed = False
        self.last_error = None
        self.crash = None

    async def _record_failure(
        self,
        job: _Job,
        error: BaseException,
        ledger: list[LedgerEntry],
        session: Session | None,
        memory: TurnMemory | None,
        tools: ToolPipeline,
    ) -> None:
        asked = isinstance(error, HumanQuestion)  # the step parks on a question: no failure, its journal stays open
        if not asked:
            self._mark_failed(error)
        now = self._last_active = self._clock.now()

        async def write() -> None:
            # The turn happened, failed or not: its core-memory edits (applied in memory) are kept.
            batch = WriteBatch(ledger=list(ledger))
            if asked:
                # Only the spend commits: the answered step replays this turn from its journal, and runs
                # its transactional tools again.
                tools.abandon()
            else:
                batch.extend(tools.writes)
                if tools.journal is not None:
                    batch.extend(tools.journal.close())
                if self.memory is not None:
                    batch.extend(self.memory.failure_writes(now, session, memory))
            try:
                if job.commit is not None:
                    await job.commit.fail(error, batch)
                else:
                    await self._store.write(batch)
            except Exception:
                await self._save_ledger(batch.ledger)
                raise

        await asyncio.shield(asyncio.ensure_future(write()))

    def _mark_failed(self, error: BaseException) -> None:
        self._failed = True
        self.last_error = describe_error(error)
        if not isinstance(error, AxocoatlError):
            self.crash = describe_error(error)

    async def _save_ledger(self, ledger: list[LedgerEntry]) -> None:
        if not ledger:
            return
        try:
            await self._store.write(WriteBatch(ledger=list(ledger)))
        except Exception:
            total = sum(e.input + e.output for e in ledger)
            log.exception("agent %s: could not record %d tokens of spend", self.id, total)

    async def _reserve(
        self, run_id: str | None, prompt_tokens: int, wanted_reply: int, execution: int
    ) -> tuple[BudgetDecision, int]:
        """Decide one call against the shared budgets and reserve its tokens, in one transaction."""
        decided: list[BudgetDecision] = []

        def decide(run_used: int, day_used: int) -> int:
            decision = plan_call(
                self.config.token_budget,
                agent_id=self.id,
                prompt_tokens=prompt_tokens,
                usage=BudgetUsage(execution=execution, run=run_used, day=day_used),
                requested_reply=wanted_reply,
            )
            decided.append(decision)
            return prompt_tokens + decision.max_reply_tokens

        now = self._clock.now()
        reservation = await self._store.reserve_tokens(
            self.id,
            run_id=run_id,
            day_start=now - (now % 86400),
            now=now,
            # A crashed process's reservation frees itself once its turn could no longer be running.
            expires_at=now + self.config.timeout_secs + RESERVATION_GRACE_SECS,
            decide=decide,
        )
        return decided[-1], reservation

    async def _spent_before(self, run_id: str | None) -> BudgetUsage:
        budget = self.config.token_budget
        if budget is None or (budget.per_run is None and budget.per_day is None):
            return BudgetUsage()
        now = self._clock.now()
        day_start = now - (now % 86400)
        run, day = await self._store.usage_since(self.id, since=day_start, run_id=run_id)
        return BudgetUsage(run=run, day=day)


class _TurnParking:
    """While a call of the turn waits for approval, the agent's timeout stops (a person may take longer
    than a turn may), and a workflow step shows awaiting_approval."""

    def __init__(self, commit: StepCommit | None) -> None:
        self.commit = commit
        self.timeout: asyncio.Timeout | None = None
        self._parked = 0
        self._left: float | None = None

    async def parked(self, request: ApprovalRecord) -> None:
        self._parked += 1
        when = self.timeout.when() if self.timeout is not None else None
        if self._parked == 1 and self.timeout is not None and when is not None:
            self._left = max(0.0, when - asyncio.get_running_loop().time())
            self.timeout.reschedule(None)
        if self.commit is not None:
            await self.commit.parked(request)

    async def resumed(self, request: ApprovalRecord) -> None:
        self._parked -= 1
        if self._parked == 0 and self.timeout is not None and self._left is not None:
            self.timeout.reschedule(asyncio.get_running_loop().time() + self._left)
            self._left = None
        if self.commit is not None:
            await self.commit.resumed(request)


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
