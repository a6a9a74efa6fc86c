"""providers.X.max_concurrency: at most that many calls to one provider at once, across agents."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from axocoatl.config.schema import AxocoatlConfig
from axocoatl.core.messages import ChatMessage
from axocoatl.providers.base import (
    ChatRequest,
    ConcurrencyCapped,
    Done,
    ProviderCapabilities,
    StreamEvent,
    TextDelta,
    complete,
)
from axocoatl.runtime.runtime import Runtime


class Slow:
    name = "slow"

    def __init__(self) -> None:
        self.in_flight = 0
        self.most = 0

    def default_model(self) -> str:
        return "m"

    def capabilities(self, model: str) -> ProviderCapabilities:
        return ProviderCapabilities()

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        try:
            await asyncio.sleep(0.05)
            yield TextDelta("ok")
            yield Done()
        finally:
            self.in_flight -= 1

    async def aclose(self) -> None:
        return None


async def test_a_capped_provider_makes_at_most_its_limit_of_calls_at_once() -> None:
    inner = Slow()
    capped = ConcurrencyCapped(inner, 2)
    request = ChatRequest("m", (ChatMessage.user("hi"),))
    answers = await asyncio.gather(*(complete(capped, request) for _ in range(6)))
    assert [a.content for a in answers] == ["ok"] * 6
    assert inner.most == 2


async def test_the_runtime_caps_a_provider_that_sets_max_concurrency(tmp_path: Path) -> None:
    config = AxocoatlConfig.model_validate(
        {
            "providers": {"openai": {"api_key": "sk-test", "base_url": "http://127.0.0.1:9/v1", "max_concurrency": 3}},
            "agents": [{"id": "a", "provider": "openai"}],
        }
    )
    async with Runtime(config, data_dir=tmp_path / "data") as rt:
        assert isinstance(rt.provider("openai"), ConcurrencyCapped)
