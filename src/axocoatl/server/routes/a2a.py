"""The daemon's A2A agent card at the well-known paths (the endpoints themselves: server/a2a.py)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from axocoatl.server.a2a import CARD_PATH, OLD_CARD_PATH, A2AEndpoints, a2a_card_json
from axocoatl.server.errors import ApiError

router = APIRouter(tags=["a2a"])


def endpoints_of(request: Request) -> A2AEndpoints:
    endpoints: A2AEndpoints = request.app.state.a2a
    return endpoints


@router.get(CARD_PATH, summary="The A2A agent card (1.0, with the 0.3 fields); public")
@router.get(OLD_CARD_PATH, summary="The A2A agent card at the path 0.2 clients fetch; public")
async def agent_card(request: Request) -> JSONResponse:
    card = endpoints_of(request).root_card(request.scope)
    if card is None:
        raise ApiError(404, "this daemon exposes no A2A agent", "set a2a.enabled: true and a2a.expose in axocoatl.yaml")
    return JSONResponse(a2a_card_json(card))
