"""A server's sampling request (``sampling/createMessage``), answered by the model of the agent whose call the
server is serving, within that agent's per-call token budget."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from axocoatl.core.errors import AxocoatlError
from axocoatl.core.messages import ChatMessage
from axocoatl.providers.base import ChatRequest, complete, estimate_prompt_tokens
from axocoatl.store.records import LedgerEntry, WriteBatch

if TYPE_CHECKING:
    import mcp_types as types
    from mcp.client.session import SamplingFnT

    from axocoatl.protocols.mcp.client import MCPConnection
    from axocoatl.runtime.runtime import Runtime


def sampling_via(runtime: Runtime, connection: MCPConnection) -> SamplingFnT:
    import mcp_types as types  # the MCP SDK is loaded once a connection exists; not before

    async def sample(context: Any, params: types.CreateMessageRequestParams) -> Any:
        caller = connection.caller()
        agent = runtime.config.agent(caller.agent_id) if caller is not None else None
        if agent is None:
            return _refuse("sampling is answered only while an agent's call to this server runs")
        messages = [ChatMessage.system(params.system_prompt)] if params.system_prompt else []
        for message in params.messages:
            blocks = message.content if isinstance(message.content, list) else [message.content]
            if not all(isinstance(b, types.TextContent) for b in blocks):
                return _refuse("only text messages can be sampled")
            text = "\n".join(b.text for b in blocks if isinstance(b, types.TextContent))
            messages.append(ChatMessage.user(text) if message.role == "user" else ChatMessage.assistant(text))
        try:
            provider = runtime.provider(agent.provider)
            model = agent.model or provider.default_model()
            request = ChatRequest(
                model=model,
                messages=tuple(messages),
                max_tokens=params.max_tokens,
                temperature=params.temperature,
                metadata={"agent_id": agent.id, "options": agent.options},
            )
            if agent.token_budget is not None:
                room = agent.token_budget.per_call - estimate_prompt_tokens(request, runtime.counter)
                if room <= 0:
                    return _refuse(f"the request is over agent '{agent.id}''s per_call budget")
                request = dataclasses.replace(request, max_tokens=min(params.max_tokens, room))
            response = await complete(provider, request)
        except AxocoatlError as exc:
            return _refuse(f"agent '{agent.id}''s model failed: {exc}")
        # The spend is the calling agent's: it shows in its ledger and counts against its hourly and daily budgets.
        usage = response.usage
        spent_in = usage.input if usage is not None else estimate_prompt_tokens(request, runtime.counter)
        spent_out = usage.output if usage is not None else runtime.counter.count(response.content)
        entry = LedgerEntry(
            agent_id=agent.id,
            input=spent_in,
            output=spent_out,
            ts=runtime.clock.now(),
            kind="mcp_sampling",
            run_id=caller.run_id if caller is not None else None,
            provider=response.provider or provider.name,
            model=response.model or model,
        )
        await runtime.store.write(WriteBatch(ledger=[entry]))
        stop = "maxTokens" if response.finish_reason == "length" else "endTurn"
        return types.CreateMessageResult(
            role="assistant",
            content=types.TextContent(type="text", text=response.content),
            model=model,
            stop_reason=stop,
        )

    return sample


def _refuse(message: str) -> types.ErrorData:
    import mcp_types as types

    return types.ErrorData(code=types.INVALID_REQUEST, message=message)
