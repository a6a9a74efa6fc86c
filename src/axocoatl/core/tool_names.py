"""The names of the tools this version ships, for the layers below ``tools`` (config validation).

tools/builtins.py and memory/tools.py define the tools themselves; a test keeps these names equal to theirs.
"""

from __future__ import annotations

__all__ = ["BUILTIN_TOOLS", "CORE_MEMORY_TOOLS", "MEMORY_TOOLS", "RECALL_TOOLS"]

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
)
# Every agent owns the memory tools while its memory.tools is on (the core-memory ones when it has blocks).
RECALL_TOOLS = ("recall_search", "recall_timeframe")
CORE_MEMORY_TOOLS = ("core_memory_append", "core_memory_replace", "core_memory_set")
MEMORY_TOOLS = RECALL_TOOLS + CORE_MEMORY_TOOLS
