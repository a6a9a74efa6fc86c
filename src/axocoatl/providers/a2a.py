"""The ``a2a`` provider: an agent (or workflow step) whose model is a remote A2A agent (``model: NAME``).

The last user message goes to the remote agent of ``a2a_agents`` named by the model; its
reply streams back as the turn's text, so a workflow step on a remote agent shows it live.
The remote reports no usage (it spends its own tokens), so the ledger records our count of
the text exchanged, as for any provider that reports none: budgets still hold. A conversation
(thread) keeps one contextId, so the remote continues its side of it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from axocoatl.config.schema import A2AAgentConfig
from axocoatl.core.errors import ModelNotFound, ProviderResponseError, ProviderUnavailable, RemoteAgentError
from axocoatl.protocols.a2a.client import Reply, context_for, remote_agent
from axocoatl.providers.base import ChatRequest, Done, ProviderCapabilities, StreamEvent, TextDelta


class A2AProvider:
    name = "a2a"

    def __init__(self, agents: list[A2AAgentConfig]) -> None:
        self._remotes = {a.name: remote_agent(a) for a in agents}

    def default_model(self) -> str:
        return next(iter(self._remotes), "")

    def capabilities(self, model: str) -> ProviderCapabilities:
        return ProviderCapabilities(tool_calling=False, json_mode=False, max_context_tokens=1_000_000)

    async def aclose(self) -> None:
        return None

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        remote = self._remotes.get(request.model)
        if remote is None:
            known = ", ".join(self._remotes) or "none"
            raise ModelNotFound(
                f"no remote A2A agent '{request.model}'",
                provider=self.name,
                hint=f"with provider: a2a, model names an entry of a2a_agents (known: {known})",
            )
        users = [m.content for m in request.messages if m.role == "user"]
        text = users[-1] if users else ""
        agent = str(request.metadata.get("agent_id", ""))
        context = context_for(agent, users[0] if users else "")
        chunks: asyncio.Queue[str | None] = asyncio.Queue()

        async def send() -> Reply:
            try:
                return await remote.send(text, context_id=context, on_text=chunks.put_nowait)
            finally:
                chunks.put_nowait(None)

        task = asyncio.ensure_future(send())
        try:
            # The client's pieces join to exactly the reply (also across a retry): they are the reply.
            while (chunk := await chunks.get()) is not None:
                yield TextDelta(chunk)
            await task
        except RemoteAgentError as exc:
            kind = ProviderUnavailable if exc.retryable else ProviderResponseError
            raise kind(exc.message, provider=self.name, hint=exc.hint) from None
        finally:
            if not task.done():
                task.cancel()  # the turn was cancelled: the client cancels the remote task
                await asyncio.gather(task, return_exceptions=True)
        yield Done("stop")
