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
# Bus-only events (too frequent for the event log).
TOKEN_DELTA = "TokenDelta"
TOOL_CALL_STARTED = "ToolCallStarted"
TOOL_CALL_FINISHED = "ToolCallFinished"
LLM_CALL_FINISHED = "LLMCallFinished"


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


AgentStreamEvent = TextChunk | ToolStarted | ToolFinished | CallFinished
StreamSink = Callable[[AgentStreamEvent], None]

# An agent stream event's kind names its Server-Sent Event on execute and, prefixed with
# "chat-", its WebSocket chat frame; BUS_TYPES gives the runtime bus event type of each kind.
StreamKind = Literal["token", "tool-start", "tool-result", "llm-call"]
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
