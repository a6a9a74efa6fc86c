"""/api/runs: list, show (the stable run JSON) and resume runs."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from axocoatl.core.errors import UsageError
from axocoatl.server.errors import ApiError, not_found, responses
from axocoatl.server.models import RunInfo, RunStarted, RunSummary
from axocoatl.server.routes.agents import refuse_if_draining
from axocoatl.server.state import ServerState, state_of
from axocoatl.server.views import run_summary_json
from axocoatl.store import RunRecord

router = APIRouter(prefix="/api/runs", tags=["runs"])


@router.get("", response_model=list[RunSummary], summary="Recent runs, newest first")
async def list_runs(
    request: Request,
    limit: int = Query(20, ge=1, le=1000, description="How many runs."),
    workflow: str | None = Query(None, max_length=200, description="Only runs of this workflow."),
    status: str | None = Query(
        None, pattern="^(running|completed|failed|interrupted)$", description="Only runs with this status."
    ),
) -> list[dict[str, Any]]:
    rt = state_of(request).runtime
    # Interrupted runs are stored as running: filter after computing liveness.
    stored = "running" if status == "interrupted" else status
    runs = [rt.with_liveness(r) for r in await rt.store.list_runs(limit=limit, workflow_id=workflow, status=stored)]
    if status is not None:
        runs = [r for r in runs if r.status == status]
    return [run_summary_json(r) for r in runs]


async def find_run(state: ServerState, run_id: str) -> RunRecord:
    rt = state.runtime
    record = await rt.store.get_run(run_id)
    if record is None:
        recent = [r.run_id for r in await rt.store.list_runs(limit=200)]
        raise not_found("run", run_id, recent, "GET /api/runs lists recent runs")
    return rt.with_liveness(record)


@router.get(
    "/{run_id}",
    response_model=RunInfo,
    summary="One run with its steps (the JSON of `axocoatl runs show --json`)",
    responses=responses(404),
)
async def get_run(run_id: str, request: Request) -> dict[str, Any]:
    return (await find_run(state_of(request), run_id)).to_json()


@router.post(
    "/{run_id}/resume",
    status_code=202,
    response_model=RunStarted,
    summary="Finish an interrupted run or retry a failed one (completed steps never run again)",
    responses=responses(404, 409, 503),
)
async def resume_run(run_id: str, request: Request) -> dict[str, Any]:
    state = state_of(request)
    run = await find_run(state, run_id)
    refuse_if_draining(state)
    try:
        await state.runtime.start_resume(run_id)
    except UsageError as exc:
        raise ApiError(409, exc.message, exc.hint or f"the run is {run.status}") from None
    return {"run_id": run_id, "workflow_id": run.workflow_id, "status": "running"}
