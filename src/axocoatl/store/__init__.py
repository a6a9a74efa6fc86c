"""Durable state behind one interface: SQLite (embedded default) or PostgreSQL (scale-out)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

from axocoatl.config.schema import StoreConfig
from axocoatl.core.errors import UsageError
from axocoatl.store.records import (
    APPROVAL_SCOPES,
    SHARED_SCOPE,
    A2APushRecord,
    A2ATaskRecord,
    ApprovalRecord,
    ApprovalRule,
    ApprovalScope,
    CheckpointWrite,
    CoreBlockRecord,
    CursorClaim,
    DeliveryRecord,
    DeliveryResult,
    EventRecord,
    JournalRecord,
    LedgerEntry,
    LogEntry,
    LoggedEvent,
    LogRecord,
    MemoryRecord,
    MemoryVector,
    NewDelivery,
    NodeRecord,
    NodeState,
    RunPlanWrite,
    RunRecord,
    RunStatus,
    RunUpdate,
    ScheduleClaim,
    ScheduleFire,
    ScheduleState,
    SessionAppend,
    StepClaim,
    StepRecord,
    StepStatus,
    StepUpdate,
    ThreadRecord,
    ThreadState,
    UsageRow,
    WorkspaceRecord,
    WriteBatch,
    schedule_trigger,
)
from axocoatl.store.sqlite import SQLiteStore

__all__ = [
    "APPROVAL_SCOPES",
    "SHARED_SCOPE",
    "A2APushRecord",
    "A2ATaskRecord",
    "ApprovalRecord",
    "ApprovalRule",
    "ApprovalScope",
    "CheckpointWrite",
    "CoreBlockRecord",
    "CursorClaim",
    "DeliveryRecord",
    "DeliveryResult",
    "EventRecord",
    "JournalRecord",
    "LedgerEntry",
    "LogEntry",
    "LogRecord",
    "LoggedEvent",
    "MemoryRecord",
    "MemoryVector",
    "NewDelivery",
    "NodeRecord",
    "NodeState",
    "RunPlanWrite",
    "RunRecord",
    "RunStatus",
    "RunUpdate",
    "SQLiteStore",
    "ScheduleClaim",
    "ScheduleFire",
    "ScheduleState",
    "SessionAppend",
    "StepClaim",
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
    "schedule_trigger",
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

    async def run_ids_starting(self, prefix: str, *, limit: int) -> list[str]: ...

    async def recent_run_ids(self, *, limit: int) -> list[str]: ...

    async def child_run(self, parent_run_id: str, parent_step: str) -> RunRecord | None: ...

    async def claim_run(
        self, run_id: str, *, owner: str, expected_owner: str | None, expected_status: str, now: float
    ) -> bool: ...

    async def heartbeat(self, owner: str, now: float) -> None: ...

    async def request_cancel(self, run_id: str, now: float) -> None: ...

    async def cancel_requests(self, owner: str) -> list[str]: ...

    async def claim_step(
        self, run_id: str, step: str, *, node: str, token: str, now: float, stale_before: float
    ) -> Literal["claimed", "held", "done"]: ...

    async def step_result(self, run_id: str, step: str) -> tuple[str, str | None] | None: ...

    async def load_session(self, agent_id: str, thread: str) -> ThreadRecord: ...

    async def session_head(self, agent_id: str, thread: str) -> int: ...

    async def list_threads(self, agent_id: str) -> list[tuple[str, int, float | None]]: ...

    async def take_thread_lease(
        self, agent_id: str, thread: str, *, token: str, now: float, expires_at: float
    ) -> bool: ...

    async def release_thread_lease(self, agent_id: str, thread: str, *, token: str) -> None: ...

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

    async def run_tool_calls(self, run_id: str) -> list[JournalRecord]: ...

    async def add_approval(self, record: ApprovalRecord) -> ApprovalRecord: ...

    async def get_approval(self, approval_id: str) -> ApprovalRecord | None: ...

    async def list_approvals(
        self, *, status: str | None = None, run_id: str | None = None, limit: int = 200
    ) -> list[ApprovalRecord]: ...

    async def decide_approval(
        self, approval_id: str, *, allowed: bool, scope: str, reason: str | None, decided_by: str, now: float
    ) -> tuple[ApprovalRecord | None, bool]: ...

    async def approval_rule(self, agent_id: str, source: str, tool: str) -> ApprovalRule | None: ...

    async def recent_plans(self, workflow_id: str, *, besides: str, limit: int) -> list[dict[str, Any]]: ...

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

    async def save_a2a_task(self, record: A2ATaskRecord) -> None: ...

    async def get_a2a_task(self, target: str, task_id: str) -> A2ATaskRecord | None: ...

    async def list_a2a_tasks(self, target: str, owner: str) -> list[A2ATaskRecord]: ...

    async def delete_a2a_task(self, target: str, task_id: str) -> None: ...

    async def save_a2a_push(self, record: A2APushRecord) -> None: ...

    async def a2a_push_configs(self, task_id: str) -> list[A2APushRecord]: ...

    async def delete_a2a_push(self, task_id: str, owner: str, config_id: str | None) -> None: ...
    async def prime_consumers(self, consumers: Sequence[str]) -> None: ...

    async def route_events(
        self,
        consumer: str,
        derive: Callable[[list[LoggedEvent]], list[NewDelivery]],
        *,
        now: float,
        limit: int = 500,
    ) -> int: ...

    async def claim_deliveries(
        self,
        webhooks: Sequence[str],
        *,
        owner: str,
        now: float,
        lease_until: float,
        limit: int,
        row_id: int | None = None,
    ) -> list[DeliveryRecord]: ...

    async def due_deliveries(self, webhooks: Sequence[str], *, now: float, limit: int) -> list[DeliveryRecord]: ...

    async def finish_delivery(self, row_id: int, *, owner: str, result: DeliveryResult, now: float) -> bool: ...

    async def release_deliveries(self, row_ids: Sequence[int], *, owner: str) -> None: ...

    async def list_deliveries(self, *, status: str | None = None, limit: int = 50) -> list[DeliveryRecord]: ...

    async def find_deliveries(self, delivery_id: str) -> list[DeliveryRecord]: ...

    async def redeliver(self, row_id: int, *, now: float) -> DeliveryRecord | None: ...

    async def next_delivery_due(self, webhooks: Sequence[str]) -> float | None: ...

    async def take_receipt(self, trigger: str, digest: str, *, now: float, forget_before: float) -> bool: ...

    async def drop_receipt(self, trigger: str, digest: str) -> None: ...

    async def events_after(self, consumer: str, *, limit: int = 200) -> tuple[int, list[LoggedEvent]]: ...

    async def advance_cursor(self, claim: CursorClaim) -> bool: ...

    async def last_started(self, trigger: str) -> float | None: ...

    async def save_node(self, node: NodeRecord) -> None: ...

    async def remove_node(self, node_id: str, *, owner: str) -> None: ...

    async def forget_nodes(self, *, before: float) -> None: ...

    async def get_node(self, node_id: str) -> NodeRecord | None: ...

    async def list_nodes(self) -> list[NodeRecord]: ...

    async def run_claims(self) -> dict[str, int]: ...

    async def step_claims(self) -> dict[str, int]: ...


def create_store(config: StoreConfig, data_dir: Path) -> SQLiteStore:
    """The store the config asks for (not yet opened)."""
    if config.backend == "postgres":
        if not config.dsn:
            raise UsageError(
                "store.backend is postgres but store.dsn is not set",
                hint="set store.dsn, e.g. dsn: ${AXOCOATL_DSN} with AXOCOATL_DSN=postgresql://user@host/db",
            )
        try:
            from axocoatl.store.postgres import PostgresStore
        except ImportError as exc:
            raise UsageError(
                f"the postgres store backend needs psycopg ({exc})",
                hint="pip install 'axocoatl[postgres]'",
            ) from None
        return PostgresStore(config.dsn)
    path = Path(config.path) if config.path else data_dir / "axocoatl.db"
    return SQLiteStore(path, synchronous=config.synchronous)
