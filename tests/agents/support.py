"""Scripted providers for the agent tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from axocoatl.core.messages import TokenUsage
from axocoatl.providers.base import ChatRequest, Done, StreamEvent, ToolCallDelta, UsageReport
from axocoatl.providers.mock import MockProvider


class GateProvider(MockProvider):
    """The mock, but every call waits at a gate the test opens; ``entered`` is set when a call waits."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.calls = 0

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        self.calls += 1
        self.entered.set()
        await self.release.wait()
        async for event in super().stream(request):
            yield event


class AlwaysToolsProvider(MockProvider):
    """A model that asks for the echo tool on every round, forever."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        self.calls += 1
        yield ToolCallDelta(index=0, id=f"call_{self.calls}", name="echo", arguments='{"text": "again"}')
        yield UsageReport(TokenUsage(10, 5))
        yield Done("tool_calls")
