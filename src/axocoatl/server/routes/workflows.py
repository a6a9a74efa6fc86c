"""/api/workflows: list them and start a run (202 at once, ?wait=true, or streamed as SSE)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request

from axocoatl.server.errors import not_found
from axocoatl.server.models import RunStarted, WorkflowExecuteRequest, WorkflowInfo
from axocoatl.server.routes.agents import refuse_if_draining
from axocoatl.server.routes.runs import RUN_START_DOC, WAIT, run_start_responses, start_run
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
    description=RUN_START_DOC,
    responses=run_start_responses(400, 404, 409, 413, 415, 422, 503),
)
async def execute_workflow(workflow_id: str, body: WorkflowExecuteRequest, request: Request, wait: bool = WAIT) -> Any:
    state = state_of(request)
    rt = state.runtime
    if rt.config.workflow(workflow_id) is None:
        known = [w.id for w in rt.config.workflows]
        raise not_found("workflow", workflow_id, known, "GET /api/workflows lists them")
    refuse_if_draining(state)
    workspace = Path(body.workspace) if body.workspace is not None else None
    return await start_run(
        state, request, lambda: rt.start_workflow(workflow_id, body.input, workspace=workspace), wait=wait
    )
