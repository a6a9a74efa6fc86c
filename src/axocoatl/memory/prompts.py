"""The words memory puts in front of models: capability hints, the summarizer and consolidation prompts.

The summarizer and consolidation prompts follow the original's (§6.4-§6.7). The hint every
call carries is one line (the original's took ~150 tokens of every request).
"""

from __future__ import annotations

RECALL_HEADER = "## Relevant memory from past sessions"
SUMMARY_HEADER = "## Summary of earlier conversation"


# The one line an agent with memory tools carries in its system prompt: every call pays for it, so it
# says only when to search (models tend to claim they don't remember); the tools' own descriptions
# say how, and core_memory_append's says what to save.
TOOLS_HINT = "Use recall_search before saying you don't remember."


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
