"""The memory tools an agent owns: recall_search and the three core-memory edits.

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
LOG_ENTRIES = 40  # the most recent entries of the days asked for
# Every agent owns these (the core-memory ones when it has blocks), whatever its `tools:` allow-list says.
MEMORY_TOOL_NAMES = frozenset(MEMORY_TOOLS)


def memory_tools(memory: AgentMemory) -> dict[str, Tool]:
    tools = [_recall_search(memory)]
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

    # One tool for both ways of remembering (a second schema cost every call ~70 tokens): by meaning
    # (query), by day (from/to: the activity log of those days), or by meaning within those days.
    async def handler(args: dict[str, Any], ctx: ToolContext) -> Any:
        query = args.get("query")
        if query is not None and not isinstance(query, str):
            raise ToolError(f"recall_search: 'query' must be a string, got {query!r}")
        days = daily_log.parse_range(args)
        if not (query and query.strip()):
            if days is None:
                raise ToolError(
                    "recall_search needs a 'query' (what you want to remember), or 'from' and 'to' dates "
                    "(YYYY-MM-DD) to read your activity log of those days, or both"
                )
            return await _read_log(memory, *days)
        k = _clamp_k(args.get("k"), recall.top_k)
        await memory.ensure_loaded()
        window = daily_log.day_window(*days) if days else None
        found = await memory.semantic.search(query, k, recall.min_score, between=window)
        result: dict[str, Any] = {"date_range": f"{days[0]}..{days[1]}"} if days else {}
        result["count"] = len(found)
        result["results"] = [{"text": r.text, "score": round(r.score, 4), "timestamp": iso(r.ts)} for r in found]
        return result

    return Tool(
        "recall_search",
        "Search your memory by meaning (query) and/or day (from, to: YYYY-MM-DD).",
        {
            "type": "object",
            "properties": {
                "query": {"type": "string"},
                # Lenient on purpose: small models send "5"; out-of-range values are clamped, not refused.
                "k": {"type": ["integer", "string"]},
                "from": {"type": "string"},
                "to": {"type": "string"},
            },
        },
        handler,
        source="memory",
    )


async def _read_log(memory: AgentMemory, first: str, last: str) -> dict[str, Any]:
    entries, total = await memory.store.read_log(memory.agent_id, first_day=first, last_day=last, limit=LOG_ENTRIES)
    return {
        "date_range": f"{first}..{last}",
        "count": len(entries),
        "truncated": total > len(entries),
        "entries": [{"timestamp": iso(e.ts), "type": e.entry_type, "content": daily_log.preview(e)} for e in entries],
    }


def _core_tools(memory: AgentMemory) -> list[Tool]:
    labels = [b.label for b in memory.config.memory.core.blocks]
    block_param = {"type": "string", "enum": labels}

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
            "Save a durable fact in core memory (always in your context).",
            {
                "type": "object",
                "properties": {"block": block_param, "text": {"type": "string"}},
                "required": ["block", "text"],
            },
            append,
            effect="write",
            transactional=True,
            source="memory",
        ),
        Tool(
            "core_memory_replace",
            "Replace exact text in a core-memory block (new may be empty).",
            {
                "type": "object",
                "properties": {
                    "block": block_param,
                    "old": {"type": "string"},
                    "new": {"type": "string"},
                },
                "required": ["block", "old", "new"],
            },
            replace,
            effect="write",
            transactional=True,
            source="memory",
            offered=memory.core_has_content,  # nothing to replace or rewrite in empty blocks
        ),
        Tool(
            "core_memory_set",
            "Rewrite a core-memory block.",
            {
                "type": "object",
                "properties": {"block": block_param, "value": {"type": "string"}},
                "required": ["block", "value"],
            },
            set_value,
            effect="write",
            transactional=True,
            source="memory",
            offered=memory.core_has_content,  # nothing to replace or rewrite in empty blocks
        ),
    ]
