"""Rows of the durable store as plain dataclasses, and the write batch that commits them.

Everything one step changes (its result, the agent's session, the token ledger, the
events it caused and the steps it activated) goes into one WriteBatch and commits in
one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from axocoatl.core.ids import iso
from axocoatl.core.messages import ChatMessage, TokenUsage

RunStatus = Literal["running", "completed", "failed", "interrupted", "waiting", "cancelled"]
StepStatus = Literal[
    "pending", "running", "awaiting_approval", "completed", "failed", "skipped", "waiting", "cancelled"
]

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
    # A step waiting for a human (interrupt): the question, the answer once given, the deadline.
    question: str | None = None
    answer: str | None = None
    wait_until: float | None = None
    # A fork's step copied from its parent run (no LLM call): the parent run's id.
    reused_from: str | None = None

    @property
    def item(self) -> int | None:
        """A map item's index (its step is ``agent[index]``); None for any other step."""
        return map_item_index(self.agent_id)

    @property
    def agent(self) -> str:
        """The agent that runs this step (a map item's step names it before ``[index]``)."""
        return self.agent_id.split("[", 1)[0] if self.item is not None else self.agent_id

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
            "item": self.item,
            "question": self.question,
            "answer": self.answer,
            "wait_until": iso(self.wait_until),
            "reused_from": self.reused_from,
        }


def step_order(step: StepRecord) -> tuple[int, int]:
    """Steps in plan order, each map agent followed by its items in item order."""
    item = step.item
    return (step.position, -1 if item is None else item)


def map_item_step(agent_id: str, index: int) -> str:
    """The step key of item ``index`` of a map agent (agent ids never contain brackets)."""
    return f"{agent_id}[{index}]"


def map_item_index(step_key: str) -> int | None:
    if not step_key.endswith("]") or "[" not in step_key:
        return None
    digits = step_key[step_key.index("[") + 1 : -1]
    return int(digits) if digits.isdigit() else None


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
    # Lineage: a fork records the run and step it was forked from; a child run (a sub-workflow
    # step) the run and step that started it. ``depth`` counts child runs from the top run.
    parent_run_id: str | None = None
    parent_step: str | None = None
    relation: str | None = None  # "fork" or "child"
    depth: int = 0
    # A coordinator run's plan: its subtasks, bid rounds and outcomes (docs/coordinator.md); None otherwise.
    plan: dict[str, Any] | None = None

    def usage(self) -> TokenUsage:
        """Tokens the run spent on what it finished: its steps, a coordinator's decomposition calls and
        subtasks (the ledger, ``tokens report``, also counts calls of steps that failed)."""
        plan = self.plan or {}
        total = TokenUsage(sum(s.tokens_in for s in self.steps), sum(s.tokens_out for s in self.steps))
        for tokens in [plan.get("planning_tokens"), *(t["tokens"] for t in plan.get("tasks", []))]:
            if tokens:
                total += TokenUsage(tokens["input"], tokens["output"])
        return total

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
            "parent_run_id": self.parent_run_id,
            "parent_step": self.parent_step,
            "relation": self.relation,
            "steps": [step.to_json() for step in sorted(self.steps, key=step_order)],
            **({"plan": plan_json(self.plan)} if self.plan is not None else {}),
        }


def plan_json(plan: dict[str, Any]) -> dict[str, Any]:
    """A coordinator plan as shown: without the memory contexts kept for replaying an attempt."""
    tasks = [
        {**task, "attempts": [{k: v for k, v in a.items() if k != "context"} for a in task.get("attempts", [])]}
        for task in plan.get("tasks", [])
    ]
    return {**plan, "tasks": tasks}


@dataclass(frozen=True)
class RunPlanWrite:
    """A coordinator run's whole plan document, replacing the stored one."""

    run_id: str
    plan: dict[str, Any]
    ts: float


