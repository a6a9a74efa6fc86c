"""MCP servers as a tool source: each server's tools as ``mcp__{server}__{tool}``, and its resources and
prompts through ``mcp_read_resource`` / ``mcp_get_prompt``, kept in step with what the servers list.

A server's tools stay registered while it restarts (a call waits for it to come back), so an agent's
toolbox does not flicker; they change only when the server lists different ones.
"""

from __future__ import annotations

import fnmatch
import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from axocoatl.core.errors import ToolError
from axocoatl.core.tool_names import mcp_tool_name
from axocoatl.protocols.mcp.clients import MCPClients
from axocoatl.protocols.mcp.state import Caller, RemoteTool
from axocoatl.tools.approval import ApprovalGate
from axocoatl.tools.context import ToolContext
from axocoatl.tools.registry import Tool, ToolRegistry

if TYPE_CHECKING:
    import mcp_types as types
    from mcp.client.session import ElicitationFnT

    from axocoatl.protocols.mcp.client import MCPConnection

log = logging.getLogger(__name__)

# (server, payload, context of the call): the progress of a call, for the event bus.
ProgressSink = Callable[[str, dict[str, Any], ToolContext], None]
_SHARED = "mcp"


class MCPToolSource:
    """Keeps ``registry`` showing what ``clients``' servers offer; call ``sync`` on every change."""

    def __init__(self, registry: ToolRegistry, clients: MCPClients, *, on_progress: ProgressSink | None = None) -> None:
        self.registry = registry
        self.clients = clients
        self.on_progress = on_progress
        self._refused: set[str] = set()  # names already reported as taken

    def sync(self, connection: MCPConnection) -> None:
        state = connection.state
        source = f"mcp:{connection.name}"
        if self.clients.get(connection.name) is not connection:  # removed from the config
            self.registry.replace_source(source, [])
        elif state.status == "connected" or state.tools:
            tools = [self._tool(connection, remote) for remote in state.tools]
            for name in self.registry.replace_source(source, tools):
                if name not in self._refused:
                    self._refused.add(name)
                    log.warning(
                        "MCP server %s: tool %s is not offered: another tool has that name", connection.name, name
                    )
        self.registry.replace_source(_SHARED, self._shared_tools())

    def _tool(self, connection: MCPConnection, remote: RemoteTool) -> Tool:
        async def handler(arguments: dict[str, Any], ctx: ToolContext) -> Any:
            def progress(done: float, total: float | None, message: str | None) -> None:
                if self.on_progress is not None:
                    payload = {"tool": remote.name, "progress": done, "total": total, "message": message}
                    self.on_progress(connection.name, payload, ctx)

            caller = Caller(ctx.agent_id, ctx.run_id, ctx.thread)
            result = await connection.call_tool(
                remote.name, arguments, read_only=remote.read_only, progress=progress, caller=caller
            )
            return render_result(result, connection.name, remote.name)

        return Tool(
            name=mcp_tool_name(connection.name, remote.name),
            description=remote.description or f"{remote.name} (from MCP server {connection.name})",
            parameters=remote.input_schema,
            handler=handler,
            effect="read" if remote.read_only else "external",
            timeout_secs=connection.config.timeout_secs,
            source=f"mcp:{connection.name}",
            requires_approval=needs_approval(connection.config.requires_approval, connection.name, remote.name),
        )

    def _shared_tools(self) -> list[Tool]:
        states = [c.state for c in self.clients.connections.values()]
        with_resources = {s.name: s.resources for s in states if s.resources}
        with_prompts = {s.name: s.prompts for s in states if s.prompts}
        tools: list[Tool] = []
        if with_resources:
            lines = [
                f"- {server}: " + ", ".join(f"{r.uri} ({r.name})" for r in resources[:20])
                for server, resources in with_resources.items()
            ]
            tools.append(
                Tool(
                    name="mcp_read_resource",
                    description="Read a resource an MCP server offers, by its URI. Resources:\n" + "\n".join(lines),
                    parameters={
                        "type": "object",
                        "properties": {
                            "server": {"type": "string", "enum": list(with_resources)},
                            "uri": {"type": "string", "description": "the resource's URI"},
                        },
                        "required": ["server", "uri"],
                        "additionalProperties": False,
                    },
                    handler=self._read_resource,
                    effect="read",
                    source=_SHARED,
                )
            )
        if with_prompts:
            lines = [
                f"- {server}: "
                + ", ".join(f"{p.name}({', '.join(p.arguments)})" if p.arguments else p.name for p in prompts[:20])
                for server, prompts in with_prompts.items()
            ]
            tools.append(
                Tool(
                    name="mcp_get_prompt",
                    description="Get a prompt an MCP server offers, filled in with arguments. Prompts:\n"
                    + "\n".join(lines),
                    parameters={
                        "type": "object",
                        "properties": {
                            "server": {"type": "string", "enum": list(with_prompts)},
                            "name": {"type": "string", "description": "the prompt's name"},
                            "arguments": {
                                "type": "object",
                                "additionalProperties": {"type": "string"},
                                "description": "the prompt's arguments, as strings",
                            },
                        },
                        "required": ["server", "name"],
                        "additionalProperties": False,
                    },
                    handler=self._get_prompt,
                    effect="read",
                    source=_SHARED,
                )
            )
        return tools

    def _connection(self, name: str) -> MCPConnection:
        connection = self.clients.get(name)
        if connection is None:
            known = ", ".join(self.clients.connections) or "none"
            raise ToolError(f"no MCP server '{name}' (servers: {known})")
        return connection

    async def _read_resource(self, arguments: dict[str, Any], ctx: ToolContext) -> Any:
        result = await self._connection(arguments["server"]).read_resource(arguments["uri"])
        return [_resource_contents(c) for c in result.contents]

    async def _get_prompt(self, arguments: dict[str, Any], ctx: ToolContext) -> Any:
        connection = self._connection(arguments["server"])
        result = await connection.get_prompt(arguments["name"], dict(arguments.get("arguments") or {}))
        return {
            "description": result.description,
            "messages": [{"role": m.role, "content": _block(m.content)} for m in result.messages],
        }


