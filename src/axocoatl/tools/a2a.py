"""``a2a__{name}``: one tool per remote A2A agent of ``a2a_agents`` (docs/a2a.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from axocoatl.config.schema import A2AAgentConfig
from axocoatl.core.errors import RemoteAgentError, ToolError
from axocoatl.tools.context import ToolContext
from axocoatl.tools.registry import Tool

if TYPE_CHECKING:
    from axocoatl.protocols.a2a.client import RemoteAgent

PREFIX = "a2a__"
_PARAMETERS = {
    "type": "object",
    "properties": {
        "message": {"type": "string", "description": "What to ask or tell the remote agent."},
        "context_id": {
            "type": "string",
            "description": "Continue another conversation with it (a context_id it returned); "
            "default: the conversation of this thread or run.",
        },
    },
    "required": ["message"],
    "additionalProperties": False,
}


def tool_name(name: str) -> str:
    return PREFIX + name


def _tool(config: A2AAgentConfig) -> Tool:
    from axocoatl.protocols.a2a.client import remote_agent  # the A2A SDK: only once a remote agent is configured

    remote = remote_agent(config)

    async def call(args: dict[str, Any], ctx: ToolContext) -> Any:
        return await _send(remote, args, ctx)

    description = config.description or (
        f"Send a message to the remote agent '{config.name}' (A2A) and return its reply. "
        "It remembers the conversation of this thread."
    )
    # A few seconds beyond the client's own timeout, so the client's clearer error wins.
    return Tool(
        tool_name(config.name),
        description,
        _PARAMETERS,
        call,
        effect="external",
        timeout_secs=config.timeout_secs + 5,
        source="a2a",
    )


async def _send(remote: RemoteAgent, args: dict[str, Any], ctx: ToolContext) -> Any:
    from axocoatl.protocols.a2a.client import context_for

    context = args.get("context_id") or context_for(ctx.agent_id, ctx.thread or ctx.run_id or ctx.call_id)
    try:
        reply = await remote.send(str(args["message"]), context_id=context)
    except RemoteAgentError as exc:
        raise ToolError(str(exc)) from None
    return {"reply": reply.text, "context_id": reply.context_id or context}


def a2a_tools(agents: list[A2AAgentConfig]) -> list[Tool]:
    return [_tool(config) for config in agents]
