"""/api/tokens/report: tokens spent per agent and in total, from the ledger."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query, Request

from axocoatl.core.ids import iso
from axocoatl.server.errors import ApiError, responses
from axocoatl.server.models import TokenReport
from axocoatl.server.state import state_of

router = APIRouter(prefix="/api/tokens", tags=["tokens"])


def parse_since(text: str | None) -> float | None:
    """Unix seconds or an ISO-8601 time (naive means UTC)."""
    if text is None or not text.strip():
        return None
    value = text.strip()
    try:
        number = float(value)
    except ValueError:
        pass
    else:
        if number != number or number in (float("inf"), float("-inf")):
            raise ApiError(422, f"invalid since: {text!r}", "use unix seconds or an ISO-8601 time", field="query.since")
        return number
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(
            422,
            f"invalid since: {text!r}",
            "use unix seconds (1764000000) or an ISO-8601 time (2026-11-25T14:00:00Z)",
            field="query.since",
        ) from None
    if moment.tzinfo is None:
        from datetime import UTC

        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


@router.get(
    "/report",
    response_model=TokenReport,
    summary="Token spend per agent and in total (from the ledger)",
    responses=responses(422),
)
async def token_report(
    request: Request,
    since: str | None = Query(None, max_length=64, description="Only spend since then: unix seconds or ISO-8601."),
    agent: str | None = Query(None, max_length=200, description="Only this agent."),
) -> dict[str, Any]:
    start = parse_since(since)
    rows = await state_of(request).runtime.store.token_report(since=start, agent_id=agent)
    agents = [
        {"agent_id": r.agent_id, "input": r.input, "output": r.output, "total": r.total, "calls": r.calls} for r in rows
    ]
    totals = {
        "input": sum(r.input for r in rows),
        "output": sum(r.output for r in rows),
        "total": sum(r.total for r in rows),
        "calls": sum(r.calls for r in rows),
    }
    return {"since": iso(start) if start is not None else None, "agent": agent, "agents": agents, "totals": totals}
