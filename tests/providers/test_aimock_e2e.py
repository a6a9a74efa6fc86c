"""End to end: every remote adapter against aimock on loopback, checked through aimock's request journal.

Each test sends ``X-Test-Id`` so aimock scopes its sequence counters (429 then success, ...)
and its journal to that test alone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from axocoatl.config.schema import OllamaProviderConfig, RemoteProviderConfig
from axocoatl.core.errors import ProviderResponseError, RateLimited
from axocoatl.core.messages import ChatMessage, TokenUsage, ToolSpec
from axocoatl.providers.anthropic import AnthropicProvider
from axocoatl.providers.base import ChatRequest, Done, Provider, TextDelta, complete
from axocoatl.providers.gemini import GeminiProvider
from axocoatl.providers.http import SleepFn
from axocoatl.providers.ollama import OllamaProvider
from axocoatl.providers.openai_compat import OpenAICompatProvider

KEY = "test-key-not-secret"
WEATHER = ToolSpec(
    "get_weather",
    "Current weather of a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)


def _remote(base: str, retries: int) -> RemoteProviderConfig:
    return RemoteProviderConfig(base_url=base, api_key=SecretStr(KEY), max_retries=retries)


Builder = Callable[[str, httpx.AsyncClient, SleepFn, int], Provider]


@dataclass(frozen=True)
class Target:
    name: str
    path: str  # request path prefix aimock journals
    model: str
    build: Builder
    usage: TokenUsage | None  # what aimock reports for the "say hello" fixture
    auth: tuple[str, str] | None  # (header, value) we must have sent
    raw_body: bool  # aimock journals OpenAI-shaped bodies as sent; others after normalisation


TARGETS = [
    Target(
        "openai",
        "/v1/chat/completions",
        "gpt-4o-mini",
        lambda url, c, s, r: OpenAICompatProvider.preset("openai", _remote(f"{url}/v1", r), client=c, sleep=s),
        TokenUsage(11, 4),
        ("authorization", f"Bearer {KEY}"),
        True,
    ),
    Target(
        "openrouter",
        "/api/v1/chat/completions",
        "openai/gpt-4o-mini",
        lambda url, c, s, r: OpenAICompatProvider.preset("openrouter", _remote(f"{url}/api/v1", r), client=c, sleep=s),
        TokenUsage(11, 4),
        ("authorization", f"Bearer {KEY}"),
        True,
    ),
    Target(
        "mistral",
        "/v1/chat/completions",
        "mistral-large-latest",
        lambda url, c, s, r: OpenAICompatProvider.preset("mistral", _remote(url, r), client=c, sleep=s),
        None,  # Mistral gets no stream_options (it rejects them); aimock then sends no usage chunk
        ("authorization", f"Bearer {KEY}"),
        True,
    ),
    Target(
        "anthropic",
        "/v1/messages",
        "claude-sonnet-4-6",
        lambda url, c, s, r: AnthropicProvider(_remote(url, r), client=c, sleep=s),
        TokenUsage(11, 4),  # input from message_start survives message_delta (the original's bug)
        ("x-api-key", KEY),
        False,
    ),
    Target(
        "gemini",
        "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
        "gemini-2.5-flash",
        lambda url, c, s, r: GeminiProvider(_remote(url, r), client=c, sleep=s),
        TokenUsage(11, 4),
        ("x-goog-api-key", KEY),
        False,
    ),
    Target(
        "ollama",
        "/api/chat",
        "llama3.2",
        lambda url, c, s, r: OllamaProvider(OllamaProviderConfig(base_url=url, max_retries=r), client=c, sleep=s),
        TokenUsage(0, 0),  # aimock's Ollama surface always reports zero counts
        None,
        False,
    ),
]


@dataclass
class Session:
    provider: Provider
    target: Target
    test_id: str
    sleeps: list[float]

    def request(self, *messages: ChatMessage, tools: tuple[ToolSpec, ...] = ()) -> ChatRequest:
        return ChatRequest(self.target.model, messages, tools=tools)


@pytest.fixture(params=TARGETS, ids=[t.name for t in TARGETS])
def target(request: pytest.FixtureRequest) -> Target:
    return request.param  # type: ignore[no-any-return]


@asynccontextmanager
async def connect(
    aimock: Any, target: Target, test_id: str, *, retries: int = 3, headers: dict[str, str] | None = None
) -> AsyncIterator[Session]:
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        delays.append(seconds)

    headers = {"X-Test-Id": test_id, **(headers or {})}
    # plain http on loopback: skip building a TLS context for every test (~50 ms each)
    async with httpx.AsyncClient(headers=headers, timeout=10, verify=False) as client:
        provider = target.build(aimock.url, client, sleep, retries)
        try:
            yield Session(provider, target, test_id, delays)
        finally:
            await provider.aclose()


@pytest.fixture
async def session(target: Target, aimock: Any, request: pytest.FixtureRequest) -> AsyncIterator[Session]:
    async with connect(aimock, target, request.node.nodeid) as opened:
        yield opened


def journal(aimock: Any, session: Session) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = aimock.journal(session.test_id)
    assert entries, "aimock journaled nothing for this test"
    for entry in entries:
        assert entry["path"].startswith(session.target.path), entry["path"]
        if session.target.auth:
            header, _ = session.target.auth
            assert entry["headers"].get(header), f"no {header} header"  # aimock journals it as [REDACTED]
    return entries


async def test_plain_reply(session: Session, aimock: Any) -> None:
    reply = await complete(
        session.provider, session.request(ChatMessage.system("You are terse."), ChatMessage.user("say hello"))
    )
    assert reply.content == "Hello from aimock"
    assert reply.finish_reason == "stop"
    assert reply.usage == session.target.usage

    [entry] = journal(aimock, session)
    body = entry["body"]
    assert body["model"] == session.target.model
    assert body["stream"] is True
    roles = [(m["role"], m["content"]) for m in body["messages"]]
    assert roles == [("system", "You are terse."), ("user", "say hello")]
    if session.target.name == "openrouter":
        assert entry["headers"]["x-title"] == "Axocoatl"
        assert entry["headers"]["http-referer"] == "https://axocoatl.ai"
    if session.target.name == "mistral":
        assert "stream_options" not in body
    elif session.target.raw_body:
        assert body["stream_options"] == {"include_usage": True}


async def test_streaming_arrives_in_pieces(session: Session) -> None:
    events = [e async for e in session.provider.stream(session.request(ChatMessage.user("tell a long story")))]
    texts = [e.text for e in events if isinstance(e, TextDelta)]
    assert len(texts) >= 5
    assert "".join(texts) == "Once upon a time a small agent learned to stream its answers."
    assert [type(e) for e in events].count(Done) == 1
    assert isinstance(events[-1], Done)


async def test_tool_call_round_trip(session: Session, aimock: Any) -> None:
    question = ChatMessage.user("weather in Paris")
    first = await complete(session.provider, session.request(question, tools=(WEATHER,)))
    assert first.finish_reason == "tool_calls"
    [call] = first.tool_calls
    assert (call.name, call.arguments) == ("get_weather", {"city": "Paris"})
    assert call.id

    history = (
        question,
        ChatMessage.assistant(first.content, first.tool_calls),
        ChatMessage.tool('{"temp_c": 21, "sky": "sunny"}', tool_call_id=call.id, name=call.name),
    )
    second = await complete(session.provider, session.request(*history, tools=(WEATHER,)))
    assert second.content == "It is 21 degrees and sunny in Paris."
    assert second.finish_reason == "stop"

    entries = journal(aimock, session)
    assert len(entries) == 2
    sent = entries[1]["body"]
    assert [t["function"]["name"] for t in sent["tools"]] == ["get_weather"]
    assert sent["tools"][0]["function"]["parameters"]["required"] == ["city"]
    assistant, result = sent["messages"][1], sent["messages"][2]
    assert assistant["role"] == "assistant"
    assert assistant["tool_calls"][0]["function"]["name"] == "get_weather"
    assert result["role"] == "tool"
    assert "21" in result["content"]
    if session.target.name in ("openai", "openrouter", "anthropic"):
        assert assistant["tool_calls"][0]["id"] == call.id
        assert result["tool_call_id"] == call.id
    if session.target.name == "mistral":  # Mistral wants 9-character ids; call and result stay paired
        assert len(result["tool_call_id"]) == 9
        assert assistant["tool_calls"][0]["id"] == result["tool_call_id"]


async def test_rate_limit_honours_retry_after(session: Session, aimock: Any) -> None:
    reply = await complete(session.provider, session.request(ChatMessage.user("rate limited once")))
    assert reply.content == "after the wait"
    assert session.sleeps == [2.0]
    assert [e["response"]["status"] for e in journal(aimock, session)] == [429, 200]


async def test_server_error_is_retried(session: Session, aimock: Any) -> None:
    reply = await complete(session.provider, session.request(ChatMessage.user("server error once")))
    assert reply.content == "recovered"
    assert len(session.sleeps) == 1 and 0 <= session.sleeps[0] <= 0.5
    assert [e["response"]["status"] for e in journal(aimock, session)] == [500, 200]


async def test_rate_limit_exhausted(target: Target, aimock: Any, request: pytest.FixtureRequest) -> None:
    async with connect(aimock, target, request.node.nodeid, retries=1) as session:
        with pytest.raises(RateLimited) as info:
            await complete(session.provider, session.request(ChatMessage.user("always rate limited")))
        assert info.value.retry_after == 60.0  # aimock asked for 90 s; we cap at 60
        assert session.sleeps == [60.0]
        assert len(journal(aimock, session)) == 2


async def test_broken_stream_is_an_error(session: Session, aimock: Any) -> None:
    received: list[Any] = []
    with pytest.raises(ProviderResponseError):
        async for event in session.provider.stream(session.request(ChatMessage.user("break the stream"))):
            received.append(event)
    assert not any(isinstance(e, Done) for e in received)
    partial = "".join(e.text for e in received if isinstance(e, TextDelta))
    assert partial and "never finishes" not in partial  # some text arrived, then the cut
    assert len(journal(aimock, session)) == 1  # text had reached the caller: no retry


async def test_malformed_body_is_an_error(target: Target, aimock: Any, request: pytest.FixtureRequest) -> None:
    chaos = {"x-aimock-chaos-malformed": "1"}  # a 200 whose body is not JSON at all
    async with connect(aimock, target, request.node.nodeid, headers=chaos) as session:
        with pytest.raises(ProviderResponseError):
            await complete(session.provider, session.request(ChatMessage.user("say hello")))
        assert len(journal(aimock, session)) == 1  # garbage with a 200 is not retried


@pytest.mark.parametrize("name", ["openai", "openrouter", "mistral"])
async def test_sent_bodies_match_the_openai_sdk_types(
    name: str, aimock: Any, request: pytest.FixtureRequest, openai_shape: Any
) -> None:
    """The OpenAI-shaped bodies aimock journaled, validated against the official SDK's request types."""
    target = next(t for t in TARGETS if t.name == name)
    async with connect(aimock, target, request.node.nodeid) as session:
        question = ChatMessage.user("weather in Paris")
        first = await complete(session.provider, session.request(question, tools=(WEATHER,)))
        call = first.tool_calls[0]
        answer = ChatMessage.tool("21C", tool_call_id=call.id, name=call.name)
        await complete(
            session.provider,
            session.request(question, ChatMessage.assistant("", first.tool_calls), answer, tools=(WEATHER,)),
        )
        for entry in journal(aimock, session):
            openai_shape(entry["body"])
