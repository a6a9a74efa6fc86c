"""A small MCP server on the official SDK for the client tests: what the reference servers cannot do on cue.

python tests/protocols/scripted_server.py [--http PORT | --sse PORT] [--pid-file PATH]

Tools: add (read-only), ask (an elicitation), think (sampling), note (a side effect: appends to NOTES, an env
var's file), grow (adds a tool and sends tools/list_changed), whoami (the request's Authorization header),
steps (progress), shout (a logging notification).
"""

from __future__ import annotations

import argparse
import os
import warnings
from pathlib import Path

import mcp_types
from mcp.server.mcpserver import Context, MCPServer
from mcp.shared.exceptions import MCPDeprecationWarning
from mcp_types import ToolAnnotations

server = MCPServer("scripted", version="1.0")


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def add(a: int, b: int) -> str:
    """Add two integers."""
    return str(a + b)


@server.tool()
def note(text: str) -> str:
    """Append a line to the notes file."""
    with open(os.environ["NOTES"], "a") as handle:
        handle.write(text + "\n")
    return "noted"


@server.tool()
async def grow(name: str, ctx: Context) -> str:
    """Add a tool called NAME that answers its own name."""

    def answer() -> str:
        return f"I am {name}"

    server.add_tool(answer, name=name, description=f"the grown tool {name}")
    await ctx.request_context.session.send_tool_list_changed()
    return f"grew {name}"


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def whoami(ctx: Context) -> str:
    """The Authorization and X-Trace headers this request carried."""
    headers = ctx.headers or {}
    return f"auth={headers.get('authorization')} trace={headers.get('x-trace')}"


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
async def steps(count: int, ctx: Context) -> str:
    """Report progress COUNT times."""
    for step in range(count):
        await ctx.report_progress(step + 1, count, f"step {step + 1}")
    return f"{count} steps"


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
async def shout(text: str, ctx: Context) -> str:
    """Send TEXT to the client as a warning-level logging notification."""
    with warnings.catch_warnings():  # deprecated for 2026-07-28 only; this server speaks the handshake revisions
        warnings.simplefilter("ignore", MCPDeprecationWarning)
        await ctx.log("warning", text, logger_name="scripted.shout")
    return "shouted"


@server.tool()
async def ask(defaults: bool, ctx: Context) -> str:
    """Ask the user for a colour (with a default, or without one)."""
    colour: dict[str, object] = {"type": "string", "description": "a colour"}
    if defaults:
        colour["default"] = "blue"
    schema = {"type": "object", "properties": {"colour": colour}, "required": ["colour"]}
    result = await ctx.request_context.session.elicit_form("Which colour?", schema, ctx.request_id)
    return f"{result.action} {result.content}"


@server.tool()
async def think(prompt: str, ctx: Context) -> str:
    """Ask the client's model about PROMPT (sampling)."""
    message = mcp_types.SamplingMessage(role="user", content=mcp_types.TextContent(type="text", text=prompt))
    session = ctx.request_context.session
    result = await session.create_message([message], max_tokens=50, related_request_id=ctx.request_id)
    text = result.content.text if isinstance(result.content, mcp_types.TextContent) else str(result.content)
    return f"sampled: {text}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", type=int, default=None)
    parser.add_argument("--sse", type=int, default=None, help="the legacy HTTP+SSE transport on this port")
    parser.add_argument("--pid-file", default=None)
    args = parser.parse_args()
    if args.pid_file:
        Path(args.pid_file).write_text(str(os.getpid()))
    if args.http is not None:
        server.run("streamable-http", host="127.0.0.1", port=args.http)
    elif args.sse is not None:
        server.run("sse", host="127.0.0.1", port=args.sse)
    else:
        server.run()


if __name__ == "__main__":
    main()