@dataclass(frozen=True)
class LedgerEntry:
    """Tokens spent by one LLM call."""

    agent_id: str
    input: int
    output: int
    ts: float
    kind: str = "turn"  # turn, tool_followup, summary, consolidation, decomposition, synthesis, mcp_sampling
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
    several processes appending to one thread never collide) and sets ``first_seq``. With ``lease``
    (a shared database), the batch commits only while that token holds the thread's lease.
    """

    agent_id: str
    thread: str
    messages: tuple[ChatMessage, ...]
    ts: float
    first_seq: int = -1
    lease: str | None = None


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


def schedule_trigger(schedule_id: str) -> str:
    """The trigger recorded on a schedule's runs: a proactive entry's schedule (id ``proactive:ID``) runs as
    ``proactive:ID``, any other as ``schedule:ID``."""
    return schedule_id if schedule_id.startswith("proactive:") else f"schedule:{schedule_id}"


@dataclass(frozen=True)
class CursorClaim:
    """An event consumer's move from ``expected`` to ``seq`` in the event log, committed with the run it
    starts: the batch fails (FireTaken) if another process moved the cursor first."""

    consumer: str
    expected: int
    seq: int


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


@dataclass(frozen=True)
class StepClaim:
    """A fence on a step another node runs for a run's driver (cluster mode): the batch commits only while
    ``token`` still holds the step's claim and no result committed; with ``result``, it commits the
    result (the step's outcome as JSON, which the run's driver then applies)."""

    run_id: str
    step: str
    token: str
    result: str | None = None


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
    cursor_claims: list[CursorClaim] = field(default_factory=list)
    new_steps: list[StepRecord] = field(default_factory=list)  # added to an existing run (map items)
    run_plans: list[RunPlanWrite] = field(default_factory=list)
    step_claims: list[StepClaim] = field(default_factory=list)
    # (run_id, step): the driver applied the step's remote result; a later activation claims it afresh.
    claims_applied: list[tuple[str, str]] = field(default_factory=list)

    def extend(self, other: WriteBatch) -> None:
        self.fences.extend(other.fences)
        self.new_steps.extend(other.new_steps)
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
        self.cursor_claims.extend(other.cursor_claims)
        self.run_plans.extend(other.run_plans)
        self.step_claims.extend(other.step_claims)
        self.claims_applied.extend(other.claims_applied)

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
            or self.cursor_claims
            or self.run_plans
            or self.step_claims
            or self.claims_applied
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


@dataclass(frozen=True)
class A2ATaskRecord:
    """One A2A task (docs/a2a.md): the protocol's Task, serialized, with what the server looks it up by.

    ``target``: the exposed agent id or workflow/ID it belongs to; ``run_id`` / ``thread``: the
    workflow run or conversation thread it drives, so its state can be read back after a restart.
    """

    task_id: str
    target: str
    context_id: str
    owner: str
    state: str
    updated_at: float
    data: bytes
    run_id: str | None = None
    thread: str | None = None


@dataclass(frozen=True)
class A2APushRecord:
    """Where to push one A2A task's updates: the protocol's TaskPushNotificationConfig, serialized."""

    task_id: str
    config_id: str
    owner: str
    data: bytes


ApprovalStatus = Literal["pending", "allowed", "denied"]
ApprovalScope = Literal["once", "agent_tool", "agent_source", "source"]
APPROVAL_SCOPES: tuple[ApprovalScope, ...] = ("once", "agent_tool", "agent_source", "source")


@dataclass
class ApprovalRecord:
    """A request for a person's decision on one tool call (or another action, ``kind``), and its outcome.

    ``key`` makes a request idempotent: a resumed step asking again for the same call finds this row.
    ``decided_by``: user, rule (a decision saved by scope) or timeout.
    """

    approval_id: str
    agent_id: str
    source: str
    tool: str
    arguments: dict[str, Any]
    created_at: float
    expires_at: float
    key: str | None = None
    kind: str = "tool_call"
    message: str = ""
    run_id: str | None = None
    thread: str | None = None
    status: ApprovalStatus = "pending"
    scope: ApprovalScope | None = None
    reason: str | None = None
    decided_by: str | None = None
    decided_at: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "approval_id": self.approval_id,
            "status": self.status,
            "kind": self.kind,
            "agent_id": self.agent_id,
            "source": self.source,
            "tool": self.tool,
            "arguments": self.arguments,
            "message": self.message,
            "run_id": self.run_id,
            "thread": self.thread,
            "created_at": iso(self.created_at),
            "expires_at": iso(self.expires_at),
            "scope": self.scope,
            "reason": self.reason,
            "decided_by": self.decided_by,
            "decided_at": iso(self.decided_at),
        }


@dataclass(frozen=True)
class ApprovalRule:
    """A decision saved by scope: '' in ``agent_id`` or ``tool`` matches any."""

    agent_id: str
    source: str
    tool: str
    scope: ApprovalScope
    decision: Literal["allow", "deny"]
    recorded_at: float
    reason: str | None = None
    approval_id: str | None = None

    @property
    def specificity(self) -> int:
        return (2 if self.agent_id else 0) + (1 if self.tool else 0)

    def to_json(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "agent_id": self.agent_id or None,
            "source": self.source,
            "tool": self.tool or None,
            "decision": self.decision,
            "reason": self.reason,
            "approval_id": self.approval_id,
            "recorded_at": iso(self.recorded_at),
        }


@dataclass(frozen=True)
class LoggedEvent:
    """An event of the log with its place in it (``seq``) and its run's workflow, for event consumers."""

    seq: int
    event: EventRecord
    workflow_id: str | None
    trigger: str | None = None  # what started the event's run


@dataclass(frozen=True)
class NewDelivery:
    """A webhook delivery to put in the outbox: ``body`` is the exact JSON that is sent (and signed)."""

    delivery_id: str
    webhook: str
    event_seq: int
    event_id: str
    event_type: str
    body: str


@dataclass(frozen=True)
class DeliveryRecord:
    """One outbox row: pending (to be attempted at ``next_attempt_at``), delivered, or failed (dead letter)."""

    id: int
    delivery_id: str
    webhook: str
    event_seq: int
    event_id: str
    event_type: str
    body: str
    status: str  # pending, delivered, failed
    attempts: int
    next_attempt_at: float
    last_status: int | None
    last_error: str | None
    created_at: float
    finished_at: float | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.delivery_id,
            "webhook": self.webhook,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "status": self.status,
            "attempts": self.attempts,
            "next_attempt_at": iso(self.next_attempt_at) if self.status == "pending" else None,
            "last_status": self.last_status,
            "last_error": self.last_error,
            "created_at": iso(self.created_at),
            "finished_at": iso(self.finished_at),
        }


@dataclass(frozen=True)
class DeliveryResult:
    """What one attempt of a claimed delivery came to: delivered, retry at ``retry_at``, or failed for good."""

    outcome: Literal["delivered", "retry", "failed"]
    status_code: int | None
    error: str | None
    retry_at: float | None = None


NodeState = Literal["running", "draining"]


@dataclass(frozen=True)
class NodeRecord:
    """A daemon sharing the database: who it is, where it runs, when it last beat, whether it drains.

    ``owner`` is what the node writes in ``runs.owner``: it ties the runs a node holds to the node.
    """

    node_id: str
    owner: str
    host: str
    pid: int
    version: str
    url: str | None
    state: NodeState
    started_at: float
    heartbeat_at: float
