"""/api/skills: list them and fire one (its events run every agent reacting to them, as a run)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from axocoatl.server.errors import not_found
from axocoatl.server.models import RunStarted, SkillFireRequest, SkillInfo
from axocoatl.server.routes.agents import refuse_if_draining
from axocoatl.server.routes.runs import RUN_START_DOC, WAIT, run_start_responses, start_run
from axocoatl.server.state import state_of

router = APIRouter(prefix="/api/skills", tags=["skills"])


@router.get("", response_model=list[SkillInfo], summary="The configured skills")
async def list_skills(request: Request) -> list[dict[str, Any]]:
    return [s.model_dump() for s in state_of(request).runtime.config.skills]


@router.post(
    "/{skill_id}/fire",
    status_code=202,
    response_model=RunStarted,
    summary="Fire a skill: publish its events and run every agent that reacts to them",
    description=RUN_START_DOC
    + "\n\n409 when no agent holds a skill reacting to the events this skill emits (the config needs one).",
    responses=run_start_responses(400, 404, 409, 413, 415, 422, 503),
)
async def fire_skill(request: Request, skill_id: str, body: SkillFireRequest | None = None, wait: bool = WAIT) -> Any:
    state = state_of(request)
    rt = state.runtime
    known = [s.id for s in rt.config.skills]
    if skill_id not in known:
        raise not_found("skill", skill_id, known, "GET /api/skills lists them")
    refuse_if_draining(state)
    task = body.input if body is not None else ""
    return await start_run(state, request, lambda: rt.fire_skill(skill_id, task), wait=wait)
