"""/api/agents: list, status, execute (JSON or Server-Sent Events) on a thread, threads, restart, thread reset."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from axocoatl.agents.actor import Agent
from axocoatl.core.errors import AxocoatlError
from axocoatl.core.events import AgentStreamEvent, stream_payload
from axocoatl.core.ids import THREAD_PATTERN, new_id
from axocoatl.core.messages import AgentInput, AgentOutput
from axocoatl.memory.session import DEFAULT_THREAD
from axocoatl.server.errors import ApiError, axocoatl_error_json, not_found, responses, status_for
from axocoatl.server.models import (
    AgentInfo,
    AgentStatus,
    ExecuteRequest,
    ExecuteResponse,
    ResetResponse,
    RestartResponse,
    ThreadList,
)
from axocoatl.server.state import ServerState, state_of
from axocoatl.server.text import json_text
from axocoatl.server.views import agent_json, agent_status_json, threads_json

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/agents", tags=["agents"])


def find_agent(state: ServerState, agent_id: str) -> Agent:
    agent = state.runtime.agents.get(agent_id)
    if agent is None:
        raise not_found("agent", agent_id, sorted(state.runtime.agents), "GET /api/agents lists them")
    return agent


def refuse_if_draining(state: ServerState) -> None:
    if state.draining:
        raise ApiError(503, "the daemon is shutting down", "retry once it is back up", headers={"Retry-After": "5"})


@router.get("", response_model=list[AgentInfo], summary="The configured agents")
async def list_agents(request: Request) -> list[dict[str, Any]]:
    rt = state_of(request).runtime
    return [agent_json(config, rt.agents.get(config.id)) for config in rt.config.agents]


@router.get(
    "/{agent_id}/status",
    response_model=AgentStatus,
    summary="An agent's live status, usage and supervision (restarts and why)",
    responses=responses(404),
)
async def agent_status(agent_id: str, request: Request) -> dict[str, Any]:
    state = state_of(request)
    return agent_status_json(find_agent(state, agent_id), state.supervisor)


def output_json(agent_id: str, output: AgentOutput, thread: str | None) -> dict[str, Any]:
    """The reply to one turn on ``thread`` (None: a stateless call)."""
    return {
        "agent_id": agent_id,
        "output": output.content,
        "usage": {**output.usage.to_dict(), "total": output.usage.total},
        "tool_calls": [call.to_dict() for call in output.tool_calls],
        "llm_calls": output.llm_calls,
        "stateless": thread is None,
        "thread": thread,
    }


_EXECUTE_DOC = """Send one message to an agent, on one of its conversation threads.

