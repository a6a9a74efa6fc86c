"""/api/agents/{id}/memory/...: an agent's core blocks (read and edit), semantic search and daily log,
the documents of `axocoatl memory blocks|search|log --json`, read from the live agent; and
/api/agents/{id}/threads/{thread}/messages, a conversation's messages since its reset."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BeforeValidator, Field

from axocoatl.agents.actor import Agent
from axocoatl.core.errors import ToolError
from axocoatl.core.ids import THREAD_PATTERN, iso
from axocoatl.memory.core import CoreBlock
from axocoatl.server.errors import ApiError, not_found, responses
from axocoatl.server.models import Strict
from axocoatl.server.state import ServerState, state_of
from axocoatl.server.text import Text
from axocoatl.store import WriteBatch

router = APIRouter(prefix="/api/agents", tags=["memory"])


_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_day(value: object) -> object:
    # pydantic's lax date also takes "0" (a Unix timestamp) or "2026-11-25T10:00Z"; a day is YYYY-MM-DD only.
    if isinstance(value, str) and not _ISO_DAY.fullmatch(value):
        raise ValueError(f"{value[:40]!r} is not a day: use YYYY-MM-DD, e.g. 2026-11-25")
    return value


IsoDay = Annotated[date, BeforeValidator(_iso_day)]


class BlockEdit(Strict):
    value: Text = Field(..., description="The block's whole new content (at most its limit in characters).")


def _agent(state: ServerState, agent_id: str) -> Agent:
    agent = state.runtime.agents.get(agent_id)
    if agent is None:
        raise not_found("agent", agent_id, sorted(state.runtime.agents), "GET /api/agents lists them")
    if agent.memory is None:
        raise ApiError(409, f"agent '{agent_id}' keeps no memory", "it is a worker without memory")
    return agent


def _block_json(block: CoreBlock) -> dict[str, Any]:
    return {
        "label": block.label,
        "value": block.value,
        "chars": len(block.value),
        "limit": block.limit,
        "shared": block.shared,
        "description": block.description,
    }


@router.get(
    "/{agent_id}/memory/blocks", summary="An agent's core-memory blocks as it sees them", responses=responses(404)
)
async def get_blocks(agent_id: str, request: Request) -> list[dict[str, Any]]:
    agent = _agent(state_of(request), agent_id)
    assert agent.memory is not None
    core = await agent.memory.core_memory()
    return [_block_json(b) for b in sorted(core.blocks, key=lambda b: b.shared)]


@router.put(
    "/{agent_id}/memory/blocks/{label}",
    summary="Replace a core-memory block's content (the agent sees it in its next request)",
    description="A shared block changes for every agent that holds it. 422 when the value is over the block's limit.",
    responses=responses(400, 404, 413, 415, 422),
)
async def put_block(agent_id: str, label: str, body: BlockEdit, request: Request) -> dict[str, Any]:
    state = state_of(request)
    agent = _agent(state, agent_id)
    assert agent.memory is not None
    core = await agent.memory.core_memory()
    if label not in core.labels():
        raise not_found("block", label, core.labels(), f"GET /api/agents/{agent_id}/memory/blocks lists them")
    try:
        block, value = core.plan_set(label, body.value)
    except ToolError as exc:
        raise ApiError(422, exc.message, "shorten the text or raise the block's limit", field="body.value") from None
    batch = WriteBatch()
    undo: list[Any] = []
    core.stage(block, value, batch, undo)
    try:
        await state.runtime.store.write(batch)
    except BaseException:
        for revert in undo:
            revert()
        raise
    return _block_json(block)


@router.get(
    "/{agent_id}/memory/search",
    summary="Search an agent's semantic memory by meaning (what recall_search finds)",
    responses=responses(404, 422),
)
async def search(
    agent_id: str,
    request: Request,
    # Bounded so that the URL stays far below what the HTTP parser accepts even percent-encoded (up to 12 bytes
    # a character): a URL of ~100 KB is refused before any route sees it, with a bare 400 no route can document.
    q: str = Query(..., min_length=1, max_length=1000, description="What to look for."),
    k: int = Query(5, ge=1, le=100, description="How many results."),
) -> dict[str, Any]:
    agent = _agent(state_of(request), agent_id)
    assert agent.memory is not None
    await agent.memory.ensure_loaded()
    found = await agent.memory.semantic.search(q, k)
    results = [{"text": r.text, "score": round(r.score, 4), "timestamp": iso(r.ts)} for r in found]
    return {"agent_id": agent_id, "query": q, "count": len(results), "results": results}


@router.get(
    "/{agent_id}/memory/log",
    summary="An agent's daily activity log: conversations, tool calls, compaction archives",
    responses=responses(404, 422),
)
async def daily_log(
    agent_id: str,
    request: Request,
    day: IsoDay | None = Query(None, alias="date", description="YYYY-MM-DD, the daemon's local day (default: today)."),
    limit: int = Query(200, ge=1, le=2000, description="Most recent entries."),
) -> dict[str, Any]:
    state = state_of(request)
    _agent(state, agent_id)
    shown = (day or date.today()).isoformat()
    entries, total = await state.runtime.store.read_log(agent_id, first_day=shown, last_day=shown, limit=limit)
    return {
        "agent_id": agent_id,
        "date": shown,
        "count": len(entries),
        "total": total,
        "entries": [e.to_json() for e in entries],
    }


@router.get(
    "/{agent_id}/threads/{thread}/messages",
    summary="A conversation thread's messages since its last reset, oldest first (the newest `limit`)",
    description="Each message: `{role: user|assistant|tool, content, tool_calls: [{id, name, arguments}], "
    "tool_call_id, name}`. A thread that never had a turn has none.",
    responses=responses(404, 422),
)
async def thread_messages(
    agent_id: str,
    request: Request,
    thread: str = Path(..., pattern=THREAD_PATTERN, description="The thread's name (e.g. main)."),
    limit: int = Query(200, ge=1, le=2000, description="Most recent messages."),
) -> dict[str, Any]:
    state = state_of(request)
    _agent(state, agent_id)
    record = await state.runtime.store.load_session(agent_id, thread)
    shown = record.messages[-limit:]
    messages = [
        {
            "role": m.role,
            "content": m.content,
            "tool_calls": [c.to_dict() for c in m.tool_calls],
            "tool_call_id": m.tool_call_id,
            "name": m.name,
        }
        for m in shown
    ]
    total = len(record.messages)
    return {"agent_id": agent_id, "thread": thread, "count": len(messages), "total": total, "messages": messages}
