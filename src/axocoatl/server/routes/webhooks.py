"""/api/webhooks/deliveries: the outbox of outbound webhooks, its dead letters, and redelivery."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from axocoatl.core.errors import NotFound
from axocoatl.server.errors import ApiError, responses
from axocoatl.server.models import DeliveryInfo
from axocoatl.server.state import state_of

router = APIRouter(prefix="/api/webhooks", tags=["webhooks"])


@router.get("/deliveries", response_model=list[DeliveryInfo], summary="Webhook deliveries, newest first")
async def list_deliveries(
    request: Request,
    failed: bool = Query(False, description="Only the dead letters (retries ran out, or refused)"),
    limit: int = Query(50, ge=1, le=1000),
) -> list[dict[str, Any]]:
    rows = await state_of(request).runtime.webhooks.deliveries(failed=failed, limit=limit)
    return [row.to_json() for row in rows]


@router.post(
    "/deliveries/{delivery_id}/redeliver",
    response_model=DeliveryInfo,
    summary="Queue a delivery again from its first attempt (to its webhook's current URL)",
    responses=responses(404, 409),
)
async def redeliver(delivery_id: str, request: Request) -> dict[str, Any]:
    try:
        row = await state_of(request).runtime.webhooks.redeliver(delivery_id)
    except NotFound as exc:
        raise ApiError(404, exc.message, exc.hint) from None
    return row.to_json()
