"""What is known of an MCP server without its SDK: its status, and the tools, resources and prompts it lists.

Kept apart from the connection (client.py) so that the runtime, the server routes and the CLI can hold
and show servers' states without loading the MCP SDK, which only a live connection needs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from axocoatl.core.tool_names import mcp_tool_name

Status = Literal["starting", "connected", "reconnecting", "failed", "stopped"]
# A server's logging notifications, for the runtime's event bus: (server, {level, logger, data}).
NoticeSink = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True)
class Caller:
    """Who a call is made for: the agent, and its run or thread."""

    agent_id: str
    run_id: str | None = None
    thread: str | None = None


@dataclass(frozen=True)
class RemoteTool:
    """A tool as the server lists it."""

    name: str
    description: str
    input_schema: dict[str, Any]
    read_only: bool


@dataclass(frozen=True)
class RemoteResource:
    uri: str
    name: str
    description: str
    mime_type: str | None = None


@dataclass(frozen=True)
class RemotePrompt:
    name: str
    description: str
    arguments: tuple[str, ...] = ()
    required: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServerState:
    """A snapshot of one server: what `axocoatl mcp servers` and /api/mcp/servers show."""

    name: str
    transport: str
    target: str
    status: Status
    tools: tuple[RemoteTool, ...] = ()
    resources: tuple[RemoteResource, ...] = ()
    prompts: tuple[RemotePrompt, ...] = ()
    last_error: str | None = None
    restarts: int = 0
    protocol_version: str | None = None
    server_name: str | None = None
    connected_since: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "transport": self.transport,
            "target": self.target,
            "status": self.status,
            "tool_count": len(self.tools),
            "resource_count": len(self.resources),
            "prompt_count": len(self.prompts),
            "last_error": self.last_error,
            "restarts": self.restarts,
            "protocol_version": self.protocol_version,
            "server_name": self.server_name,
        }

    def tools_json(self) -> list[dict[str, Any]]:
        return [
            {
                "name": mcp_tool_name(self.name, t.name),
                "server": self.name,
                "tool": t.name,
                "description": t.description,
                "effect": "read" if t.read_only else "external",
                "input_schema": t.input_schema,
            }
            for t in self.tools
        ]
