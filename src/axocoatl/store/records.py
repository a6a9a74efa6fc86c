"""Rows of the durable store as plain dataclasses, and the write batch that commits them.

Everything one step changes (its result, the agent's session, the token ledger, the
events it caused and the steps it activated) goes into one WriteBatch and commits in
one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from axocoatl.core.ids import iso
from axocoatl.core.messages import ChatMessage

RunStatus = Literal["running", "completed", "failed", "interrupted"]
StepStatus = Literal["pending", "running", "completed", "failed", "skipped"]

# The core_blocks scope of blocks shared by every agent declaring their label.
SHARED_SCOPE = "@shared"


@dataclass
class StepRecord:
    run_id: str
    agent_id: str
    position: int
    status: StepStatus = "pending"
    attempts: int = 0
    input: str | None = None
    output: str | None = None
    error: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    completed_seq: int | None = None
    # The memory context (core blocks, recall) its first execution sent: a retry sends it again.
    context: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "agent_id": self.agent_id,
            "status": self.status,
            "attempts": self.attempts,
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "input": self.input,
            "output": self.output,
            "error": self.error,
            "tokens": {"input": self.tokens_in, "output": self.tokens_out},
        }


@dataclass
class RunRecord:
    run_id: str
    workflow_id: str
    status: RunStatus
    input: str
    spec: dict[str, Any]
    started_at: float
    kind: str = "workflow"
    final_output: str | None = None
    error: str | None = None
    finished_at: float | None = None
    owner: str | None = None
    heartbeat_at: float | None = None
    steps: list[StepRecord] = field(default_factory=list)
    # What started it: manual, or schedule:ID, proactive:ID, webhook:NAME (docs/automations.md).
    trigger: str = "manual"

    def to_json(self) -> dict[str, Any]:
        """The stable JSON contract of ``workflow run --json`` and ``runs show --json``."""
        return {
            "run_id": self.run_id,
            "workflow_id": self.workflow_id,
            "status": self.status,
            "trigger": self.trigger,
            "input": self.input,
            "final_output": self.final_output,
            "error": self.error,
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "steps": [step.to_json() for step in sorted(self.steps, key=lambda s: s.position)],
        }


@dataclass(frozen=True)
class LedgerEntry:
    """Tokens spent by one LLM call."""

    agent_id: str
    input: int
    output: int
    ts: float
    kind: str = "turn"  # turn, tool_followup, summary, consolidation, decomposition, synthesis
    run_id: str | None = None
    provider: str = ""
    model: str = ""
    reservation: int | None = None  # the budget reservation this spend replaces (released with it)


@dataclass(frozen=True)
class EventRecord:
    """One lattice or runtime event, as stored in the event log."""

    event_id: str
    type: str
    ts: float
    produced_by: str = ""
    run_id: str | None = None
    agent_id: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.event_id,
            "type": self.type,
            "produced_by": self.produced_by,
            "run_id": self.run_id,
            "agent_id": self.agent_id,
            "timestamp": iso(self.ts),
            "payload": self.payload,
        }


@dataclass
class SessionAppend:
    """Messages appended to one thread of an agent.

    The store numbers them inside the write transaction (after the thread's last message, so
    several processes appending to one thread never collide) and sets ``first_seq``.
    """

    agent_id: str
    thread: str
    messages: tuple[ChatMessage, ...]
    ts: float
    first_seq: int = -1


@dataclass(frozen=True)
class ThreadState:
    """A thread's compaction state: messages with seq < ``through_seq`` are represented by ``summary``."""

    agent_id: str
    thread: str
    summary: str = ""
    through_seq: int = 0
    archived_through: int = 0  # raw messages below this seq are already in the daily log


@dataclass
class ThreadRecord:
    """One thread as loaded: its messages since the last reset, numbered from ``first_seq``."""

    agent_id: str
    thread: str
    messages: list[ChatMessage]
    next_seq: int
    state: ThreadState


@dataclass(frozen=True)
class StepUpdate:
    run_id: str
    agent_id: str
    fields: dict[str, Any]
    bump_attempts: bool = False


@dataclass(frozen=True)
class RunUpdate:
    run_id: str
    fields: dict[str, Any]


@dataclass
class CheckpointWrite:
    """One agent checkpoint (small JSON state); older versions beyond ``keep`` are pruned.

    The store numbers it inside the write transaction (above every stored version) and sets ``version``.
    """

    agent_id: str
    state: str
    ts: float
    keep: int = 3
    version: int = -1


@dataclass(frozen=True)
class LogEntry:
    """One append-only daily-log entry of an agent (``day`` is the local date, YYYY-MM-DD)."""

    agent_id: str
    ts: float
    day: str
    entry_type: str  # conversation, tool_call, compaction, consolidation, note
    content: dict[str, Any]


@dataclass(frozen=True)
class CoreBlockRecord:
    """A core-memory block; ``scope`` is the owning agent id, or SHARED_SCOPE for team blocks."""

    scope: str
    label: str
    value: str
    limit: int
    description: str | None
    updated_at: float


@dataclass
class MemoryRecord:
    """One semantic memory. ``vector`` is a float32 blob, None until embedded.

    A new memory's ``seq`` is given by the store inside the write transaction (-1 until then).
    """

    agent_id: str
    seq: int
    text: str
    ts: float
    embedder: str | None = None
    vector: bytes | None = None
    metadata: dict[str, Any] | None = None


