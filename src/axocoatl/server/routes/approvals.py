"""/api/approvals: tool calls waiting for a person's decision, and deciding them (docs/tools.md#approval)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from axocoatl.core.errors import NotFound
from axocoatl.server.errors import ApiError, responses
from axocoatl.server.models import ApprovalDecisionRequest, ApprovalInfo
from axocoatl.server.state import state_of

router = APIRouter(prefix="/api/approvals", tags=["approvals"])


@router.get("", response_model=list[ApprovalInfo], summary="Approval requests, newest first")
async def list_approvals(
    request: Request,
    status: str | None = Query(
        None, pattern="^(pending|allowed|denied)$", description="Only requests with this status."
    ),
    run: str | None = Query(None, max_length=200, description="Only requests of this run."),
) -> list[dict[str, Any]]:
    gate = state_of(request).runtime.approvals
    return [r.to_json() for r in await gate.list(status=status, run_id=run)]


@router.post(
    "/{approval_id}",
    response_model=ApprovalInfo,
    summary="Allow or deny a pending request (optionally saving the decision by scope)",
    description="A decided request is final: deciding it again is a 409 naming its outcome. A request past "
    "its deadline (approval.timeout_secs) is denied, and so is a 409.",
    responses=responses(400, 404, 409, 413, 415, 422),
)
async def decide(approval_id: str, body: ApprovalDecisionRequest, request: Request) -> dict[str, Any]:
    gate = state_of(request).runtime.approvals
    try:
        record = await gate.decide(approval_id, allow=body.decision == "allow", scope=body.scope, reason=body.reason)
    except NotFound as exc:
        raise ApiError(404, exc.message, exc.hint) from None
    return record.to_json()
