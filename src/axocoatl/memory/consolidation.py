"""Sleep-time consolidation: an idle agent's recent activity is distilled into its core-memory blocks.

One pass asks the agent's own model (temperature 0, at most 800 reply tokens,
budget-checked) for a JSON array of block edits and applies the valid ones to the
agent's LOCAL blocks. It only promotes: it never deletes log entries, memories or
checkpoints, and never touches shared blocks. The edits, a daily-log entry, the
ledger entry and the checkpoint commit in one transaction.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, replace
from typing import Any

from axocoatl.config.schema import AgentConfig
from axocoatl.core.errors import ToolError
from axocoatl.core.messages import ChatMessage, TokenUsage
from axocoatl.memory import daily_log
from axocoatl.memory.core import CoreBlock, CoreMemory
from axocoatl.memory.prompts import CONSOLIDATION_SYSTEM
from axocoatl.providers.base import ChatRequest, Provider, complete, estimate_prompt_tokens
from axocoatl.store import LedgerEntry, LogRecord
from axocoatl.tokens.budget import BudgetUsage, plan_call
from axocoatl.tokens.counter import TokenCounter

log = logging.getLogger(__name__)

MAX_TOKENS = 800
RECENT_ENTRIES = 20


@dataclass
class ConsolidationResult:
    status: str  # done, skipped, failed
    reason: str = ""
    promoted: int = 0  # append / set edits applied
    rewritten: int = 0  # replace edits applied
    rejected: list[str] = field(default_factory=list)  # why each bad edit was skipped
    usage: TokenUsage = field(default_factory=TokenUsage)

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "reason": self.reason,
            "promoted": self.promoted,
            "rewritten": self.rewritten,
            "rejected": self.rejected,
            "usage": self.usage.to_dict(),
        }


def prompt(blocks: list[CoreBlock], activity: list[LogRecord]) -> str:
    shown = []
    for block in blocks:
        limit = f"limit {block.limit} chars" if block.limit else "no limit"
        shown.append(f"### {block.label} ({limit})\n{block.value or '(empty)'}")
    entries = "\n---\n".join(daily_log.preview(r, 1500) for r in activity)
    return f"Core-memory blocks:\n{chr(10).join(shown)}\n\nRecent activity:\n{entries}\n\nJSON edit array:"


def parse_edits(text: str) -> list[Any] | None:
    """The reply as a JSON array: the whole text, else its first '[' to its last ']'."""
    text = text.strip()
    for candidate in (text, text[text.find("[") : text.rfind("]") + 1] if "[" in text else ""):
        if not candidate:
            continue
        try:
            value = json.loads(candidate)
        except json.JSONDecodeError:
            continue
        if isinstance(value, list):
            return value
    return None


async def ask_model(
    *,
    agent: AgentConfig,
    provider: Provider,
    model: str,
    text: str,
    counter: TokenCounter,
    spent_before: BudgetUsage,
) -> tuple[str, TokenUsage]:
    """One budget-checked, non-streaming-equivalent call; raises BudgetExceeded / provider errors."""
    request = ChatRequest(
        model=model,
        messages=(ChatMessage.system(CONSOLIDATION_SYSTEM), ChatMessage.user(text)),
        temperature=0.0,
        metadata={"agent_id": agent.id, "options": agent.options, "purpose": "consolidation"},
    )
    prompt_tokens = estimate_prompt_tokens(request, counter)
    decision = plan_call(
        agent.token_budget,
        agent_id=agent.id,
        prompt_tokens=prompt_tokens,
        usage=spent_before,
        requested_reply=MAX_TOKENS,
    )
    if decision.warning:  # overflow_policy: warn
        log.warning(decision.warning)
    response = await complete(provider, replace(request, max_tokens=min(decision.max_reply_tokens, MAX_TOKENS)))
    return response.content, response.usage or TokenUsage(prompt_tokens, counter.count(response.content))


def apply_edits(core: CoreMemory, edits: list[Any], result: ConsolidationResult) -> list[tuple[CoreBlock, str]]:
    """Validate each edit against the LOCAL blocks; returns the (block, new value) to write, in order."""
    local = {b.label: b for b in core.blocks if not b.shared}
    staged: dict[str, str] = {}  # label -> value after the edits so far (edits build on each other)
    for n, edit in enumerate(edits):
        try:
            if not isinstance(edit, dict):
                raise ToolError("an edit must be a JSON object")
            label = edit.get("block")
            if label not in local:
                raise ToolError(f"unknown or shared block {label!r}")
            block = local[str(label)]
            # Validate against the value the earlier edits of this pass produced. The swap is
            # undone before any await, so no other task ever sees the staged value.
            original = block.value
            block.value = staged.get(block.label, original)
            try:
                op = edit.get("op")
                if op == "append":
                    _, value = core.plan_append(label, edit.get("text"))
                elif op == "replace":
                    _, value = core.plan_replace(label, edit.get("old"), edit.get("new", ""))
                elif op == "set":
                    _, value = core.plan_set(label, edit.get("value"))
                else:
                    raise ToolError(f"unknown op {op!r} (use append, replace or set)")
            finally:
                block.value = original
        except ToolError as exc:
            result.rejected.append(f"edit {n}: {exc.message}")
            continue
        staged[block.label] = value
        if op == "replace":
            result.rewritten += 1
        else:
            result.promoted += 1
    return [(local[label], value) for label, value in staged.items() if value != local[label].value]


def ledger_entry(agent: AgentConfig, provider: Provider, model: str, usage: TokenUsage, now: float) -> LedgerEntry:
    return LedgerEntry(
        agent_id=agent.id,
        input=usage.input,
        output=usage.output,
        ts=now,
        kind="consolidation",
        provider=provider.name,
        model=model,
    )
