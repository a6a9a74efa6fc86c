"""Context compaction: when a request would pass 85 % of the model's window, older turns become a summary.

The agent's own provider writes the summary (budget-checked, ledgered as "summary").
The raw turns were archived to the daily log before the summarizer is called, and
they stay in session_messages and in semantic memory, so compaction loses nothing:
it only changes what the next requests carry.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace

from axocoatl.config.schema import AgentConfig
from axocoatl.core.errors import AxocoatlError
from axocoatl.core.ids import Clock
from axocoatl.core.messages import ChatMessage, TokenUsage
from axocoatl.memory.prompts import SUMMARIZER_SYSTEM
from axocoatl.providers.base import ChatRequest, Provider, complete, estimate_prompt_tokens
from axocoatl.store import LedgerEntry
from axocoatl.tokens.budget import BudgetUsage, plan_call
from axocoatl.tokens.counter import TokenCounter

log = logging.getLogger(__name__)

TRIGGER_FRACTION = 0.85  # compact when the request passes this share of the context window
KEEP_FRACTION = 0.40  # the recent turns kept verbatim take at most this share of the target
SUMMARY_MAX_TOKENS = 1024
SUMMARY_FRACTION = 0.15  # on small windows the summary may take at most this share of the target
TRANSCRIPT_FRACTION = 0.60  # the summarizer's transcript fits in this share of the window
MESSAGE_MAX_TOKENS = 2000  # one message's share of the transcript (long tool output is cut)


def summary_reserve(target: int) -> int:
    """Tokens set aside for the summary (its reply cap), so the compacted request fits the window."""
    return max(64, min(SUMMARY_MAX_TOKENS, int(target * SUMMARY_FRACTION)))


def cut_index(messages: Sequence[ChatMessage], counts: Sequence[int], keep_tokens: int) -> int:
    """Where the kept tail begins: the newest turns within ``keep_tokens``, starting at a user message.

    Returns 0 when nothing can be cut (e.g. a single huge turn).
    """
    kept = 0
    start = len(messages)
    while start > 0 and kept + counts[start - 1] <= keep_tokens:
        start -= 1
        kept += counts[start]
    # At least the last user turn stays, even if it alone is larger than the allowance.
    last_user = max((i for i, m in enumerate(messages) if m.role == "user"), default=0)
    start = min(start, last_user)
    while start < len(messages) and messages[start].role != "user":
        start += 1
    return start if start < len(messages) else 0


def transcript(previous: str, messages: Sequence[ChatMessage], counter: TokenCounter, max_tokens: int) -> str:
    """The summarizer's input: the previous summary, then "Role: text" lines, newest kept if too long."""
    lines: list[str] = []
    used = 0
    for message in reversed(messages):
        text = message.content
        if message.tool_calls:
            calls = ", ".join(f"{c.name}({c.arguments})" for c in message.tool_calls)
            text = f"{text}\n[called {calls}]".strip()
        line = f"{message.role.capitalize()}: {counter.truncate(text, MESSAGE_MAX_TOKENS)}"
        cost = counter.count(line)
        if used + cost > max_tokens:
            lines.append("[… earlier messages omitted here; they are in the daily log]")
            break
        lines.append(line)
        used += cost
    body = "\n".join(reversed(lines))
    if previous:
        return f"Previous summary:\n{previous}\n\nNewer conversation:\n{body}"
    return f"Conversation:\n{body}"


@dataclass
class Summary:
    text: str
    usage: TokenUsage
    ledger: list[LedgerEntry]
    calls: int


async def summarize(
    *,
    agent: AgentConfig,
    provider: Provider,
    model: str,
    text: str,
    counter: TokenCounter,
    clock: Clock,
    spent_before: BudgetUsage,
    run_id: str | None,
    max_tokens: int = SUMMARY_MAX_TOKENS,
) -> Summary | None:
    """Ask the agent's provider for a summary; None when the budget refuses it or the call fails."""
    request = ChatRequest(
        model=model,
        messages=(ChatMessage.system(SUMMARIZER_SYSTEM), ChatMessage.user(text)),
        temperature=0.0,
        metadata={"agent_id": agent.id, "options": agent.options, "purpose": "summary"},
    )
    prompt_tokens = estimate_prompt_tokens(request, counter)
    try:
        decision = plan_call(
            agent.token_budget,
            agent_id=agent.id,
            prompt_tokens=prompt_tokens,
            usage=spent_before,
            requested_reply=max_tokens,
        )
        if decision.warning:  # overflow_policy: warn
            log.warning(decision.warning)
        response = await complete(provider, replace(request, max_tokens=decision.max_reply_tokens))
    except AxocoatlError as exc:
        # A refused or failed summary must not fail the turn: the caller trims instead.
        log.warning("agent %s: context summary failed, trimming instead: %s", agent.id, exc)
        return None
    usage = response.usage or TokenUsage(prompt_tokens, counter.count(response.content))
    entry = LedgerEntry(
        agent_id=agent.id,
        input=usage.input,
        output=usage.output,
        ts=clock.now(),
        kind="summary",
        run_id=run_id,
        provider=provider.name,
        model=model,
    )
    summary = response.content.strip()
    if not summary:
        log.warning("agent %s: the model returned an empty summary; trimming instead", agent.id)
        return Summary("", usage, [entry], 1)
    return Summary(summary, usage, [entry], 1)


def trimmed_note(previous: str, dropped: int) -> str:
    """The summary used when no model summary could be made: the old one plus a pointer to recall."""
    note = (
        f"[{dropped} earlier messages were trimmed from the live context to save space; "
        "they are kept in the daily log and in searchable memory]"
    )
    return f"{previous}\n{note}" if previous else note
