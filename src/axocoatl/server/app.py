"""The FastAPI application: routes, error bodies and the middleware stack.

Request path through the middleware, outermost first: security headers → CORS (allow-list;
none when empty) → access log → Host/Origin checks → rate limit → auth → body size limit →
routes. Rate limiting comes before auth so guessing keys is limited too; the Host check
comes first of all so a DNS-rebinding page learns nothing, not even whether auth is on.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from axocoatl import __version__
from axocoatl.config.schema import ServerConfig
from axocoatl.server.a2a import A2AEndpoints
from axocoatl.server.auth import PUBLIC_PATHS, AuthMiddleware
from axocoatl.server.browser import BrowserGuardMiddleware, SecurityHeadersMiddleware
from axocoatl.server.errors import install_error_handlers
from axocoatl.server.middleware import AccessLogMiddleware, BodyLimitMiddleware, RateLimitMiddleware
from axocoatl.server.routes import (
    a2a,
    agent_memory,
    agents,
    approvals,
    events,
    health,
    hooks,
    mcp,
    memory,
    openai,
    pages,
    run_graph,
    runs,
    schedules,
    skills,
    tokens,
    webhooks,
    workflows,
    ws,
)
from axocoatl.server.state import ServerState

DESCRIPTION = """The HTTP and WebSocket API of an axocoatl daemon (`axocoatl dev` / `axocoatl serve`).

Every error is JSON: `{"error": "...", "hint": "..."}`. When `server.auth` has keys, every
route except `/health` needs `x-api-key: KEY` or `Authorization: Bearer TOKEN`.
See docs/api.md for the WebSocket frames."""


def create_app(state: ServerState, server: ServerConfig) -> FastAPI:
    """The app for one running runtime; ``state`` is shared with the daemon that owns the runtime."""
    app = FastAPI(
        title="axocoatl",
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,  # served by routes/pages.py, with a Content-Security-Policy
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    app.state.axocoatl = state
    install_error_handlers(app)
    for module in (
        health,
        agents,
        workflows,
        runs,
        skills,
        schedules,
        tokens,
        memory,
        mcp,
        events,
        approvals,
        ws,
        pages,
        openai,
        a2a,
        webhooks,
        hooks,
        agent_memory,
        run_graph,
    ):
        app.include_router(module.router)
    app.state.a2a = A2AEndpoints(state)
    app.mount("/a2a", app.state.a2a)
    # MCP over streamable HTTP: the project's agents and workflows as tools (docs/mcp.md); its sessions
    # are served by state.mcp_endpoint.run(), a task of the daemon.
    from starlette.routing import Route

    from axocoatl.server.mcp_server import MCPEndpoint

    state.mcp_endpoint = MCPEndpoint(state.runtime)
    app.router.routes.append(Route("/mcp", endpoint=state.mcp_endpoint, methods=["GET", "POST", "DELETE"]))

    # add_middleware wraps: the last added runs first.
    app.add_middleware(BodyLimitMiddleware, max_bytes=lambda: state.settings.max_body_bytes)
    app.add_middleware(
        AuthMiddleware, credentials=lambda: state.settings.credentials, session_valid=state.sessions.valid
    )
    app.add_middleware(RateLimitMiddleware, settings=lambda: state.settings.rate_limit, exempt=PUBLIC_PATHS)
    app.add_middleware(BrowserGuardMiddleware, hosts=lambda: state.settings.hosts, cors_origins=server.cors_origins)
    app.add_middleware(AccessLogMiddleware)
    if server.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(server.cors_origins),
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["content-type", "authorization", "x-api-key"],
            max_age=600,
        )
    app.add_middleware(SecurityHeadersMiddleware)
    return app