@dataclass(frozen=True)
class MemoryVector:
    """The embedding of an already stored memory, written after the turn that stored it."""

    agent_id: str
    seq: int
    embedder: str
    vector: bytes


@dataclass(frozen=True)
class ScheduleClaim:
    """A schedule's fire, committed with the run it starts.

    With a ``slot``, the batch commits only if the schedule's next fire is still ``slot`` (no
    other process took it) and fewer than ``max_concurrent`` of its runs are running; the next
    fire becomes ``next_fire``. Without one (``schedules run ID``) it only records the fire.
    """

    schedule_id: str
    run_id: str
    at: float
    slot: float | None = None
    next_fire: float | None = None
    max_concurrent: int | None = None
    live_since: float = 0.0  # a running run whose heartbeat is older does not count (its owner died)


@dataclass(frozen=True)
class ScheduleFire:
    """One recorded fire of a schedule: a run started, or a slot skipped and why."""

    schedule_id: str
    slot: float | None
    outcome: str  # started, manual, skipped, missed
    run_id: str | None
    detail: str | None
    at: float

    def to_json(self) -> dict[str, Any]:
        return {
            "schedule_id": self.schedule_id,
            "slot": iso(self.slot),
            "outcome": self.outcome,
            "run_id": self.run_id,
            "detail": self.detail,
            "at": iso(self.at),
        }


@dataclass(frozen=True)
class ScheduleState:
    schedule_id: str
    fingerprint: str
    next_fire: float
    paused: bool
    run_count: int


@dataclass
class JournalRecord:
    """One row of the tool-call journal: a call of a step's execution, or (``idx`` -1) the model reply
    that asked for a round of calls (``result``: the reply as JSON). ``status``: model, started, done,
    interrupted."""

    run_id: str
    agent_id: str
    activation: int
    round: int
    idx: int
    call_id: str
    name: str
    arguments: dict[str, Any]
    effect: str
    status: str
    started_at: float
    result: str | None = None
    is_error: bool = False
    finished_at: float | None = None


@dataclass(frozen=True)
class WorkspaceRecord:
    """The directory an agent of a run works in, and the git commit it started from (None: not a repo)."""

    run_id: str
    agent_id: str
    path: str
    baseline: str | None = None


@dataclass
class WriteBatch:
    """Writes that must become durable together, in one transaction."""

    # (run_id, owner, now): commit only while this process still owns the run, and beat its
    # heartbeat. A process that lost a run to another one must not write its steps.
    fences: list[tuple[str, str, float]] = field(default_factory=list)
    new_runs: list[RunRecord] = field(default_factory=list)
    session: list[SessionAppend] = field(default_factory=list)
    session_resets: list[tuple[str, str]] = field(default_factory=list)  # (agent_id, thread): start afresh
    thread_states: list[ThreadState] = field(default_factory=list)
    ledger: list[LedgerEntry] = field(default_factory=list)
    events: list[EventRecord] = field(default_factory=list)
    step_updates: list[StepUpdate] = field(default_factory=list)
    run_updates: list[RunUpdate] = field(default_factory=list)
    checkpoints: list[CheckpointWrite] = field(default_factory=list)
    log_entries: list[LogEntry] = field(default_factory=list)
    core_blocks: list[CoreBlockRecord] = field(default_factory=list)
    memories: list[MemoryRecord] = field(default_factory=list)
    memory_vectors: list[MemoryVector] = field(default_factory=list)
    journal: list[JournalRecord] = field(default_factory=list)  # inserted or replaced
    journal_closes: list[tuple[str, str, int]] = field(default_factory=list)  # (run_id, agent_id, activation)
    workspaces: list[WorkspaceRecord] = field(default_factory=list)
    schedule_claims: list[ScheduleClaim] = field(default_factory=list)

    def extend(self, other: WriteBatch) -> None:
        self.fences.extend(other.fences)
        self.new_runs.extend(other.new_runs)
        self.session.extend(other.session)
        self.session_resets.extend(other.session_resets)
        self.thread_states.extend(other.thread_states)
        self.ledger.extend(other.ledger)
        self.events.extend(other.events)
        self.step_updates.extend(other.step_updates)
        self.run_updates.extend(other.run_updates)
        self.checkpoints.extend(other.checkpoints)
        self.log_entries.extend(other.log_entries)
        self.core_blocks.extend(other.core_blocks)
        self.memories.extend(other.memories)
        self.memory_vectors.extend(other.memory_vectors)
        self.journal.extend(other.journal)
        self.journal_closes.extend(other.journal_closes)
        self.workspaces.extend(other.workspaces)
        self.schedule_claims.extend(other.schedule_claims)

    def __bool__(self) -> bool:
        return bool(
            self.new_runs
            or self.session
            or self.session_resets
            or self.thread_states
            or self.ledger
            or self.events
            or self.step_updates
            or self.run_updates
            or self.checkpoints
            or self.log_entries
            or self.core_blocks
            or self.memories
            or self.memory_vectors
            or self.journal
            or self.journal_closes
            or self.workspaces
            or self.schedule_claims
        )


@dataclass(frozen=True)
class UsageRow:
    agent_id: str
    input: int
    output: int
    calls: int

    @property
    def total(self) -> int:
        return self.input + self.output


@dataclass(frozen=True)
class LogRecord:
    """A daily-log entry as read back."""

    id: int
    agent_id: str
    ts: float
    day: str
    entry_type: str
    content: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "timestamp": iso(self.ts),
            "day": self.day,
            "type": self.entry_type,
            "content": self.content,
        }
