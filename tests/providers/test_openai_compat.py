"""OpenAI-compatible adapter: presets, keys, base URLs, request shape (vs the SDK's TypedDict), stream parsing."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from axocoatl.config.schema import RemoteProviderConfig
from axocoatl.core.errors import AuthenticationFailed, ProviderResponseError, UsageError
from axocoatl.core.messages import ChatMessage, TokenUsage, ToolCall, ToolSpec
from axocoatl.providers.base import (
    ChatRequest,
    Done,
    Provider,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    UsageReport,
    complete,
)
from axocoatl.providers.openai_compat import OpenAICompatProvider, normalize_base_url

WEATHER = ToolSpec("get_weather", "Weather of a city", {"type": "object", "properties": {"city": {"type": "string"}}})
NO_ARGS = ToolSpec("now", "The time", {})


def sse_body(*chunks: dict[str, Any] | str, done: bool = True) -> bytes:
    parts = [c if isinstance(c, str) else f"data: {json.dumps(c)}\n\n" for c in chunks]
    if done:
        parts.append("data: [DONE]\n\n")
    return "".join(parts).encode()


def delta(content: str | None = None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    d: dict[str, Any] = dict(extra)
    if content is not None:
        d["content"] = content
    return {"choices": [{"index": 0, "delta": d, "finish_reason": finish}]}


class Server:
    """A MockTransport that records requests and answers with a fixed SSE body."""

    def __init__(self, body: bytes = b"", status: int = 200) -> None:
        self.body, self.status = body, status
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.status, content=self.body, headers={"content-type": "text/event-stream"})

    @property
    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.requests[-1].content)
        return data


Build = Callable[..., OpenAICompatProvider]


@pytest.fixture
def build(mock_client: Any, sleeps: Any) -> Build:
    def make(
        server: Server, name: str = "openai", env: dict[str, str] | None = None, **section: Any
    ) -> OpenAICompatProvider:
        return OpenAICompatProvider.preset(
            name,
            RemoteProviderConfig(**section),
            client=mock_client(server),
            sleep=sleeps,
            env={"OPENAI_API_KEY": "sk-test", "OPENROUTER_API_KEY": "or-k", "MISTRAL_API_KEY": "mi-k"}
            if env is None
            else env,
        )

    return make


async def events_of(provider: Provider, request: ChatRequest) -> list[StreamEvent]:
    return [e async for e in provider.stream(request)]


# --------------------------------------------------------------------------------- presets & keys


@pytest.mark.parametrize(
    ("name", "url", "model", "auth"),
    [
        ("openai", "https://api.openai.com/v1/chat/completions", "gpt-4o-mini", "Bearer sk-test"),
        ("openrouter", "https://openrouter.ai/api/v1/chat/completions", "openai/gpt-4o-mini", "Bearer or-k"),
        ("mistral", "https://api.mistral.ai/v1/chat/completions", "mistral-large-latest", "Bearer mi-k"),
    ],
)
async def test_presets(build: Build, name: str, url: str, model: str, auth: str) -> None:
    server = Server(sse_body(delta("hi", "stop")))
    provider = build(server, name)
    assert provider.name == name and provider.default_model() == model
    reply = await complete(provider, ChatRequest("", (ChatMessage.user("hello"),)))
    assert reply.content == "hi"
    request = server.requests[0]
    assert str(request.url) == url
    assert request.headers["authorization"] == auth
    assert server.json["model"] == model
    if name == "openrouter":
        assert request.headers["http-referer"] == "https://axocoatl.ai"
        assert request.headers["x-title"] == "Axocoatl"


def test_unknown_preset() -> None:
    with pytest.raises(UsageError, match="no OpenAI-compatible preset called 'groq'"):
        OpenAICompatProvider.preset("groq", None)


async def test_configured_key_wins_over_env(build: Build) -> None:
    server = Server(sse_body(delta("x", "stop")))
    await complete(build(server, api_key=SecretStr("sk-config")), ChatRequest("m", (ChatMessage.user("u"),)))
    assert server.requests[0].headers["authorization"] == "Bearer sk-config"


@pytest.mark.parametrize(
    ("name", "env_var"),
    [("openai", "OPENAI_API_KEY"), ("openrouter", "OPENROUTER_API_KEY"), ("mistral", "MISTRAL_API_KEY")],
)
async def test_missing_key_fails_before_any_request(build: Build, name: str, env_var: str) -> None:
    server = Server()
    provider = build(server, name, env={})
    with pytest.raises(AuthenticationFailed) as info:
        await complete(provider, ChatRequest("m", (ChatMessage.user("u"),)))
    assert str(info.value) == (
        f"{env_var} is not set — add it to .env next to axocoatl.yaml or set providers.{name}.api_key"
    )
    assert server.requests == []


async def test_custom_server_needs_no_key(build: Build) -> None:
    server = Server(sse_body(delta("local", "stop")))
    provider = build(server, env={}, base_url="http://127.0.0.1:8000")
    assert (await complete(provider, ChatRequest("qwen", (ChatMessage.user("u"),)))).content == "local"
    assert str(server.requests[0].url) == "http://127.0.0.1:8000/v1/chat/completions"
    assert "authorization" not in server.requests[0].headers


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://localhost:8000", "http://localhost:8000/v1"),
        ("http://localhost:8000/", "http://localhost:8000/v1"),
        ("http://localhost:1234/v1/", "http://localhost:1234/v1"),
        ("http://localhost:8080/v1/chat/completions", "http://localhost:8080/v1"),
        ("https://openrouter.ai/api/v1", "https://openrouter.ai/api/v1"),
        (
            "https://generativelanguage.googleapis.com/v1beta/openai",
            "https://generativelanguage.googleapis.com/v1beta/openai",
        ),
    ],
)
def test_base_url_with_or_without_v1(given: str, expected: str) -> None:
    assert normalize_base_url(given) == expected


def test_capabilities() -> None:
    openai = OpenAICompatProvider.preset("openai", None, env={})
    assert openai.capabilities("gpt-4o-mini").max_context_tokens == 128_000
    assert openai.capabilities("gpt-4.1-mini").max_context_tokens == 1_047_576
    assert openai.capabilities("o3-mini").max_context_tokens == 200_000
    assert openai.capabilities("some-new-model").max_context_tokens == 128_000
    router = OpenAICompatProvider.preset("openrouter", None, env={})
    assert router.capabilities("anthropic/claude-3.5-sonnet").max_context_tokens == 200_000
    assert router.capabilities("meta-llama/unknown").max_context_tokens == 32_768
    local = OpenAICompatProvider.preset("openai", RemoteProviderConfig(base_url="http://127.0.0.1:8000"), env={})
    assert local.capabilities("qwen2.5-7b").max_context_tokens == 8_192


# ---------------------------------------------------------------------------------- request shape


async def test_request_shape_with_tools_and_history(build: Build, openai_shape: Any) -> None:
    server = Server(sse_body(delta("ok", "stop")))
    call = ToolCall(id="call_1", name="get_weather", arguments={"city": "Paris"})
    request = ChatRequest(
        "gpt-4o-mini",
        (
            ChatMessage.system("Be brief."),
            ChatMessage.user("Weather?"),
            ChatMessage.assistant("", (call,)),
            ChatMessage.tool('{"temp": 20}', tool_call_id="call_1", name="get_weather"),
        ),
        tools=(WEATHER, NO_ARGS),
        max_tokens=100,
        temperature=0.2,
        top_p=0.9,
    )
    await complete(build(server), request)
    body = server.json
    openai_shape(body)
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp": 20}'},
    ]
    assert body["tools"][0] == {
        "type": "function",
        "function": {"name": "get_weather", "description": "Weather of a city", "parameters": WEATHER.parameters},
    }
    assert body["tools"][1]["function"]["parameters"] == {"type": "object", "properties": {}}
    assert (body["max_completion_tokens"], body["temperature"], body["top_p"]) == (100, 0.2, 0.9)
    assert "max_tokens" not in body
    assert "response_format" not in body


async def test_custom_servers_get_max_tokens(build: Build, openai_shape: Any) -> None:
    server = Server(sse_body(delta("ok", "stop")))
    await complete(
        build(server, base_url="http://127.0.0.1:8000"), ChatRequest("m", (ChatMessage.user("u"),), max_tokens=5)
    )
    assert server.json["max_tokens"] == 5 and "max_completion_tokens" not in server.json
    openai_shape(server.json)


async def test_json_mode_adds_response_format_and_the_word_json(build: Build, openai_shape: Any) -> None:
    server = Server(sse_body(delta("{}", "stop")))
    await complete(build(server), ChatRequest("m", (ChatMessage.user("List 3 colors"),), response_format="json"))
    body = server.json
    assert body["response_format"] == {"type": "json_object"}
    assert "json" in json.dumps(body["messages"]).lower()
    openai_shape(body)
    server2 = Server(sse_body(delta("{}", "stop")))
    request = ChatRequest("m", (ChatMessage.user("Answer in JSON"),), response_format="json")
    await complete(build(server2), request)
    assert server2.json["messages"] == [{"role": "user", "content": "Answer in JSON"}]


async def test_mistral_quirks(build: Build, openai_shape: Any) -> None:
    server = Server(sse_body(delta("ok", "stop")))
    call = ToolCall(id="call_from_elsewhere_42", name="get_weather", arguments={})
    history = (
        ChatMessage.user("u"),
        ChatMessage.assistant("", (call, ToolCall(id="AbC123xYz", name="now", arguments={}))),
        ChatMessage.tool("r1", tool_call_id="call_from_elsewhere_42", name="get_weather"),
        ChatMessage.tool("r2", tool_call_id="AbC123xYz", name="now"),
    )
    await complete(build(server, "mistral"), ChatRequest("mistral-small-latest", history, max_tokens=9))
    body = server.json
    assert "stream_options" not in body
    assert body["max_tokens"] == 9
    ids = [c["id"] for c in body["messages"][1]["tool_calls"]]
    assert len(ids[0]) == 9 and ids[0].isalnum() and ids[1] == "AbC123xYz"
    assert [m["tool_call_id"] for m in body["messages"][2:]] == ids
    openai_shape(body)


# ---------------------------------------------------------------------------------- stream parsing


async def test_stream_with_comments_reasoning_and_usage_only_final_chunk(build: Build) -> None:
    body = sse_body(
        ": OPENROUTER PROCESSING\n\n",
        delta("", role="assistant"),
        delta(None, reasoning="thinking..."),
        delta("Hel"),
        ": OPENROUTER PROCESSING\n\n",
        delta("lo", reasoning_content=""),
        delta(None, "stop"),
        {"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}},
    )
    events = await events_of(build(Server(body)), ChatRequest("m", (ChatMessage.user("u"),)))
    assert events == [
        ReasoningDelta("thinking..."),
        TextDelta("Hel"),
        TextDelta("lo"),
        UsageReport(TokenUsage(12, 3)),
        Done("stop"),
    ]


async def test_tool_call_fragments_merge_by_index(build: Build) -> None:
    def frag(index: int, **fields: Any) -> dict[str, Any]:
        return delta(None, tool_calls=[{"index": index, **fields}])

    body = sse_body(
        frag(0, id="call_a", type="function", function={"name": "get_weather", "arguments": ""}),
        frag(1, id="call_b", type="function", function={"name": "now", "arguments": ""}),
        frag(0, function={"arguments": '{"ci'}),
        frag(1, function={"arguments": "{}"}),
        frag(0, function={"arguments": 'ty": "Oslo"}'}),
        delta(None, "tool_calls"),
    )
    reply = await complete(build(Server(body)), ChatRequest("m", (ChatMessage.user("u"),), tools=(WEATHER, NO_ARGS)))
    assert reply.finish_reason == "tool_calls"
    assert [(c.id, c.name, c.arguments) for c in reply.tool_calls] == [
        ("call_a", "get_weather", {"city": "Oslo"}),
        ("call_b", "now", {}),
    ]


async def test_whole_calls_sharing_index_zero_stay_separate(build: Build) -> None:
    """Some servers send each complete call with index 0 and its own id."""
    body = sse_body(
        delta(None, tool_calls=[{"index": 0, "id": "aaaaaaaa1", "function": {"name": "now", "arguments": "{}"}}]),
        delta(None, tool_calls=[{"index": 0, "id": "bbbbbbbb2", "function": {"name": "now", "arguments": "{}"}}]),
        delta(None, "tool_calls"),
    )
    reply = await complete(build(Server(body)), ChatRequest("m", (ChatMessage.user("u"),), tools=(NO_ARGS,)))
    assert [c.id for c in reply.tool_calls] == ["aaaaaaaa1", "bbbbbbbb2"]


async def test_finish_reason_length(build: Build) -> None:
    reply = await complete(build(Server(sse_body(delta("cut", "length")))), ChatRequest("m", (ChatMessage.user("u"),)))
    assert reply.finish_reason == "length"


async def test_text_tool_call_is_recovered_when_tools_were_offered(build: Build) -> None:
    body = sse_body(
        delta("I'll check. <tool"),
        delta('_call>{"name": "get_weather", "arguments": {"city": "Lima"}}</tool_call>'),
        delta(None, "stop"),
    )
    events = await events_of(build(Server(body)), ChatRequest("m", (ChatMessage.user("u"),), tools=(WEATHER,)))
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "I'll check. "
    assert events[-1] == Done("tool_calls")
    reply = await complete(build(Server(body)), ChatRequest("m", (ChatMessage.user("u"),), tools=(WEATHER,)))
    assert [(c.name, c.arguments) for c in reply.tool_calls] == [("get_weather", {"city": "Lima"})]


async def test_text_tool_call_is_left_alone_without_tools(build: Build) -> None:
    text = '<tool_call>{"name": "get_weather", "arguments": {}}</tool_call>'
    reply = await complete(build(Server(sse_body(delta(text, "stop")))), ChatRequest("m", (ChatMessage.user("u"),)))
    assert reply.content == text and reply.tool_calls == ()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (sse_body(delta("half"), done=False), r"no data: \[DONE\]"),
        (sse_body(delta("a"), "data: {not json\n\n"), "not valid JSON"),
        (sse_body(delta("a"), {"error": {"message": "upstream died", "code": 502}}), "upstream died"),
    ],
)
async def test_broken_streams_are_errors(build: Build, body: bytes, message: str) -> None:
    with pytest.raises(ProviderResponseError, match=message):
        await complete(build(Server(body)), ChatRequest("m", (ChatMessage.user("u"),)))
