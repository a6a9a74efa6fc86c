"""/api/mcp: the configured MCP servers (status, last error), their tools, and restarting one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Query, Request

from axocoatl.server.errors import not_found, responses
from axocoatl.server.models import MCPServerInfo, MCPToolInfo
from axocoatl.server.state import ServerState, state_of

if TYPE_CHECKING:
    from axocoatl.protocols.mcp.client import MCPConnection

router = APIRouter(prefix="/api/mcp", tags=["mcp"])


def _server(state: ServerState, name: str) -> MCPConnection:
    connection = state.runtime.mcp.get(name)
    if connection is None:
        names = list(state.runtime.mcp.connections)
        raise not_found("MCP server", name, names, "GET /api/mcp/servers lists them")
    return connection


@router.get("/servers", response_model=list[MCPServerInfo], summary="The configured MCP servers and their status")
async def servers(request: Request) -> list[dict[str, Any]]:
    return [s.to_json() for s in state_of(request).runtime.mcp.states()]


@router.get(
    "/tools", response_model=list[MCPToolInfo], summary="Tools offered by MCP servers", responses=responses(404)
)
async def tools(
    request: Request, server: str | None = Query(None, max_length=200, description="Only this server.")
) -> list[dict[str, Any]]:
    state = state_of(request)
    if server is not None:
        return _server(state, server).state.tools_json()
    return [tool for s in state.runtime.mcp.states() for tool in s.tools_json()]


@router.post(
    "/servers/{name}/restart",
    response_model=MCPServerInfo,
    summary="Restart an MCP server (a failed one: try again now); answers once it is up or has failed",
    responses=responses(404),
)
async def restart(name: str, request: Request) -> dict[str, Any]:
    return (await _server(state_of(request), name).restart_and_wait()).to_json()