`thread` (default `main`) names the conversation: each thread is its own session, turns
of one thread run in order, different threads at once. Any override implies `stateless`
(no thread read or written, no tool loop; the answer's `thread` is null). With
`Accept: text/event-stream` the reply streams as Server-Sent Events: `token`
(`{delta}`), `tool-start`, `tool-result`, `llm-call`, then `done` (the JSON body
below) or `error` (`{error, hint, status}`)."""


@router.post(
    "/{agent_id}/execute",
    response_model=ExecuteResponse,
    summary="Send a message to an agent (JSON, or SSE with Accept: text/event-stream)",
    description=_EXECUTE_DOC,
    responses={
        **responses(400, 404, 409, 413, 415, 422, 502, 503, 504),
        200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}},
    },
)
async def execute(agent_id: str, body: ExecuteRequest, request: Request) -> Any:
    state = state_of(request)
    find_agent(state, agent_id)
    refuse_if_draining(state)
    stateless = body.stateless or body.system_override is not None or body.model_override is not None
    # A stateless call has no thread, whatever `thread` says: the answer's `thread: null` shows it.
    thread = body.thread or DEFAULT_THREAD
    agent_input = AgentInput(
        body.input,
        system_override=body.system_override,
        model_override=body.model_override,
        stateless=stateless,
    )
    if "text/event-stream" in request.headers.get("accept", ""):
        return _stream(state, agent_id, agent_input, thread)
    # Detached: a client that disconnects does not cancel a turn that will commit.
    task = state.detach(state.execute(agent_id, agent_input, thread=thread), f"execute:{agent_id}")
    try:
        output = await asyncio.shield(task)
    except asyncio.CancelledError:
        if task.cancelled():  # the turn was cancelled under us (its agent stopped), not this request
            error = f"agent '{agent_id}' was stopped before it answered"
            raise ApiError(409, error, "send the message again") from None
        raise
    return output_json(agent_id, output, None if stateless else thread)


def _stream(state: ServerState, agent_id: str, agent_input: AgentInput, thread: str) -> StreamingResponse:
    queue: asyncio.Queue[tuple[str, dict[str, Any]] | None] = asyncio.Queue()

    def sink(event: AgentStreamEvent) -> None:
        queue.put_nowait(stream_payload(event))

    async def turn() -> None:
        try:
            output = await state.execute(agent_id, agent_input, sink=sink, thread=thread)
            queue.put_nowait(("done", output_json(agent_id, output, None if agent_input.stateless else thread)))
        except AxocoatlError as exc:
            queue.put_nowait(("error", {**axocoatl_error_json(exc), "status": status_for(exc)}))
        except asyncio.CancelledError:
            error = {"error": f"agent '{agent_id}' was stopped before it answered", "hint": "send it again"}
            queue.put_nowait(("error", {**error, "status": 409}))
            raise
        except Exception as exc:
            error_id = new_id("err")
            log.error("internal error %s in a streamed turn of %s", error_id, agent_id, exc_info=exc)
            hint = f"the daemon log has the details (error id {error_id})"
            queue.put_nowait(("error", {"error": "internal server error", "hint": hint, "status": 500}))
        finally:
            queue.put_nowait(None)

    state.detach(turn(), f"execute-stream:{agent_id}")

    async def events() -> AsyncIterator[str]:
        yield ": stream open\n\n"  # flushes the headers at once
        while (item := await queue.get()) is not None:
            name, data = item
            yield f"event: {name}\ndata: {json_text(data)}\n\n"

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


@router.post(
    "/{agent_id}/restart",
    response_model=RestartResponse,
    summary="Restart an agent's actor from its committed state",
    responses=responses(404, 503),
)
async def restart(agent_id: str, request: Request) -> dict[str, Any]:
    state = state_of(request)
    find_agent(state, agent_id)
    refuse_if_draining(state)
    supervisor = state.supervisor
    lock = supervisor.lock(agent_id) if supervisor is not None else asyncio.Lock()
    async with lock:
        # Allowed while busy, since a hung agent is what one restarts: a workflow step it was
        # running re-runs on the new actor; an interrupted chat turn gets a clear error.
        new = await state.runtime.restart_agent(agent_id)
    if supervisor is not None:
        supervisor.manual_restart_done(agent_id)
    status = state.agent_status(agent_id)
    if status is not None:
        state.hub.broadcast([{"kind": "agent-status", "agent_id": agent_id, "agent": status}])
    return {"agent_id": agent_id, "restarted": True, "status": new.statistics().status}


@router.post(
    "/{agent_id}/reset",
    response_model=ResetResponse,
    summary="Start a thread afresh (its old messages stay in the store)",
    responses=responses(404, 409, 422, 503),
)
async def reset(
    agent_id: str,
    request: Request,
    thread: str = Query(DEFAULT_THREAD, pattern=THREAD_PATTERN, description="The thread to start afresh."),
) -> dict[str, Any]:
    state = state_of(request)
    agent = find_agent(state, agent_id)
    refuse_if_draining(state)
    await agent.reset_session(thread)
    return {"agent_id": agent_id, "thread": thread, "reset": True}


@router.get(
    "/{agent_id}/threads",
    response_model=ThreadList,
    summary="An agent's conversation threads: messages since their reset, last activity",
    responses=responses(404),
)
async def threads(agent_id: str, request: Request) -> dict[str, Any]:
    state = state_of(request)
    find_agent(state, agent_id)
    return threads_json(agent_id, await state.runtime.store.list_threads(agent_id))
