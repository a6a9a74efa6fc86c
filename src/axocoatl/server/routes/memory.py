"""/api/memory/consolidate: one sleep-time consolidation pass now (`axocoatl memory consolidate`)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Query, Request

from axocoatl.server.errors import not_found, responses
from axocoatl.server.models import ConsolidationReport
from axocoatl.server.routes.agents import refuse_if_draining
from axocoatl.server.state import state_of
from axocoatl.server.views import consolidation_json

router = APIRouter(prefix="/api/memory", tags=["memory"])


@router.post(
    "/consolidate",
    response_model=ConsolidationReport,
    summary="Run one consolidation pass now, for every agent or one (ignores interval and idle threshold)",
    description="Each agent gets an entry: `done` (with the edits promoted, rewritten and rejected), "
    "`skipped` (with the reason: busy, no new activity, no local blocks) or `failed` (with the error). "
    "A failing agent does not stop the others; the answer is 200 either way (see `failed`).",
    responses=responses(404, 422, 503),
)
async def consolidate(
    request: Request,
    agent: str | None = Query(None, max_length=200, description="Only this agent (default: all)."),
) -> dict[str, Any]:
    state = state_of(request)
    rt = state.runtime
    if agent is not None and agent not in rt.agents:
        raise not_found("agent", agent, sorted(rt.agents), "GET /api/agents lists them")
    refuse_if_draining(state)
    ids = None if agent is None else [agent]
    # Detached: a client that gives up does not cut a pass short (it commits in one transaction).
    task = state.detach(rt.consolidation.run_now(ids), "consolidate")
    return consolidation_json(await asyncio.shield(task))
