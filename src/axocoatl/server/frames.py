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
    ev.RUN_WAITING: "waiting",
    ev.RUN_CANCELLED: "cancelled",
}
# What the automations publish (bus only): a schedule's fire or skip, a proactive entry's, a webhook delivery's
# attempt. Sent as `automation` frames to clients subscribed to every run, or to the run they started.
AUTOMATION_EVENTS = frozenset(
    {
        "ScheduleFired",
        "ScheduleSkipped",
        "ProactiveFired",
        "ProactiveSkipped",
        "WebhookDelivered",
        "WebhookRetrying",
        "WebhookFailed",
    }
)
# Lattice events that change one step's status.
STEP_EVENTS = frozenset(
    {ev.AGENT_ACTIVATED, ev.TASK_COMPLETED, ev.AGENT_FAILED, ev.STEP_SKIPPED, ev.STEP_WAITING, ev.ANSWERED}
)
# The fields of each chat-* frame (docs/api.md); a chat turn shows no llm-call frames.
_CHAT_FIELDS: dict[StreamKind, tuple[str, ...]] = {
    "token": ("delta",),
    "tool-start": ("call_id", "name", "arguments"),
    "tool-result": ("call_id", "name", "result", "is_error"),
    "approval": ("approval_id", "source", "tool", "arguments", "message", "expires_at"),
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
    if event.type in (ev.APPROVAL_REQUESTED, ev.APPROVAL_DECIDED):
        return _approval_frames(event)
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
    if event.type in AUTOMATION_EVENTS:
        return [
            {
                "kind": "automation",
                "type": event.type,
                "source": event.produced_by,
                "run_id": event.run_id,
                "timestamp": iso(event.ts),
                "payload": p,
            }
        ]
    frames: list[Frame] = []
    coordinator = _coordinator_frame(event)
    if coordinator is not None:
        frames.append(coordinator)
    if event.type in _RUN_STATUS and event.run_id:
        status: Frame = {
            "kind": "run-status",
            "run_id": event.run_id,
            "workflow_id": event.workflow_id,
            "status": _RUN_STATUS[event.type],
            "error": p.get("error"),
        }
        if event.type == ev.RUN_STARTED:
            status["trigger"] = p.get("trigger")  # manual, schedule:ID, proactive:ID, webhook:NAME
        frames.append(status)
        for agent_id in p.get("steps", []) if event.type == ev.RUN_CANCELLED else []:
            where = _where(event) | {"agent_id": agent_id}
            frames.append({"kind": "step-status", **where, "status": "cancelled", "error": p.get("error")})
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


def _coordinator_frame(event: RuntimeEvent) -> Frame | None:
    """A coordinator pass's frames (docs/coordinator.md): its plan, each auction, each subtask attempt."""
    p = event.payload
    if event.type == ev.COORDINATOR_PLAN:
        return {"kind": "coordinator-plan", **_where(event), "source": p.get("source"), "tasks": p.get("tasks", [])}
    if event.type == ev.COORDINATOR_BID:
        fields = ("task", "round", "attempt", "winner", "score", "adhoc", "bids")
        return {"kind": "coordinator-bid", **_where(event), **{k: p.get(k) for k in fields}}
    if event.type == ev.SUBTASK_STARTED:
        return {
            "kind": "subtask",
            "phase": "start",
            **_where(event),
            **{k: p.get(k) for k in ("task", "worker", "attempt")},
        }
    if event.type == ev.SUBTASK_FINISHED:
        fields = ("task", "worker", "status", "output", "tokens", "error", "retry")
        return {"kind": "subtask", "phase": "finish", **_where(event), **{k: p.get(k) for k in fields}}
    return None


def _approval_frames(event: RuntimeEvent) -> list[Frame]:
    """approval-required / approval-resolved, and the step-status change of a workflow step that waits."""
    p = event.payload
    requested = event.type == ev.APPROVAL_REQUESTED
    frame = approval_frame("approval-required" if requested else "approval-resolved", p)
    frame.update(_where(event))
    frames = [frame]
    if event.run_id and event.agent_id:
        status = "awaiting_approval" if requested else "running"
        frames.append({"kind": "step-status", **_where(event), "status": status, "approval_id": p.get("approval_id")})
    return frames


def approval_frame(kind: str, request: dict[str, Any]) -> Frame:
    """An approval-* frame: the request's JSON, its own ``kind`` (tool_call…) as ``request_kind``."""
    fields = {k: v for k, v in request.items() if k != "kind"}
    return {"kind": kind, **fields, "request_kind": request.get("kind")}


def _step_frame(event: RuntimeEvent) -> Frame:
    p = event.payload
    frame: Frame = {"kind": "step-status", **_where(event)}
    if event.type == ev.AGENT_ACTIVATED:
        frame["status"] = "running"
    elif event.type == ev.TASK_COMPLETED:
        frame.update(status="completed", output=p.get("output"), tokens=p.get("tokens"))
    elif event.type == ev.AGENT_FAILED:
        frame.update(status="failed", error=p.get("error"))
    elif event.type == ev.STEP_WAITING:
        frame.update(status="waiting", question=p.get("question"), wait_until=p.get("wait_until"))
    elif event.type == ev.ANSWERED:
        frame.update(status="running", answer=p.get("answer"))
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
