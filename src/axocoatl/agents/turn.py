"""One turn of an agent: request → budget pre-flight → streaming call → tool loop.

The turn does no database writes itself: it returns the messages to append and the
ledger entries to record, and the actor commits them in one transaction.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace

from axocoatl.config.schema import AgentConfig
from axocoatl.core.events import CallFinished, StreamSink, TextChunk
from axocoatl.core.ids import Clock
from axocoatl.core.messages import AgentInput, AgentOutput, ChatMessage, TokenUsage, ToolCallRecord
from axocoatl.providers.base import (
    ChatRequest,
    ChatResponse,
    Provider,
    ResponseAccumulator,
    TextDelta,
    estimate_prompt_tokens,
)
from axocoatl.store.records import LedgerEntry, WriteBatch
from axocoatl.tokens.budget import BudgetDecision, BudgetUsage, plan_call
from axocoatl.tokens.counter import TokenCounter
from axocoatl.tools.pipeline import ToolPipeline

log = logging.getLogger(__name__)
MAX_TOOL_ROUNDS = 10


@dataclass
class TurnSetup:
    """Everything a turn needs, assembled by the actor."""

    agent: AgentConfig
    provider: Provider
    model: str
    tools: ToolPipeline
    history: Sequence[ChatMessage]
    clock: Clock
    counter: TokenCounter
    run_id: str | None = None
    spent_before: BudgetUsage = field(default_factory=BudgetUsage)  # run and day spend before this turn
    # Memory context appended to the system prompt; a callable is re-rendered before every
    # request, so core-memory edits made by a tool are visible to the next request of the turn.
    system_context: str | Callable[[], str] = ""
    sink: StreamSink | None = None
    prior_usage: TokenUsage = field(default_factory=TokenUsage)  # spent before the turn (context summary)
    prior_calls: int = 0
    # Shared budgets: (prompt tokens, wanted reply, spent in this execution) -> decision and the id of
    # the reservation it made; release drops a reservation whose call failed before any spend.
    reserve: Callable[[int, int, int], Awaitable[tuple[BudgetDecision, int]]] | None = None
    release: Callable[[int], Awaitable[None]] | None = None


@dataclass
class TurnResult:
    output: AgentOutput
    new_messages: list[ChatMessage]
    ledger: list[LedgerEntry] = field(default_factory=list)
    writes: WriteBatch = field(default_factory=WriteBatch)  # staged by transactional tools (core memory)


class TurnFailed(Exception):
    """Wraps the error that ended a turn, with the spend made before it (still recorded)."""

    def __init__(self, error: BaseException, ledger: list[LedgerEntry]) -> None:
        super().__init__(str(error))
        self.error = error
        self.ledger = ledger


async def run_turn(setup: TurnSetup, agent_input: AgentInput) -> TurnResult:
    """Run one turn. Raises TurnFailed carrying the original error and the spend so far."""
    ledger: list[LedgerEntry] = []
    try:
        return await _run(setup, agent_input, ledger)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        raise TurnFailed(exc, ledger) from exc


async def _run(setup: TurnSetup, agent_input: AgentInput, ledger: list[LedgerEntry]) -> TurnResult:
    agent = setup.agent
    prompt = agent_input.system_override or agent.system_prompt
    context = setup.system_context
    history = list(agent_input.history) if agent_input.stateless else list(setup.history)
    user = ChatMessage.user(agent_input.content)
    conversation: list[ChatMessage] = [*history, user]
    new_messages: list[ChatMessage] = [user]
    journal = setup.tools.journal
    model = agent_input.model_override or setup.model
    caps = setup.provider.capabilities(model)
    wanted_reply = agent.sampling.max_tokens or caps.max_output_tokens
    records: list[ToolCallRecord] = []
    spent = setup.prior_usage
    calls = setup.prior_calls

    for round_no in range(MAX_TOOL_ROUNDS + 1):
        recorded = journal.reply(round_no) if journal is not None and not agent_input.stateless else None
        if recorded is not None:
            # A resumed step: this round's reply was recorded before the crash; follow it, no new call.
            content, tool_calls = recorded
            asked = ChatMessage.assistant(content, tool_calls=tool_calls)
            results = await setup.tools.run_round(round_no, tool_calls)
            records.extend(results)
            tool_messages = [ChatMessage.tool(r.result, tool_call_id=r.id, name=r.name) for r in results]
            conversation.extend([asked, *tool_messages])
            new_messages.extend([asked, *tool_messages])
            continue
        tools = setup.tools.toolbox.specs()  # per request: a tool call can make another one available
        system = _system_prompt(prompt, context() if callable(context) else context)
        messages = (ChatMessage.system(system), *conversation) if system else tuple(conversation)
        request = ChatRequest(
            model=model,
            messages=messages,
            tools=tools,
            temperature=agent.sampling.temperature,
            top_p=agent.sampling.top_p,
            response_format=agent.sampling.response_format,
            metadata={"agent_id": agent.id, "options": agent.options},
        )
        prompt_tokens = estimate_prompt_tokens(request, setup.counter)
        reservation = None
        if setup.reserve is not None:
            # Shared budgets (per_run, per_day): decided and reserved inside one transaction, so
            # concurrent turns and other processes never overspend them together.
            decision, reservation = await setup.reserve(prompt_tokens, wanted_reply, spent.total)
        else:
            decision = plan_call(
                agent.token_budget,
                agent_id=agent.id,
                prompt_tokens=prompt_tokens,
                usage=BudgetUsage(
                    execution=spent.total,
                    run=setup.spent_before.run + spent.total,
                    day=setup.spent_before.day + spent.total,
                ),
                requested_reply=wanted_reply,
            )
        if decision.warning:
            log.warning("%s (overflow_policy: warn, continuing)", decision.warning)
        request = replace(request, max_tokens=decision.max_reply_tokens)
        try:
            response = await _call(setup, request)
        except BaseException:
            if reservation is not None and setup.release is not None:
                await asyncio.shield(setup.release(reservation))
            raise
        calls += 1
        usage = _usage_of(response, prompt_tokens, setup.counter)
        spent = spent + usage
        ledger.append(
            LedgerEntry(
                agent_id=agent.id,
                input=usage.input,
                output=usage.output,
                ts=setup.clock.now(),
                kind="turn" if round_no == 0 else "tool_followup",
                run_id=setup.run_id,
                provider=response.provider or setup.provider.name,
                model=response.model or model,
                reservation=reservation,
            )
        )
        if setup.sink:
            setup.sink(CallFinished(usage, response.model or model))

        if not response.tool_calls or agent_input.stateless:
            final = ChatMessage.assistant(response.content)
            break
        if round_no == MAX_TOOL_ROUNDS:
            note = f"[stopped: the model still asked for tools after {MAX_TOOL_ROUNDS} rounds]"
            final = ChatMessage.assistant(f"{response.content}\n{note}".strip())
            break
        asked = ChatMessage.assistant(response.content, tool_calls=response.tool_calls)
        if journal is not None:
            await journal.record_reply(round_no, response.content, response.tool_calls)
        results = await setup.tools.run_round(round_no, response.tool_calls)
        records.extend(results)
        tool_messages = [ChatMessage.tool(r.result, tool_call_id=r.id, name=r.name) for r in results]
        conversation.extend([asked, *tool_messages])
        new_messages.extend([asked, *tool_messages])

    new_messages.append(final)
    output = AgentOutput(content=final.content, usage=spent, tool_calls=tuple(records), llm_calls=calls)
    return TurnResult(
        output=output,
        new_messages=[] if agent_input.stateless else new_messages,
        ledger=ledger,
        writes=setup.tools.writes,
    )


def _system_prompt(prompt: str | None, context: str) -> str:
    parts = [p for p in (prompt, context) if p]
    return "\n\n".join(parts)


async def _call(setup: TurnSetup, request: ChatRequest) -> ChatResponse:
    acc = ResponseAccumulator(setup.provider.name)
    sink = setup.sink
    async for event in setup.provider.stream(request):
        acc.add(event)
        if sink is not None and isinstance(event, TextDelta) and event.text:
            sink(TextChunk(event.text))
    return acc.response()


def _usage_of(response: ChatResponse, prompt_tokens: int, counter: TokenCounter) -> TokenUsage:
    """The provider's reported usage; our own count when it reported none (or zeros), so budgets still hold."""
    if response.usage is not None and response.usage.total > 0:
        return response.usage
    output = counter.count(response.content) + sum(
        counter.count(call.name) + counter.count(json.dumps(call.arguments)) for call in response.tool_calls
    )
    return TokenUsage(prompt_tokens, output)
