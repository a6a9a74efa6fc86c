"""SQLiteStore: the Store protocol over the engine's two connections and the aggregates' SQL.

Each method picks where its SQL runs: inline on the event loop's connection for the small
reads of a turn, on the worker for the long reads, the claims and the heartbeats.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from axocoatl.store.records import (
    CoreBlockRecord,
    EventRecord,
    JournalRecord,
    LogRecord,
    MemoryRecord,
    RunRecord,
    ScheduleFire,
    ScheduleState,
    ThreadRecord,
    UsageRow,
    WorkspaceRecord,
    WriteBatch,
)
from axocoatl.store.sqlite import events, journal, memory, runs, schedules, threads, tokens
from axocoatl.store.sqlite.engine import Engine
from axocoatl.store.sqlite.sql import immediate

INLINE_MEMORIES = 256  # an agent with more semantic memories loads them on the worker thread


class SQLiteStore:
    """Durable state in one SQLite file (or in memory, for ``Path(":memory:")``: nothing durable)."""

    def __init__(self, path: Path, *, synchronous: str = "full") -> None:
        self._engine = Engine(Path(path), synchronous=synchronous)

    @property
    def path(self) -> Path:
        return self._engine.path

    @property
    def synchronous(self) -> str:
        return self._engine.synchronous

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
