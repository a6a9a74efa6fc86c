"""FallbackProvider: the next provider takes over on RateLimited / ProviderUnavailable, before any output."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from axocoatl.core.errors import AuthenticationFailed, ProviderError, ProviderUnavailable, RateLimited
from axocoatl.core.messages import ChatMessage
from axocoatl.providers.base import (
    ChatRequest,
    Done,
    Provider,
    ProviderCapabilities,
    StreamEvent,
    TextDelta,
    complete,
)
from axocoatl.providers.http import FallbackProvider


@dataclass
class Scripted:
    """A provider that either answers with its name or raises ``error`` (after ``partial`` text)."""

    name: str
    model: str
    error: ProviderError | None = None
    partial: str = ""
    seen_models: list[str] = field(default_factory=list)
    closed: bool = False

    def default_model(self) -> str:
        return self.model

    def capabilities(self, model: str) -> ProviderCapabilities:
        return ProviderCapabilities(max_context_tokens=len(self.name) * 1000)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        self.seen_models.append(request.model)
        if self.partial:
            yield TextDelta(self.partial)
        if self.error is not None:
            raise self.error
        yield TextDelta(f"from {self.name}")
        yield Done()

    async def aclose(self) -> None:
        self.closed = True


REQUEST = ChatRequest("gpt-4o-mini", (ChatMessage.user("hi"),))


async def test_is_a_provider() -> None:
    chain = FallbackProvider(Scripted("openai", "gpt-4o-mini"), [Scripted("anthropic", "claude")])
    assert isinstance(chain, Provider)
    assert chain.name == "openai"
    assert chain.default_model() == "gpt-4o-mini"
    assert chain.capabilities("x").max_context_tokens == 6000


async def test_primary_answers_when_it_can() -> None:
    backup = Scripted("anthropic", "claude")
    reply = await complete(FallbackProvider(Scripted("openai", "gpt-4o-mini"), [backup]), REQUEST)
    assert reply.content == "from openai"
    assert backup.seen_models == []


@pytest.mark.parametrize("error", [RateLimited("429", retry_after=5), ProviderUnavailable("503")])
async def test_falls_back_with_the_fallbacks_own_model(error: ProviderError) -> None:
    primary = Scripted("openai", "gpt-4o-mini", error=error)
    backup = Scripted("anthropic", "claude-x")
    reply = await complete(FallbackProvider(primary, [backup]), REQUEST)
    assert reply.content == "from anthropic"
    assert primary.seen_models == ["gpt-4o-mini"]
    assert backup.seen_models == ["claude-x"]


async def test_walks_the_whole_chain_and_raises_the_last_error() -> None:
    first = Scripted("openai", "a", error=RateLimited("first"))
    second = Scripted("mistral", "b", error=ProviderUnavailable("second"))
    third = Scripted("gemini", "c", error=RateLimited("third"))
    with pytest.raises(RateLimited, match="third"):
        await complete(FallbackProvider(first, [second, third]), REQUEST)
    assert [p.seen_models for p in (first, second, third)] == [["gpt-4o-mini"], ["b"], ["c"]]


async def test_other_errors_are_not_fallen_back_from() -> None:
    backup = Scripted("anthropic", "claude")
    with pytest.raises(AuthenticationFailed):
        await complete(FallbackProvider(Scripted("openai", "m", error=AuthenticationFailed("key")), [backup]), REQUEST)
    assert backup.seen_models == []


async def test_no_fallback_once_output_reached_the_caller() -> None:
    primary = Scripted("openai", "m", error=ProviderUnavailable("late"), partial="half an answer")
    backup = Scripted("anthropic", "claude")
    with pytest.raises(ProviderUnavailable):
        await complete(FallbackProvider(primary, [backup]), REQUEST)
    assert backup.seen_models == []


async def test_aclose_closes_every_provider() -> None:
    providers = [Scripted("a", "1"), Scripted("b", "2"), Scripted("c", "3")]
    await FallbackProvider(providers[0], providers[1:]).aclose()
    assert all(p.closed for p in providers)


async def test_the_answer_says_which_fallback_gave_it() -> None:
    primary = Scripted("openai", "gpt-4o-mini", error=RateLimited("slow down", provider="openai"))
    chain = FallbackProvider(primary, [Scripted("anthropic", "claude-haiku")])
    response = await complete(chain, REQUEST)
    assert (response.provider, response.model) == ("anthropic", "claude-haiku")
    assert (await complete(FallbackProvider(Scripted("openai", "m"), []), REQUEST)).provider is None
