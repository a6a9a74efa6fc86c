"""/api/tokens/report: tokens spent per agent and in total, from the ledger."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BeforeValidator, Field

from axocoatl.server.errors import responses
from axocoatl.server.models import TokenReport
from axocoatl.server.state import state_of
from axocoatl.tokens.report import token_report_json

router = APIRouter(prefix="/api/tokens", tags=["tokens"])

MAX_TIMESTAMP = 253_402_300_799  # 9999-12-31T23:59:59Z, the last second an ISO timestamp can show


def _numbers_in_range(value: Any) -> Any:
    # A numeric string is unix seconds and must be in range; otherwise the datetime
    # branch would read "-1" as a (negative) unix time too.
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value
        if not 0 <= number <= MAX_TIMESTAMP:
            raise ValueError(f"unix seconds must be between 0 and {MAX_TIMESTAMP}")
        return number
    return value


Since = Annotated[Annotated[float, Field(ge=0, le=MAX_TIMESTAMP)] | datetime, BeforeValidator(_numbers_in_range)]


def _timestamp(since: float | datetime | None) -> float | None:
    if isinstance(since, datetime):
        aware = since if since.tzinfo else since.replace(tzinfo=UTC)  # naive means UTC
        return min(max(aware.timestamp(), 0.0), MAX_TIMESTAMP)
    return since


@router.get(
    "/report",
    response_model=TokenReport,
    summary="Token spend per agent and in total (from the ledger)",
    responses=responses(422),
)
async def token_report(
    request: Request,
    since: Since | None = Query(
        None, description="Only spend since then: unix seconds or an ISO-8601 time (naive means UTC)."
    ),
    agent: str | None = Query(None, max_length=200, description="Only this agent."),
) -> dict[str, Any]:
    start = _timestamp(since)
    rows = await state_of(request).runtime.store.token_report(since=start, agent_id=agent)
    return token_report_json(rows, since=start, agent=agent)
