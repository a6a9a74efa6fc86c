"""/api/events/recent: the newest events of the event log."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from axocoatl.server.models import EventInfo
from axocoatl.server.state import state_of

router = APIRouter(prefix="/api/events", tags=["events"])


@router.get(
    "/recent",
    response_model=list[EventInfo],
    summary="The newest lattice and runtime events, in the order they happened",
)
async def recent_events(
    request: Request,
    limit: int = Query(50, ge=1, le=200, description="How many events (at most 200)."),
    run: str | None = Query(None, max_length=200, description="Only events of this run."),
) -> list[dict[str, Any]]:
    events = await state_of(request).runtime.store.recent_events(limit=limit, run_id=run)
    return [e.to_json() for e in events]
