"""/api/mcp: MCP servers and their tools (empty until the MCP client lands)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from axocoatl.server.models import MCPServerInfo, MCPToolInfo

router = APIRouter(prefix="/api/mcp", tags=["mcp"])


@router.get("/servers", response_model=list[MCPServerInfo], summary="Connected MCP servers")
async def servers() -> list[dict[str, Any]]:
    return []


@router.get("/tools", response_model=list[MCPToolInfo], summary="Tools offered by MCP servers")
async def tools(server: str | None = Query(None, max_length=200, description="Only this server.")) -> list[Any]:
    return []
