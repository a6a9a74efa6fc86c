"""SQLiteStore: the Store protocol over the engine's two connections and the aggregates' SQL.

Each method picks where its SQL runs: inline on the event loop's connection for the small
reads of a turn, on the worker for the long reads, the claims and the heartbeats.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar, cast

from axocoatl.store.records import (
    A2APushRecord,
    A2ATaskRecord,
    ApprovalRecord,
    ApprovalRule,
    CoreBlockRecord,
    CursorClaim,
    DeliveryRecord,
    DeliveryResult,
    EventRecord,
    JournalRecord,
    LoggedEvent,
    LogRecord,
    MemoryRecord,
    NewDelivery,
    NodeRecord,
    RunRecord,
    ScheduleFire,
    ScheduleState,
    ThreadRecord,
    UsageRow,
    WorkspaceRecord,
    WriteBatch,
)
from axocoatl.store.sqlite import (
    a2a,
    approvals,
    deliveries,
    events,
    journal,
    memory,
    nodes,
    runs,
    schedules,
    threads,
    tokens,
)
from axocoatl.store.sqlite.engine import Engine
from axocoatl.store.sqlite.sql import immediate

INLINE_MEMORIES = 256  # an agent with more semantic memories loads them on the worker thread

T = TypeVar("T")


class StatementEngine(Protocol):
    """Where the aggregates' functions run: SQLite's two connections, or PostgreSQL's pool."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T: ...

    async def inline(self, fn: Callable[[sqlite3.Connection], T]) -> T: ...

    async def write(self, batch: WriteBatch, *, durable: bool) -> None: ...


