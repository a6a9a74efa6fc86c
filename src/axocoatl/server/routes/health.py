"""GET /health (public): is the daemon up, how many agents, which version; /health/ready: can it take work."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from axocoatl.core.errors import StoreError
from axocoatl.runtime.cluster import NatsConnection
from axocoatl.server.errors import responses
from axocoatl.server.models import Health
from axocoatl.server.state import state_of

router = APIRouter(tags=["health"])

READY_DB_TIMEOUT_S = 3.0  # a database slower than this to answer one read makes the node not ready
READY_NATS_TIMEOUT_S = 3  # the same for a round trip to NATS (nats-py takes whole seconds)


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
    summary="200 when the daemon accepts work and its database (and NATS, in a cluster) answer, else 503 (no auth)",
    responses=responses(503),
)
async def ready(request: Request) -> JSONResponse:
    state = state_of(request)
    if state.draining:
        return JSONResponse({"error": "the daemon is shutting down", "hint": None}, status_code=503)
    try:
        # One real read: on PostgreSQL a round trip, on SQLite a lookup in the file.
        await asyncio.wait_for(state.runtime.store.get_run("__ready__"), READY_DB_TIMEOUT_S)
    except TimeoutError:
        error = f"the database did not answer within {READY_DB_TIMEOUT_S:g} s"
        return JSONResponse({"error": error, "hint": "check the database server (store.dsn)"}, status_code=503)
    except StoreError as exc:
        return JSONResponse({"error": exc.message, "hint": exc.hint}, status_code=503)
    if state.nats is not None:
        problem = await _nats_problem(state.nats)
        if problem is not None:
            hint = f"check the NATS servers ({', '.join(state.nats.servers())}); the node reconnects by itself"
            return JSONResponse({"error": problem, "hint": hint}, status_code=503)
    return JSONResponse({"status": "ready", "agents": len(state.runtime.agents)})


async def _nats_problem(nats: NatsConnection) -> str | None:
    """Why this node's NATS connection cannot carry work now, or None: a round trip (PING/PONG) proves it."""
    if nats.state != "connected":
        return f"not connected to NATS ({nats.state})"
    try:
        await nats.client.flush(timeout=READY_NATS_TIMEOUT_S)
    except Exception as exc:  # nats-py raises its own timeout and connection errors
        return f"NATS did not answer within {READY_NATS_TIMEOUT_S:g} s ({type(exc).__name__})"
    return None
