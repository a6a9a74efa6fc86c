"""Events: what agents stream during a turn, and what the runtime publishes on its bus."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from axocoatl.core.messages import TokenUsage, ToolCall, ToolCallRecord

# Lattice / runtime event types written to the event log and published on the bus.
RUN_STARTED = "RunStarted"
RUN_RESUMED = "RunResumed"
AGENT_ACTIVATED = "AgentActivated"
TASK_COMPLETED = "TaskCompleted"
AGENT_FAILED = "AgentFailed"
STEP_SKIPPED = "StepSkipped"
WORKFLOW_COMPLETED = "WorkflowCompleted"
WORKFLOW_FAILED = "WorkflowFailed"
CUSTOM = "Custom"
STEP_WAITING = "StepWaiting"  # a step asks a human (interrupt); payload: question, wait_until
RUN_WAITING = "RunWaiting"  # nothing runs but steps waiting for answers
ANSWERED = "Answered"  # a waiting step got its answer
RUN_CANCELLED = "RunCancelled"  # someone cancelled the run (resumable: `runs resume`)
# A coordinator pass (docs/coordinator.md): its plan, each auction, each subtask attempt.
COORDINATOR_PLAN = "CoordinatorPlan"
COORDINATOR_BID = "CoordinatorBid"
SUBTASK_STARTED = "SubtaskStarted"
SUBTASK_FINISHED = "SubtaskFinished"
# The log's event types, as webhook filters and proactive triggers name them (docs/automations.md).
LOGGED_TYPES = (
    RUN_STARTED,
    RUN_RESUMED,
    AGENT_ACTIVATED,
    TASK_COMPLETED,
    AGENT_FAILED,
    STEP_SKIPPED,
    WORKFLOW_COMPLETED,
    WORKFLOW_FAILED,
    CUSTOM,
    COORDINATOR_PLAN,
    COORDINATOR_BID,
    SUBTASK_STARTED,
    SUBTASK_FINISHED,
    RUN_CANCELLED,
)
# Dotted names for them, which a config may use instead.
EVENT_ALIASES = {
    "run.started": RUN_STARTED,
    "run.resumed": RUN_RESUMED,
    "run.completed": WORKFLOW_COMPLETED,
    "run.failed": WORKFLOW_FAILED,
    "agent.activated": AGENT_ACTIVATED,
    "agent.completed": TASK_COMPLETED,
    "agent.failed": AGENT_FAILED,
    "step.skipped": STEP_SKIPPED,
    "run.cancelled": RUN_CANCELLED,
}
# Too frequent to send anywhere unless asked for by name (an empty webhook filter leaves them out).
TELEMETRY = frozenset({AGENT_ACTIVATED, COORDINATOR_BID})
# Bus-only events (too frequent for the event log).
TOKEN_DELTA = "TokenDelta"
TOOL_CALL_STARTED = "ToolCallStarted"
TOOL_CALL_FINISHED = "ToolCallFinished"
LLM_CALL_FINISHED = "LLMCallFinished"
APPROVAL_REQUESTED = "ApprovalRequested"  # payload: the request's JSON (ApprovalRecord.to_json)
APPROVAL_DECIDED = "ApprovalDecided"
MCP_SERVER_STATUS = "MCPServerStatus"  # an MCP server connected, failed, reconnects, stopped
MCP_LOG = "MCPLog"  # a logging notification from an MCP server
MCP_PROGRESS = "MCPProgress"  # a progress notification for a running MCP tool call


@dataclass(frozen=True)
class TextChunk:
    """A piece of the reply text, as it streams."""

    text: str


@dataclass(frozen=True)
class ToolStarted:
    call: ToolCall


@dataclass(frozen=True)
class ToolFinished:
    record: ToolCallRecord


@dataclass(frozen=True)
class CallFinished:
    """One LLM call of the turn ended; ``usage`` is what it spent."""

    usage: TokenUsage
    model: str


@dataclass(frozen=True)
class ApprovalWaiting:
    """A call of the turn waits for a person's decision; ``request`` is the approval request's JSON."""

    request: dict[str, Any]


AgentStreamEvent = TextChunk | ToolStarted | ToolFinished | CallFinished | ApprovalWaiting
StreamSink = Callable[[AgentStreamEvent], None]

# An agent stream event's kind names its Server-Sent Event on execute and, prefixed with
# "chat-", its WebSocket chat frame; BUS_TYPES gives the runtime bus event type of each kind
# ("approval" has none: the approval gate publishes its own ApprovalRequested for every waiting call).
StreamKind = Literal["token", "tool-start", "tool-result", "llm-call", "approval"]
BUS_TYPES: dict[StreamKind, str] = {
    "token": TOKEN_DELTA,
    "tool-start": TOOL_CALL_STARTED,
    "tool-result": TOOL_CALL_FINISHED,
    "llm-call": LLM_CALL_FINISHED,
}


def stream_payload(event: AgentStreamEvent) -> tuple[StreamKind, dict[str, Any]]:
    """The one mapping of an agent stream event to its wire kind and JSON payload (docs/api.md)."""
    if isinstance(event, TextChunk):
        return "token", {"delta": event.text}
    if isinstance(event, ToolStarted):
        call = event.call
        return "tool-start", {"call_id": call.id, "name": call.name, "arguments": call.arguments}
    if isinstance(event, ToolFinished):
        return "tool-result", {"call_id": event.record.id, **event.record.to_dict()}
    if isinstance(event, ApprovalWaiting):
        return "approval", dict(event.request)
    return "llm-call", {"input": event.usage.input, "output": event.usage.output, "model": event.model}


@dataclass(frozen=True)
class RuntimeEvent:
    """One event on the runtime bus."""

    type: str
    ts: float
    run_id: str | None = None
    workflow_id: str | None = None
    agent_id: str | None = None
    produced_by: str = ""
    payload: dict[str, Any] = field(default_factory=dict)
    event_id: str = ""
    # The node that published it, for an event that came from another node over NATS (runtime/fanout.py);
    # "" for this process's own. Lets a listener that acts on its own agents (supervision) skip the others'.
    origin: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.event_id,
            "type": self.type,
            "ts": self.ts,
            "run_id": self.run_id,
            "workflow_id": self.workflow_id,
            "agent_id": self.agent_id,
            "produced_by": self.produced_by,
            "payload": self.payload,
        }


def event_names(event_type: str, payload: dict[str, Any]) -> set[str]:
    """Every name an event answers to in a filter: its type, its dotted alias, a skill event's own name,
    and for a run's start, the run's trigger."""
    names = {event_type, *(alias for alias, kind in EVENT_ALIASES.items() if kind == event_type)}
    if event_type == CUSTOM and isinstance(payload.get("name"), str):
        names.add(payload["name"])
    if event_type == RUN_STARTED and isinstance(payload.get("trigger"), str):
        names.add(payload["trigger"])  # webhook:NAME, schedule:ID: the start of a run that trigger caused
    return names


def matches_filter(filters: list[str], event_type: str, payload: dict[str, Any]) -> bool:
    """An event passes a filter that names it; an empty filter passes every event but telemetry."""
    if not filters:
        return event_type not in TELEMETRY
    return not event_names(event_type, payload).isdisjoint(filters)