class SQLiteStore:
    """Durable state in one SQLite file (or in memory, for ``Path(":memory:")``: nothing durable)."""

    def __init__(self, path: Path, *, synchronous: str = "full") -> None:
        engine = Engine(Path(path), synchronous=synchronous)
        self.path: Path = engine.path
        self.synchronous: str = engine.synchronous
        self.shared = False  # one project's file: no other node adopts its runs
        self._engine: StatementEngine = engine

    def exists(self) -> bool:
        """Whether the database is there already (a read-only command opens only one that is)."""
        return self.path.exists()

    async def open(self) -> None:
        await self._engine.open()

    async def close(self) -> None:
        await self._engine.close()

    async def write(self, batch: WriteBatch, *, durable: bool = True) -> None:
        """Commit every write of ``batch`` in one transaction (possibly shared with other whole batches).

        ``durable=False``: the commit does not wait for an fsync of its own; a power loss may lose it,
        but only together with every later commit (the WAL is synced in order). For bookkeeping that
        a crash may forget, such as the start of a step's execution.
        """
        await self._engine.write(batch, durable=durable)

    # ------------------------------------------------------------------ runs

    async def get_run(self, run_id: str) -> RunRecord | None:
        return await self._engine.inline(lambda db: runs.get_run(db, run_id))

    async def list_runs(
        self, *, limit: int = 50, workflow_id: str | None = None, status: str | None = None
    ) -> list[RunRecord]:
        return await self._engine.run(
            lambda db: runs.list_runs(db, limit=limit, workflow_id=workflow_id, status=status)
        )

    async def run_ids_starting(self, prefix: str, *, limit: int) -> list[str]:
        """The run ``prefix`` names whole (alone), else up to ``limit`` ids that start with it, newest first."""
        return await self._engine.run(lambda db: runs.ids_starting(db, prefix, limit))

    async def recent_run_ids(self, *, limit: int) -> list[str]:
        return await self._engine.run(lambda db: runs.recent_ids(db, limit))

    async def child_run(self, parent_run_id: str, parent_step: str) -> RunRecord | None:
        """The child run a sub-workflow step started (the latest, if it started several)."""
        return await self._engine.inline(lambda db: runs.child_run(db, parent_run_id, parent_step))

    async def claim_run(
        self, run_id: str, *, owner: str, expected_owner: str | None, expected_status: str, now: float
    ) -> bool:
        """Take over a run if nobody else did first (compare-and-set on owner and status).

        The claimed run is ``running`` afterwards; claiming a failed run reopens it.
        """
        return await self._engine.run(
            lambda db: runs.claim(
                db, run_id, owner=owner, expected_owner=expected_owner, expected_status=expected_status, now=now
            )
        )

    async def heartbeat(self, owner: str, now: float) -> None:
        await self._engine.run(lambda db: runs.heartbeat(db, owner, now))

    async def request_cancel(self, run_id: str, now: float) -> None:
        """Ask the process that owns a run to cancel it (it polls for requests; see ``cancel_requests``)."""
        await self._engine.run(lambda db: runs.request_cancel(db, run_id, now))

    async def cancel_requests(self, owner: str) -> list[str]:
        return await self._engine.inline(lambda db: runs.cancel_requests(db, owner))

    async def claim_step(
        self, run_id: str, step: str, *, node: str, token: str, now: float, stale_before: float
    ) -> Literal["claimed", "held", "done"]:
        """Claim a step for ``node`` with ``token`` (cluster mode), or renew the claim ``token`` holds: "done" when
        its result committed, "held" while another token holds it and renewed it since ``stale_before``. A claim
        taken over makes every later commit under the old token fail (``StepClaim``)."""
        outcome = await self._engine.run(lambda db: runs.claim_step(db, run_id, step, node, token, now, stale_before))
        return cast(Literal["claimed", "held", "done"], outcome)

    async def step_result(self, run_id: str, step: str) -> tuple[str, str | None] | None:
        """The node that holds (or held) a step's claim and the result it committed, until the run's driver applied
        it (then None); None for a step never claimed."""
        return await self._engine.inline(lambda db: runs.step_result(db, run_id, step))

    # ------------------------------------------------------------------ sessions

    async def load_session(self, agent_id: str, thread: str) -> ThreadRecord:
        """One thread of an agent: its messages since the last reset and its compaction state."""
        return await self._engine.inline(lambda db: threads.load_session(db, agent_id, thread))

    async def session_head(self, agent_id: str, thread: str) -> int:
        """The next message seq of a thread (cheap: tells whether another process appended to it)."""
        return await self._engine.inline(lambda db: threads.next_message_seq(db, agent_id, thread))

    async def list_threads(self, agent_id: str) -> list[tuple[str, int, float | None]]:
        """(thread, messages since its reset, last message time) of each thread of an agent."""
        return await self._engine.run(lambda db: threads.list_threads(db, agent_id))

    async def take_thread_lease(self, agent_id: str, thread: str, *, token: str, now: float, expires_at: float) -> bool:
        """Take a thread's lease for ``token`` until ``expires_at`` (compare-and-set), or renew the lease ``token``
        holds; False while another token holds it and it has not expired by ``now``. On a shared database a turn
        of the thread runs only under its lease, so turns sent to different nodes stay in order."""
        return await self._engine.run(lambda db: threads.take_lease(db, agent_id, thread, token, now, expires_at))

    async def release_thread_lease(self, agent_id: str, thread: str, *, token: str) -> None:
        """Give the lease up (only the token that holds it can; another token's lease stays)."""
        await self._engine.run(lambda db: threads.release_lease(db, agent_id, thread, token))

    # ------------------------------------------------------------------ memory

    async def load_checkpoints(self, agent_id: str) -> list[tuple[int, str]]:
        """The agent's stored checkpoints as (version, state JSON), newest first."""
        return await self._engine.inline(lambda db: memory.load_checkpoints(db, agent_id))

    async def load_core_blocks(self, scopes: list[str]) -> list[CoreBlockRecord]:
        """Every stored block of the given scopes (agent ids and/or SHARED_SCOPE)."""
        if not scopes:
            return []
        return await self._engine.inline(lambda db: memory.load_core_blocks(db, scopes))

    async def load_memories(self, agent_id: str) -> list[MemoryRecord]:
        """Every semantic memory of an agent, oldest first, with its vector blob."""
        # A few memories (every agent's first turns) read inline; a large set on the worker.
        many = await self._engine.inline(lambda db: memory.has_more_memories_than(db, agent_id, INLINE_MEMORIES))
        where = self._engine.run if many else self._engine.inline
        return await where(lambda db: memory.load_memories(db, agent_id))

    async def read_log(
        self,
        agent_id: str,
        *,
        first_day: str | None = None,
        last_day: str | None = None,
        since: float | None = None,
        entry_types: tuple[str, ...] = (),
        limit: int = 40,
    ) -> tuple[list[LogRecord], int]:
        """The most recent ``limit`` matching daily-log entries (oldest first) and how many matched."""
        return await self._engine.run(
            lambda db: memory.read_log(
                db,
                agent_id,
                first_day=first_day,
                last_day=last_day,
                since=since,
                entry_types=entry_types,
                limit=limit,
            )
        )

    # ------------------------------------------------------------------ tokens

    async def usage_since(self, agent_id: str, *, since: float, run_id: str | None) -> tuple[int, int]:
        """(tokens spent in ``run_id``, tokens spent since ``since``) by one agent."""
        return await self._engine.inline(lambda db: tokens.usage_since(db, agent_id, since=since, run_id=run_id))

    async def reserve_tokens(
        self,
        agent_id: str,
        *,
        run_id: str | None,
        day_start: float,
        now: float,
        expires_at: float,
        decide: Callable[[int, int], int],
    ) -> int:
        """Reserve tokens against an agent's shared budgets, atomically across processes.

        Inside one write transaction: the agent's spend in ``run_id`` and since ``day_start``
        (ledger rows plus unexpired reservations) goes to ``decide(run_used, day_used)``, which
        returns how many tokens to reserve (or raises, e.g. BudgetExceeded: nothing is reserved).
        Returns the reservation id; a ledger row naming it releases it in its own transaction.
        """

        def reserve(db: sqlite3.Connection) -> int:
            with immediate(db):
                tokens.expire_reservations(db, now)
                amount = decide(*tokens.held(db, agent_id, run_id=run_id, day_start=day_start))
                return tokens.add_reservation(db, agent_id, run_id, amount, expires_at)

        # Not fsynced on its own: a reservation lost to a power cut frees its tokens, nothing more.
        return await self._engine.inline(reserve)

    async def release_tokens(self, reservation: int) -> None:
        """Drop a reservation whose call made no spend (it failed before the provider answered)."""
        await self._engine.inline(lambda db: tokens.release(db, reservation))

    async def token_report(self, *, since: float | None = None, agent_id: str | None = None) -> list[UsageRow]:
        return await self._engine.run(lambda db: tokens.report(db, since=since, agent_id=agent_id))

    # ------------------------------------------------------------------ events

    async def recent_events(self, *, limit: int = 200, run_id: str | None = None) -> list[EventRecord]:
        return await self._engine.run(lambda db: events.recent_events(db, limit=limit, run_id=run_id))

    # ------------------------------------------------------------------ tool journal, workspaces

    async def load_journal(self, run_id: str, agent_id: str) -> tuple[int, list[JournalRecord]]:
        """The activation a step's execution journals under, and the open rows a crashed one left."""
        return await self._engine.inline(lambda db: journal.load_open(db, run_id, agent_id))

    async def load_workspaces(self, run_id: str) -> list[WorkspaceRecord]:
        return await self._engine.inline(lambda db: journal.load_workspaces(db, run_id))

    async def run_tool_calls(self, run_id: str) -> list[JournalRecord]:
        """Every journaled tool call of a run, by step, execution, round and position."""
        return await self._engine.run(lambda db: journal.list_run(db, run_id))

    # ------------------------------------------------------------------ approvals

    async def add_approval(self, record: ApprovalRecord) -> ApprovalRecord:
        """Store a request, durably; a request with the same key already stored is returned instead."""
        return await self._engine.run(lambda db: approvals.add(db, record))

    async def get_approval(self, approval_id: str) -> ApprovalRecord | None:
        return await self._engine.inline(lambda db: approvals.get(db, approval_id))

    async def list_approvals(
        self, *, status: str | None = None, run_id: str | None = None, limit: int = 200
    ) -> list[ApprovalRecord]:
        """Requests, newest first."""
        return await self._engine.run(lambda db: approvals.list_requests(db, status=status, run_id=run_id, limit=limit))

    async def decide_approval(
        self, approval_id: str, *, allowed: bool, scope: str, reason: str | None, decided_by: str, now: float
    ) -> tuple[ApprovalRecord | None, bool]:
        """Decide a pending request once (compare-and-set), saving the decision by ``scope`` with it.

        Returns the row (None: no such request) and whether this call decided it."""
        return await self._engine.run(
            lambda db: approvals.decide(
                db, approval_id, allowed=allowed, scope=scope, reason=reason, decided_by=decided_by, now=now
            )
        )

    async def approval_rule(self, agent_id: str, source: str, tool: str) -> ApprovalRule | None:
        """The saved decision that applies to a call (most specific wins, deny wins ties)."""
        return await self._engine.inline(lambda db: approvals.rule_for(db, agent_id, source, tool))

    async def recent_plans(self, workflow_id: str, *, besides: str, limit: int) -> list[dict[str, Any]]:
        """The coordinator plans of the workflow's latest runs (not ``besides``), newest first."""
        return await self._engine.inline(lambda db: runs.recent_plans(db, workflow_id, besides=besides, limit=limit))

    # ------------------------------------------------------------------ schedules

    async def sync_schedule(self, schedule_id: str, fingerprint: str, next_fire: float, now: float) -> ScheduleState:
        """A schedule's stored state, created (or re-timed when ``fingerprint`` changed) with ``next_fire``."""
        return await self._engine.run(lambda db: schedules.sync(db, schedule_id, fingerprint, next_fire, now))

    async def schedule_states(self) -> dict[str, ScheduleState]:
        return await self._engine.inline(schedules.states)

    async def skip_schedule_slot(
        self,
        schedule_id: str,
        *,
        expected: float,
        next_fire: float,
        fires: tuple[tuple[float, str, str], ...],
        at: float,
    ) -> bool:
        """Move a schedule from ``expected`` to ``next_fire`` without a run, recording each (slot, outcome,
        detail) of ``fires``; False if another process moved it first."""
        return await self._engine.run(
            lambda db: schedules.skip(db, schedule_id, expected=expected, next_fire=next_fire, fires=fires, at=at)
        )

    async def pause_schedule(self, schedule_id: str, paused: bool, *, next_fire: float | None, now: float) -> bool:
        return await self._engine.run(lambda db: schedules.set_paused(db, schedule_id, paused, next_fire, now))

    async def schedule_fires(self, schedule_id: str | None = None, *, limit: int = 50) -> list[ScheduleFire]:
        return await self._engine.run(lambda db: schedules.fires(db, schedule_id, limit))

    # ------------------------------------------------------------------ A2A tasks

    async def save_a2a_task(self, record: A2ATaskRecord) -> None:
        await self._engine.run(lambda db: a2a.save(db, record))

    async def get_a2a_task(self, target: str, task_id: str) -> A2ATaskRecord | None:
        return await self._engine.inline(lambda db: a2a.get(db, target, task_id))

    async def list_a2a_tasks(self, target: str, owner: str) -> list[A2ATaskRecord]:
        return await self._engine.run(lambda db: a2a.list_tasks(db, target, owner))

    async def delete_a2a_task(self, target: str, task_id: str) -> None:
        await self._engine.run(lambda db: a2a.delete(db, target, task_id))

    async def save_a2a_push(self, record: A2APushRecord) -> None:
        await self._engine.run(lambda db: a2a.save_push(db, record))

    async def a2a_push_configs(self, task_id: str) -> list[A2APushRecord]:
        return await self._engine.inline(lambda db: a2a.push_configs(db, task_id))

    async def delete_a2a_push(self, task_id: str, owner: str, config_id: str | None) -> None:
        await self._engine.run(lambda db: a2a.delete_push(db, task_id, owner, config_id))

    # ------------------------------------------------------------------ webhook outbox

    async def prime_consumers(self, consumers: Sequence[str]) -> None:
        """Start each consumer not seen before at the end of the event log."""
        await self._engine.run(lambda db: deliveries.prime(db, consumers))

    async def route_events(
        self,
        consumer: str,
        derive: Callable[[list[LoggedEvent]], list[NewDelivery]],
        *,
        now: float,
        limit: int = 500,
    ) -> int:
        """Move ``consumer`` over the next events, enqueueing the deliveries ``derive`` makes of them, in one
        transaction; returns the number of events read."""
        return await self._engine.run(lambda db: deliveries.route(db, consumer, derive, now, limit))

    async def claim_deliveries(
        self,
        webhooks: Sequence[str],
        *,
        owner: str,
        now: float,
        lease_until: float,
        limit: int,
        row_id: int | None = None,
    ) -> list[DeliveryRecord]:
        return await self._engine.run(lambda db: deliveries.claim(db, webhooks, owner, now, lease_until, limit, row_id))

    async def due_deliveries(self, webhooks: Sequence[str], *, now: float, limit: int) -> list[DeliveryRecord]:
        return await self._engine.inline(lambda db: deliveries.due(db, webhooks, now, limit))

    async def finish_delivery(self, row_id: int, *, owner: str, result: DeliveryResult, now: float) -> bool:
        return await self._engine.run(lambda db: deliveries.finish(db, row_id, owner, result, now))

    async def release_deliveries(self, row_ids: Sequence[int], *, owner: str) -> None:
        await self._engine.run(lambda db: deliveries.release(db, row_ids, owner))

    async def list_deliveries(self, *, status: str | None = None, limit: int = 50) -> list[DeliveryRecord]:
        return await self._engine.run(lambda db: deliveries.listing(db, status, limit))

    async def find_deliveries(self, delivery_id: str) -> list[DeliveryRecord]:
        return await self._engine.run(lambda db: deliveries.find(db, delivery_id))

    async def redeliver(self, row_id: int, *, now: float) -> DeliveryRecord | None:
        return await self._engine.run(lambda db: deliveries.redeliver(db, row_id, now))

    async def next_delivery_due(self, webhooks: Sequence[str]) -> float | None:
        return await self._engine.inline(lambda db: deliveries.next_due(db, webhooks))

    async def take_receipt(self, trigger: str, digest: str, *, now: float, forget_before: float) -> bool:
        """Record an inbound request's signature once; False when it was seen before (a replay)."""
        return await self._engine.run(lambda db: deliveries.take_receipt(db, trigger, digest, now, forget_before))

    async def drop_receipt(self, trigger: str, digest: str) -> None:
        await self._engine.run(lambda db: deliveries.drop_receipt(db, trigger, digest))

    # ------------------------------------------------------------------ event consumers (proactive)

    async def events_after(self, consumer: str, *, limit: int = 200) -> tuple[int, list[LoggedEvent]]:
        """A consumer's place in the event log (the end of it, for a new one) and the events after it."""
        return await self._engine.run(lambda db: deliveries.events_after(db, consumer, limit))

    async def advance_cursor(self, claim: CursorClaim) -> bool:
        return await self._engine.run(lambda db: deliveries.advance(db, claim))

    async def last_started(self, trigger: str) -> float | None:
        return await self._engine.inline(lambda db: deliveries.last_started(db, trigger))

    # ------------------------------------------------------------------ nodes

    async def save_node(self, node: NodeRecord) -> None:
        """Register a node or refresh its row (its beat, its state)."""
        await self._engine.run(lambda db: nodes.save(db, node))

    async def remove_node(self, node_id: str, *, owner: str) -> None:
        await self._engine.run(lambda db: nodes.remove(db, node_id, owner))

    async def forget_nodes(self, *, before: float) -> None:
        await self._engine.run(lambda db: nodes.forget(db, before))

    async def get_node(self, node_id: str) -> NodeRecord | None:
        return await self._engine.run(lambda db: nodes.get(db, node_id))

    async def list_nodes(self) -> list[NodeRecord]:
        return await self._engine.run(nodes.listing)

    async def run_claims(self) -> dict[str, int]:
        """How many running runs each owner (``runs.owner``) holds."""
        return await self._engine.run(nodes.run_claims)

    async def step_claims(self) -> dict[str, int]:
        """How many steps each node id holds over the work queue, their results not yet committed."""
        return await self._engine.run(nodes.step_claims)
