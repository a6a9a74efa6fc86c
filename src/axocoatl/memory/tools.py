"""The memory tools an agent owns: recall_search, recall_timeframe and the three core-memory edits.

Bad arguments raise ToolError with a message written for the model (what was wrong and
what to send instead); the turn returns it to the model as the tool's result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from axocoatl.core.errors import ToolError
from axocoatl.core.ids import iso
from axocoatl.core.tool_names import MEMORY_TOOLS
from axocoatl.memory import daily_log
from axocoatl.tools.context import ToolContext
from axocoatl.tools.registry import Tool

if TYPE_CHECKING:
    from axocoatl.memory.agent_memory import AgentMemory

MAX_K = 20
TIMEFRAME_ENTRIES = 40
# Every agent owns these (the core-memory ones when it has blocks), whatever its `tools:` allow-list says.
MEMORY_TOOL_NAMES = frozenset(MEMORY_TOOLS)


def memory_tools(memory: AgentMemory) -> dict[str, Tool]:
    tools = [_recall_search(memory), _recall_timeframe(memory)]
    if memory.config.memory.core.blocks:
        tools.extend(_core_tools(memory))
    return {tool.name: tool for tool in tools}


def _clamp_k(value: object, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        k = int(str(value).strip()) if not isinstance(value, bool) else default
    except ValueError as exc:
        raise ToolError(f"recall_search: 'k' must be a whole number from 1 to {MAX_K}, got {value!r}") from exc
    return max(1, min(MAX_K, k))


def _recall_search(memory: AgentMemory) -> Tool:
    recall = memory.config.memory.recall

    async def handler(args: dict[str, Any], ctx: ToolContext) -> Any:
        query = args.get("query")
        if not isinstance(query, str) or not query.strip():
            raise ToolError("recall_search needs a non-empty 'query' string: what you want to remember")
        k = _clamp_k(args.get("k"), recall.top_k)
        await memory.ensure_loaded()
        found = await memory.semantic.search(query, k, recall.min_score)
        return {
            "count": len(found),
            "results": [{"text": r.text, "score": round(r.score, 4), "timestamp": iso(r.ts)} for r in found],
        }

    return Tool(
        "recall_search",
        "Search your long-term memory of past conversations by meaning. Returns the most relevant past "
        "exchanges with a similarity score. Use it before saying you don't know or don't remember.",
        {
            "type": "object",
            "properties": {
                "query": {"type": "string", "description": "What to look for, in natural language."},
                # Lenient on purpose: small models send "5"; out-of-range values are clamped, not refused.
                "k": {"type": ["integer", "string"], "description": f"How many results, 1 to {MAX_K}."},
            },
            "required": ["query"],
        },
        handler,
        source="memory",
    )


def _recall_timeframe(memory: AgentMemory) -> Tool:
    async def handler(args: dict[str, Any], ctx: ToolContext) -> Any:
        first, last = daily_log.parse_range(args)
        entries, total = await memory.store.read_log(
            memory.agent_id, first_day=first, last_day=last, limit=TIMEFRAME_ENTRIES
        )
        return {
            "date_range": f"{first}..{last}",
            "count": len(entries),
            "truncated": total > len(entries),
            "entries": [
                {"timestamp": iso(e.ts), "type": e.entry_type, "content": daily_log.preview(e)} for e in entries
            ],
        }

    return Tool(
        "recall_timeframe",
        "Read your activity log (conversations, tool calls, archived context) for one day or a date range "
        f"of at most {daily_log.MAX_RANGE_DAYS} days; returns the most recent {TIMEFRAME_ENTRIES} entries.",
        {
            "type": "object",
            "properties": {
                "date": {"type": "string", "description": "One day, YYYY-MM-DD."},
                "from": {"type": "string", "description": "First day of a range, YYYY-MM-DD."},
                "to": {"type": "string", "description": "Last day of a range, YYYY-MM-DD."},
            },
        },
        handler,
        source="memory",
    )


def _core_tools(memory: AgentMemory) -> list[Tool]:
    labels = [b.label for b in memory.config.memory.core.blocks]
    block_param = {"type": "string", "enum": labels, "description": "Label of the block to edit."}

    # An edit is applied in memory at once (the turn's next request shows it) and its row commits with
    # the turn: a turn that never commits (a crash) never applied it, so its resumed run applies it once.
    async def append(args: dict[str, Any], ctx: ToolContext) -> Any:
        core = await memory.core_memory()
        block, value = core.plan_append(args.get("block"), args.get("text"))
        return core.stage(block, value, ctx.writes, ctx.undo)

    async def replace(args: dict[str, Any], ctx: ToolContext) -> Any:
        core = await memory.core_memory()
        block, value = core.plan_replace(args.get("block"), args.get("old"), args.get("new", ""))
        return core.stage(block, value, ctx.writes, ctx.undo)

    async def set_value(args: dict[str, Any], ctx: ToolContext) -> Any:
        core = await memory.core_memory()
        block, value = core.plan_set(args.get("block"), args.get("value"))
        return core.stage(block, value, ctx.writes, ctx.undo)

    return [
        Tool(
            "core_memory_append",
            "Add a line to one of your core-memory blocks (always visible to you). Use it for durable facts.",
            {
                "type": "object",
                "properties": {"block": block_param, "text": {"type": "string", "description": "Text to add."}},
                "required": ["block", "text"],
            },
            append,
            effect="write",
            transactional=True,
            source="memory",
        ),
        Tool(
            "core_memory_replace",
            "Replace the first occurrence of exact text in a core-memory block ('new' may be empty to delete).",
            {
                "type": "object",
                "properties": {
                    "block": block_param,
                    "old": {"type": "string", "description": "Exact text currently in the block."},
                    "new": {"type": "string", "description": "Replacement text."},
                },
                "required": ["block", "old", "new"],
            },
            replace,
            effect="write",
            transactional=True,
            source="memory",
        ),
        Tool(
            "core_memory_set",
            "Rewrite a core-memory block entirely (use to reorganise or tighten it).",
            {
                "type": "object",
                "properties": {"block": block_param, "value": {"type": "string", "description": "New content."}},
                "required": ["block", "value"],
            },
            set_value,
            effect="write",
            transactional=True,
            source="memory",
        ),
    ]
