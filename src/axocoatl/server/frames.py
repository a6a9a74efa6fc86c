"""Runtime bus events as WebSocket frames (JSON objects tagged by ``kind``; see docs/api.md)."""

from __future__ import annotations

from typing import Any

from axocoatl.core import events as ev
from axocoatl.core.events import AgentStreamEvent, RuntimeEvent, StreamKind
from axocoatl.core.ids import iso

Frame = dict[str, Any]

_RUN_STATUS = {
    ev.RUN_STARTED: "running",
    ev.RUN_RESUMED: "running",
    ev.WORKFLOW_COMPLETED: "completed",
    ev.WORKFLOW_FAILED: "failed",
}
# Lattice events that change one step's status.
STEP_EVENTS = frozenset({ev.AGENT_ACTIVATED, ev.TASK_COMPLETED, ev.AGENT_FAILED, ev.STEP_SKIPPED})
# The fields of each chat-* frame (docs/api.md); a chat turn shows no llm-call frames.
_CHAT_FIELDS: dict[StreamKind, tuple[str, ...]] = {
    "token": ("delta",),
    "tool-start": ("call_id", "name", "arguments"),
    "tool-result": ("call_id", "name", "result", "is_error"),
}


def _where(event: RuntimeEvent) -> Frame:
    return {"run_id": event.run_id, "workflow_id": event.workflow_id, "agent_id": event.agent_id}


def frames_for(event: RuntimeEvent) -> list[Frame]:
    """The frames one bus event becomes, most specific first."""
    p = event.payload
    if event.type == ev.TOKEN_DELTA:
        return [{"kind": "token", **_where(event), "delta": p.get("delta", "")}]
    if event.type == ev.TOOL_CALL_STARTED:
        return [
            {
                "kind": "tool-call",
                "phase": "start",
                **_where(event),
                "call_id": p.get("call_id"),
                "name": p.get("name"),
                "arguments": p.get("arguments"),
            }
        ]
    if event.type == ev.TOOL_CALL_FINISHED:
        return [
            {
                "kind": "tool-call",
                "phase": "result",
                **_where(event),
                "call_id": p.get("id"),
                "name": p.get("name"),
                "arguments": p.get("arguments"),
                "result": p.get("result"),
                "is_error": bool(p.get("is_error")),
            }
        ]
    if event.type == ev.LLM_CALL_FINISHED:
        return [
            {
                "kind": "llm-call",
                **_where(event),
                "input": p.get("input", 0),
                "output": p.get("output", 0),
                "model": p.get("model"),
            }
        ]
    frames: list[Frame] = []
    if event.type in _RUN_STATUS and event.run_id:
        frames.append(
            {
                "kind": "run-status",
                "run_id": event.run_id,
                "workflow_id": event.workflow_id,
                "status": _RUN_STATUS[event.type],
                "error": p.get("error"),
            }
        )
    elif event.type in STEP_EVENTS and event.run_id and event.agent_id:
        frames.append(_step_frame(event))
    frames.append(
        {
            "kind": "event",
            "id": event.event_id,
            "type": event.type,
            **_where(event),
            "produced_by": event.produced_by,
            "timestamp": iso(event.ts),
            "payload": p,
        }
    )
    return frames


def _step_frame(event: RuntimeEvent) -> Frame:
    p = event.payload
    frame: Frame = {"kind": "step-status", **_where(event)}
    if event.type == ev.AGENT_ACTIVATED:
        frame["status"] = "running"
    elif event.type == ev.TASK_COMPLETED:
        frame.update(status="completed", output=p.get("output"), tokens=p.get("tokens"))
    elif event.type == ev.AGENT_FAILED:
        frame.update(status="failed", error=p.get("error"))
    else:
        frame.update(status="skipped", error=p.get("reason"))
    return frame


def chat_frame(event: AgentStreamEvent, turn: Frame) -> Frame | None:
    """The chat-* frame a stream event of a chat turn becomes, or None if chat does not show it."""
    kind, payload = ev.stream_payload(event)
    fields = _CHAT_FIELDS.get(kind)
    if fields is None:
        return None
    return {"kind": f"chat-{kind}", **turn, **{name: payload[name] for name in fields}}
