"""Durable state behind one interface: SQLite (embedded default)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from axocoatl.config.schema import StoreConfig
from axocoatl.core.errors import UsageError
from axocoatl.store.records import (
    SHARED_SCOPE,
    CheckpointWrite,
    CoreBlockRecord,
    EventRecord,
    JournalRecord,
    LedgerEntry,
    LogEntry,
    LogRecord,
    MemoryRecord,
    MemoryVector,
    RunRecord,
    RunStatus,
    RunUpdate,
    ScheduleClaim,
    ScheduleFire,
    ScheduleState,
    SessionAppend,
    StepRecord,
    StepStatus,
    StepUpdate,
    ThreadRecord,
    ThreadState,
    UsageRow,
    WorkspaceRecord,
    WriteBatch,
)
from axocoatl.store.sqlite import SQLiteStore

__all__ = [
    "SHARED_SCOPE",
    "CheckpointWrite",
    "CoreBlockRecord",
    "EventRecord",
    "JournalRecord",
    "LedgerEntry",
    "LogEntry",
    "LogRecord",
    "MemoryRecord",
    "MemoryVector",
    "RunRecord",
    "RunStatus",
    "RunUpdate",
    "SQLiteStore",
    "ScheduleClaim",
    "ScheduleFire",
    "ScheduleState",
    "SessionAppend",
    "StepRecord",
    "StepStatus",
    "StepUpdate",
    "Store",
    "ThreadRecord",
    "ThreadState",
    "UsageRow",
    "WorkspaceRecord",
    "WriteBatch",
    "create_store",
]


class Store(Protocol):
    """What the runtime needs from a database."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def write(self, batch: WriteBatch, *, durable: bool = True) -> None: ...

    async def get_run(self, run_id: str) -> RunRecord | None: ...

    async def list_runs(
        self, *, limit: int = 50, workflow_id: str | None = None, status: str | None = None
    ) -> list[RunRecord]: ...

    async def claim_run(
        self, run_id: str, *, owner: str, expected_owner: str | None, expected_status: str, now: float
    ) -> bool: ...

    async def heartbeat(self, owner: str, now: float) -> None: ...

    async def load_session(self, agent_id: str, thread: str) -> ThreadRecord: ...

    async def session_head(self, agent_id: str, thread: str) -> int: ...

    async def list_threads(self, agent_id: str) -> list[tuple[str, int, float | None]]: ...

    async def usage_since(self, agent_id: str, *, since: float, run_id: str | None) -> tuple[int, int]: ...

    async def reserve_tokens(
        self,
        agent_id: str,
        *,
        run_id: str | None,
        day_start: float,
        now: float,
        expires_at: float,
        decide: Callable[[int, int], int],
    ) -> int: ...

    async def release_tokens(self, reservation: int) -> None: ...

    async def token_report(self, *, since: float | None = None, agent_id: str | None = None) -> list[UsageRow]: ...

    async def recent_events(self, *, limit: int = 200, run_id: str | None = None) -> list[EventRecord]: ...

    async def load_checkpoints(self, agent_id: str) -> list[tuple[int, str]]: ...

    async def load_core_blocks(self, scopes: list[str]) -> list[CoreBlockRecord]: ...

    async def load_memories(self, agent_id: str) -> list[MemoryRecord]: ...

    async def load_journal(self, run_id: str, agent_id: str) -> tuple[int, list[JournalRecord]]: ...

    async def load_workspaces(self, run_id: str) -> list[WorkspaceRecord]: ...
    async def sync_schedule(
        self, schedule_id: str, fingerprint: str, next_fire: float, now: float
    ) -> ScheduleState: ...

    async def schedule_states(self) -> dict[str, ScheduleState]: ...

    async def skip_schedule_slot(
        self,
        schedule_id: str,
        *,
        expected: float,
        next_fire: float,
        fires: tuple[tuple[float, str, str], ...],
        at: float,
    ) -> bool: ...

    async def pause_schedule(self, schedule_id: str, paused: bool, *, next_fire: float | None, now: float) -> bool: ...

    async def schedule_fires(self, schedule_id: str | None = None, *, limit: int = 50) -> list[ScheduleFire]: ...

    async def read_log(
        self,
        agent_id: str,
        *,
        first_day: str | None = None,
        last_day: str | None = None,
        since: float | None = None,
        entry_types: tuple[str, ...] = (),
        limit: int = 40,
    ) -> tuple[list[LogRecord], int]: ...


def create_store(config: StoreConfig, data_dir: Path) -> SQLiteStore:
    """The store the config asks for (not yet opened)."""
    if config.backend != "sqlite":
        raise UsageError(
            f"store backend {config.backend!r} is not available in this build",
            hint="use store.backend: sqlite",
        )
    path = Path(config.path) if config.path else data_dir / "axocoatl.db"
    return SQLiteStore(path, synchronous=config.synchronous)
