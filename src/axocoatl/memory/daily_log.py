"""Tier 2b: the append-only daily activity log of an agent (conversations, tool calls, compaction archives).

Entries are rows of ``daily_log`` written in the transaction of the turn that produced
them; ``day`` is the local calendar date, so "what did we do on Tuesday" means the
user's Tuesday. This module builds entries and renders them; it never deletes any.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime, time, timedelta
from typing import Any

from axocoatl.core.errors import ToolError
from axocoatl.core.messages import ChatMessage, ToolCallRecord
from axocoatl.store import LogEntry, LogRecord

PREVIEW_CHARS = 500
MAX_RANGE_DAYS = 31
TOOL_RESULT_CHARS = 2000  # a tool_call entry keeps this much of the result; the session row keeps all of it
# A conversation entry keeps this much of each side: the whole text lives once, in the step row
# (a workflow step) or the thread's messages (a chat), so a large input is not stored again here.
CONVERSATION_CHARS = 16_000
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def day_of(ts: float) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d")


def conversation(agent_id: str, ts: float, user: str, assistant: str, *, run_id: str | None = None) -> LogEntry:
    content: dict[str, Any] = {"user": clip(user, CONVERSATION_CHARS), "assistant": clip(assistant, CONVERSATION_CHARS)}
    if run_id:
        content["run_id"] = run_id
    return LogEntry(agent_id, ts, day_of(ts), "conversation", content)


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, saying how long it was."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text)} chars]"


def tool_call(agent_id: str, ts: float, record: ToolCallRecord) -> LogEntry:
    result = record.result
    if len(result) > TOOL_RESULT_CHARS:
        result = result[:TOOL_RESULT_CHARS] + f"… [{len(record.result)} chars]"
    content = {"name": record.name, "arguments": record.arguments, "result": result, "is_error": record.is_error}
    return LogEntry(agent_id, ts, day_of(ts), "tool_call", content)


def compaction_archive(
    agent_id: str, ts: float, messages: list[ChatMessage], first_seq: int, last_seq: int
) -> LogEntry:
    """The raw turns a compaction is about to replace by a summary, in full."""
    content = {"first_seq": first_seq, "last_seq": last_seq, "messages": [m.to_dict() for m in messages]}
    return LogEntry(agent_id, ts, day_of(ts), "compaction", content)


def consolidation_entry(agent_id: str, ts: float, content: dict[str, Any]) -> LogEntry:
    return LogEntry(agent_id, ts, day_of(ts), "consolidation", content)


def preview(record: LogRecord, limit: int = PREVIEW_CHARS) -> str:
    """A one-entry text preview, cut at ``limit`` characters."""
    c = record.content
    if record.entry_type == "conversation":
        text = f"User: {c.get('user', '')}\nAssistant: {c.get('assistant', '')}"
    elif record.entry_type == "tool_call":
        args = json.dumps(c.get("arguments", {}), ensure_ascii=False)
        text = f"{c.get('name')}({args}) -> {c.get('result', '')}"
    elif record.entry_type == "compaction":
        lines = [f"{m.get('role', '?')}: {m.get('content', '')}" for m in c.get("messages", [])]
        text = f"[archived {len(lines)} messages before compaction]\n" + "\n".join(lines)
    else:
        text = json.dumps(c, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + "…"


def parse_range(args: dict[str, Any]) -> tuple[str, str] | None:
    """(first day, last day) from recall_search's ``from``/``to`` (either alone: that one day) or ``date``;
    None when none is given. Reversed ranges are swapped."""
    if args.get("date") is not None:
        day = _parse_day(args["date"], "date")
        return day, day
    start, end = args.get("from"), args.get("to")
    if start is None and end is None:
        return None
    first = _parse_day(start if start is not None else end, "from")
    last = _parse_day(end if end is not None else start, "to")
    if first > last:
        first, last = last, first
    days = (date.fromisoformat(last) - date.fromisoformat(first)).days + 1
    if days > MAX_RANGE_DAYS:
        raise ToolError(
            f"recall_search: {first}..{last} spans {days} days; at most {MAX_RANGE_DAYS} days per call — "
            "narrow the range and call again"
        )
    return first, last


def day_window(first: str, last: str) -> tuple[float, float]:
    """The timestamps [start, end) of the local days ``first``..``last`` (the days entries are filed under)."""
    start = datetime.combine(date.fromisoformat(first), time.min).timestamp()
    end = datetime.combine(date.fromisoformat(last) + timedelta(days=1), time.min).timestamp()
    return start, end


def _parse_day(value: object, name: str) -> str:
    if not isinstance(value, str) or not _DATE.match(value.strip()):
        raise ToolError(f"recall_search: '{name}' must be a date as YYYY-MM-DD, got {value!r}")
    try:
        return date.fromisoformat(value.strip()).isoformat()
    except ValueError as exc:
        raise ToolError(f"recall_search: '{name}' is not a real date: {value!r} ({exc})") from exc
