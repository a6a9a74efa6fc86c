"""GET /health (public): is the daemon up, how many agents, which version."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from axocoatl.server.errors import responses
from axocoatl.server.models import Health
from axocoatl.server.state import state_of

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health, summary="Liveness and basic facts (no auth)")
async def health(request: Request) -> Health:
    state = state_of(request)
    return Health(
        status="draining" if state.draining else "healthy",
        agents=len(state.runtime.agents),
        version=state.version,
    )


@router.get("/health/live", summary="Always 200 while the process serves (no auth)")
async def live() -> dict[str, str]:
    return {"status": "live"}


@router.get(
    "/health/ready",
    summary="200 when the daemon accepts work, else 503 (no auth)",
    responses=responses(503),
)
async def ready(request: Request) -> JSONResponse:
    state = state_of(request)
    if state.draining:
        return JSONResponse({"error": "the daemon is shutting down", "hint": None}, status_code=503)
    return JSONResponse({"status": "ready", "agents": len(state.runtime.agents)})
