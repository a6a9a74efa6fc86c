"""The words memory puts in front of models: capability hints, the summarizer and consolidation prompts.

They follow the original's (§6.4-§6.7) so models that learned to use its tools behave
the same here. Hints name only the tools an agent actually has.
"""

from __future__ import annotations

RECALL_HEADER = "## Relevant memory from past sessions"
SUMMARY_HEADER = "## Summary of earlier conversation"


def core_memory_hint(labels: list[str]) -> str:
    return (
        "## Core memory\n"
        f"You maintain editable memory blocks ({', '.join(labels)}), shown above under Core Memory. "
        "When you learn a durable fact about yourself, the user, or the project, update the relevant block "
        "with `core_memory_append` / `core_memory_replace` (or rewrite it with `core_memory_set`). "
        "Keep them accurate and concise; don't store ephemeral, task-scoped detail."
    )


def recall_hint(search: bool, timeframe: bool) -> str:
    parts = []
    if search:
        parts.append("use `recall_search` to look up past sessions and earlier context")
    if timeframe:
        parts.append("`recall_timeframe` to read a specific day's activity log")
    if not parts:
        return ""
    return (
        "## Recall\n"
        "You have memory beyond this conversation. Before saying you don't know or don't remember "
        f"something the user refers to, {', and '.join(parts)}."
    )


POST_COMPACTION_HINT = (
    "## Earlier context\n"
    "Older turns in this conversation were summarized above to save space. "
    "Use `recall_search` to retrieve specifics that aren't in the summary."
)

SUMMARIZER_SYSTEM = (
    "You compress a conversation transcript into a compact summary that will replace the older turns "
    "in an AI agent's working context. Preserve the goals, constraints, decisions, key facts (names, "
    "numbers, identifiers, file paths, dates), and open questions; drop pleasantries and repetition. "
    "Write in third person, past tense, as short paragraphs or bullet points. If a previous summary is "
    "given, fold it in: the result must stand on its own. Output only the summary."
)

CONSOLIDATION_SYSTEM = (
    "You are a memory manager for an AI agent. The agent keeps core-memory blocks that are always in its "
    "context. Read its recent activity and promote DURABLE facts into the blocks: stable facts about the "
    "agent itself (persona), the user it serves (human), and the project (project) — preferences, names, "
    "decisions, conventions. Ignore ephemeral, task-scoped detail. Merge duplicates and tighten wording, "
    "staying within each block's character limit. Never remove a fact that is still true.\n\n"
    "Output ONLY a JSON array of edits ([] if nothing should change). Each edit is one of:\n"
    '  {"op": "append", "block": "<label>", "text": "<new line>"}\n'
    '  {"op": "replace", "block": "<label>", "old": "<exact existing text>", "new": "<replacement>"}\n'
    '  {"op": "set", "block": "<label>", "value": "<whole new content>"}'
)
