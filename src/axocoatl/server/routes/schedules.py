"""/api/schedules: each schedule's next fire and last outcome; run one now, pause and resume."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from axocoatl.config.schema import ScheduleConfig
from axocoatl.server.errors import not_found, responses
from axocoatl.server.models import RunStarted, ScheduleInfo
from axocoatl.server.routes.agents import refuse_if_draining
from axocoatl.server.routes.runs import RUN_START_DOC, WAIT, run_start_responses, start_run
from axocoatl.server.state import ServerState, state_of

router = APIRouter(prefix="/api/schedules", tags=["schedules"])


def _schedule(state: ServerState, schedule_id: str) -> ScheduleConfig:
    schedules = state.runtime.config.schedules
    found = next((s for s in schedules if s.id == schedule_id), None)
    if found is None:
        raise not_found("schedule", schedule_id, [s.id for s in schedules], "GET /api/schedules lists them")
    return found


@router.get("", response_model=list[ScheduleInfo], summary="The schedules: next fire, last outcome, run count")
async def list_schedules(request: Request) -> list[dict[str, Any]]:
    return [view.to_json() for view in await state_of(request).runtime.scheduler.views()]


@router.post(
    "/{schedule_id}/run",
    status_code=202,
    response_model=RunStarted,
    summary="Run a schedule's target now, with its input (its next fire stays as it is)",
    description=RUN_START_DOC,
    responses=run_start_responses(404, 409, 503),
)
async def run_schedule(schedule_id: str, request: Request, wait: bool = WAIT) -> Any:
    state = state_of(request)
    _schedule(state, schedule_id)
    refuse_if_draining(state)
    return await start_run(state, request, lambda: state.runtime.scheduler.run_now(schedule_id), wait=wait)


@router.post(
    "/{schedule_id}/pause",
    response_model=ScheduleInfo,
    summary="Pause a schedule (in every process of the project, until resumed)",
    responses=responses(404, 409),
)
async def pause_schedule(schedule_id: str, request: Request) -> dict[str, Any]:
    state = state_of(request)
    _schedule(state, schedule_id)
    return (await state.runtime.scheduler.set_paused(schedule_id, True)).to_json()


@router.post(
    "/{schedule_id}/resume",
    response_model=ScheduleInfo,
    summary="Resume a paused schedule: it next fires at its first slot from now",
    responses=responses(404, 409),
)
async def resume_schedule(schedule_id: str, request: Request) -> dict[str, Any]:
    state = state_of(request)
    _schedule(state, schedule_id)
    return (await state.runtime.scheduler.set_paused(schedule_id, False)).to_json()
