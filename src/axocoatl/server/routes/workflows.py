"""/api/workflows: list them and start a run (202 at once, or ?wait=true for the finished run)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from axocoatl.server.errors import not_found, responses
from axocoatl.server.models import RunInfo, RunStarted, WorkflowExecuteRequest, WorkflowInfo
from axocoatl.server.routes.agents import refuse_if_draining
from axocoatl.server.state import state_of
from axocoatl.server.views import workflow_json

router = APIRouter(prefix="/api/workflows", tags=["workflows"])


@router.get("", response_model=list[WorkflowInfo], summary="The configured workflows")
async def list_workflows(request: Request) -> list[dict[str, Any]]:
    return [workflow_json(w) for w in state_of(request).runtime.config.workflows]


@router.post(
    "/{workflow_id}/execute",
    status_code=202,
    response_model=RunStarted,
    summary="Start a workflow run",
    description="Returns `{run_id, status}` at once (202). With `?wait=true` the request waits for the run "
    "to end and returns the run JSON (200, as GET /api/runs/{id}); a client that gives up does not stop the run.",
    responses={
        **responses(400, 404, 413, 415, 422, 503),
        200: {"model": RunInfo, "description": "The finished run (?wait=true)"},
    },
)
async def execute_workflow(
    workflow_id: str,
    body: WorkflowExecuteRequest,
    request: Request,
    wait: bool = Query(False, description="Wait for the run to end and return it."),
) -> Any:
    state = state_of(request)
    rt = state.runtime
    if rt.config.workflow(workflow_id) is None:
        known = [w.id for w in rt.config.workflows]
        raise not_found("workflow", workflow_id, known, "GET /api/workflows lists them")
    refuse_if_draining(state)
    run_id, task = await rt.start_workflow(workflow_id, body.input)
    if not wait:
        return {"run_id": run_id, "workflow_id": workflow_id, "status": "running"}
    # Shielded: the run belongs to the runtime, not to this request.
    run = await asyncio.shield(task)
    return JSONResponse(run.to_json(), status_code=200)
