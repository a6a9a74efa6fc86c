"""The names of the tools this version ships, for the layers below ``tools`` (config validation).

tools/builtins.py and memory/tools.py define the tools themselves; a test keeps these names equal to theirs.
"""

from __future__ import annotations

import re

__all__ = [
    "BUILTIN_TOOLS",
    "CORE_MEMORY_TOOLS",
    "MCP_PREFIX",
    "MCP_TOOLS",
    "MEMORY_TOOLS",
    "RECALL_TOOLS",
    "RETIRED_TOOLS",
    "mcp_tool_name",
    "mcp_tool_server",
]

BUILTIN_TOOLS = (
    "echo",
    "json_keys",
    "text_split",
    "read_file",
    "write_file",
    "edit_file",
    "list_dir",
    "grep",
    "glob",
    "bash",
    "bash_background",
    "task_output",
    "task_kill",
    "http_fetch",
    "web_search",
    "ask_human",
)
# Every agent owns the memory tools while its memory.tools is on (the core-memory ones when it has blocks).
RECALL_TOOLS = ("recall_search",)
CORE_MEMORY_TOOLS = ("core_memory_append", "core_memory_replace", "core_memory_set")
MEMORY_TOOLS = RECALL_TOOLS + CORE_MEMORY_TOOLS
# Tools earlier versions shipped: name -> (the tool that does its work now, how). Validation tells a
# config that still names one what to write instead.
RETIRED_TOOLS = {
    "recall_timeframe": ("recall_search", "recall_search with 'from'/'to' dates reads the activity log of those days"),
}

# MCP servers' tools are mcp__{server}__{tool}; resources and prompts of every server come through these two.
MCP_PREFIX = "mcp__"
MCP_TOOLS = ("mcp_read_resource", "mcp_get_prompt")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
# Providers accept tool names of at most 64 characters from [A-Za-z0-9_-] (OpenAI's rule, the strictest).
MAX_TOOL_NAME = 64


def mcp_tool_name(server: str, tool: str) -> str:
    """The name agents call an MCP tool by: characters providers refuse become ``_``, cut to 64."""
    return (MCP_PREFIX + server + "__" + _UNSAFE.sub("_", tool))[:MAX_TOOL_NAME]


def mcp_tool_server(name: str) -> str | None:
    """The server part of ``mcp__{server}__{tool}`` (a glob stays a glob), or None for other names."""
    if not name.startswith(MCP_PREFIX):
        return None
    server, _, _ = name[len(MCP_PREFIX) :].partition("__")
    return server or None