def elicitation_via(gate: ApprovalGate, connection: MCPConnection) -> ElicitationFnT:
    """A server's elicitation request as an approval request (kind ``elicitation``): a person allows or denies it.

    Allowed, a form is accepted with the defaults its schema gives (nobody types into it), and a URL
    request is accepted (the person has opened the URL); denied or unanswered, it is declined. A form
    whose required fields have no defaults cannot be answered this way: it is declined without asking.
    """
    import mcp_types as types  # the MCP SDK is loaded once a connection exists; not before

    from axocoatl.protocols.mcp.elicitation import answerable, form_fields, schema_defaults

    async def elicit(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        url = getattr(params, "url", None)
        if url is None and not answerable(params):
            log.info("MCP server %s asked for a form with required fields and no defaults: declined", connection.name)
            return types.ElicitResult(action="decline")
        caller = connection.caller()
        fields, _ = form_fields(params)
        arguments: dict[str, Any] = {"message": params.message, **({"url": url} if url else {"fields": fields})}
        decision = await gate.request(
            agent_id=caller.agent_id if caller is not None else f"mcp:{connection.name}",
            source=f"mcp:{connection.name}",
            tool="elicitation",
            arguments=arguments,
            run_id=caller.run_id if caller is not None else None,
            thread=caller.thread if caller is not None else None,
            kind="elicitation",
            message=params.message,
        )
        if not decision.allowed:
            return types.ElicitResult(action="decline")
        if url is not None:
            return types.ElicitResult(action="accept")
        return types.ElicitResult(action="accept", content=schema_defaults(params))

    return elicit


def needs_approval(setting: bool | list[str], server: str, tool: str) -> bool:
    """``requires_approval`` of a server: true (every tool), or names/globs of its tools (either name)."""
    if isinstance(setting, bool):
        return setting
    names = (tool, mcp_tool_name(server, tool))
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in setting for name in names)


def render_result(result: types.CallToolResult, server: str, tool: str) -> Any:
    """What the model sees of a tool result: its text, or its blocks as JSON (binary data summarised)."""
    blocks = [_block(b) for b in result.content]
    texts = [b for b in blocks if isinstance(b, str)]
    if result.is_error:
        message = "\n".join(texts) or json.dumps(blocks, ensure_ascii=False) or "no details"
        raise ToolError(f"MCP tool '{tool}' of server '{server}' failed: {message}")
    if len(texts) == len(blocks) and texts:
        return "\n".join(texts)
    if not blocks and result.structured_content is not None:
        return result.structured_content
    return blocks


def _block(block: Any) -> Any:
    import mcp_types as types  # only a live connection's results come here: the SDK is loaded

    if isinstance(block, types.TextContent):
        return block.text
    if isinstance(block, types.ImageContent | types.AudioContent):
        return {"type": block.type, "mime_type": block.mime_type, "bytes": len(block.data) * 3 // 4}
    if isinstance(block, types.EmbeddedResource):
        return {"type": "resource", **_resource_contents(block.resource)}
    if isinstance(block, types.ResourceLink):
        return {"type": "resource_link", "uri": block.uri, "name": block.name, "description": block.description}
    dump: Any = block.model_dump(mode="json", exclude_none=True) if hasattr(block, "model_dump") else str(block)
    return dump


def _resource_contents(contents: Any) -> dict[str, Any]:
    import mcp_types as types

    if isinstance(contents, types.TextResourceContents):
        return {"uri": contents.uri, "mime_type": contents.mime_type, "text": contents.text}
    if isinstance(contents, types.BlobResourceContents):
        return {"uri": contents.uri, "mime_type": contents.mime_type, "bytes": len(contents.blob) * 3 // 4}
    dump: dict[str, Any] = contents.model_dump(mode="json", exclude_none=True)
    return dump
