"""POST /hooks/{name}: inbound triggers. Verified by the trigger's own secret or key, not by server.auth."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from axocoatl.core.errors import NotFound, Unauthorized
from axocoatl.server.errors import ApiError, responses
from axocoatl.server.models import RunStarted
from axocoatl.server.routes.agents import refuse_if_draining
from axocoatl.server.state import state_of

router = APIRouter(tags=["triggers"])


@router.post(
    "/hooks/{name}",
    status_code=202,
    response_model=RunStarted,
    summary="Start a trigger's run with this request as its input (answered at once with the run id)",
    description="Signed (`x-axocoatl-timestamp`, `x-axocoatl-signature: sha256=HMAC(secret, "
    "'<timestamp>.<body>')`) or with the trigger's API key (`x-api-key`); see docs/automations.md.",
    responses=responses(401, 404, 409, 503),
)
async def fire(name: str, request: Request) -> Any:
    state = state_of(request)
    refuse_if_draining(state)
    body = await request.body()
    try:
        run_id, _ = await state.runtime.fire_trigger(name, body, dict(request.headers))
    except Unauthorized as exc:
        raise ApiError(401, exc.message, exc.hint) from None
    except NotFound as exc:
        raise ApiError(404, exc.message, exc.hint) from None
    record = await state.runtime.get_run(run_id)
    content = {"run_id": run_id, "workflow_id": record.workflow_id, "status": "running", "trigger": record.trigger}
    return JSONResponse(content, status_code=202)
