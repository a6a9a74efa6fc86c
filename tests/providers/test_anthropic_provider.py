"""Anthropic adapter: request shape (vs the SDK's TypedDicts), SSE events, the input-token fix."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from tests.providers.support import Server

from axocoatl.config.schema import RemoteProviderConfig
from axocoatl.core.errors import AuthenticationFailed, ProviderResponseError
from axocoatl.core.messages import ChatMessage, TokenUsage, ToolCall, ToolSpec
from axocoatl.providers.anthropic import JSON_INSTRUCTION, AnthropicProvider
from axocoatl.providers.base import (
    ChatRequest,
    Done,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    UsageReport,
    complete,
)

WEATHER = ToolSpec("get_weather", "Weather", {"type": "object", "properties": {"city": {"type": "string"}}})


def event(kind: str, **data: Any) -> str:
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n"


def start(input_tokens: int = 25, cache_read: int = 0) -> str:
    usage = {"input_tokens": input_tokens, "output_tokens": 1, "cache_read_input_tokens": cache_read}
    return event("message_start", message={"id": "msg_1", "role": "assistant", "content": [], "usage": usage})


def text_block(index: int, *pieces: str) -> str:
    out = event("content_block_start", index=index, content_block={"type": "text", "text": ""})
    for piece in pieces:
        out += event("content_block_delta", index=index, delta={"type": "text_delta", "text": piece})
    return out + event("content_block_stop", index=index)


def finish(reason: str = "end_turn", output: int = 9) -> str:
    return event("message_delta", delta={"stop_reason": reason}, usage={"output_tokens": output}) + event(
        "message_stop"
    )


def provider(
    server: Server, mock_client: Any, sleeps: Any, env: dict[str, str] | None = None, **section: Any
) -> AnthropicProvider:
    env = {"ANTHROPIC_API_KEY": "sk-ant-test"} if env is None else env
    return AnthropicProvider(RemoteProviderConfig(**section), client=mock_client(server), sleep=sleeps, env=env)


async def events_of(p: AnthropicProvider, request: ChatRequest) -> list[StreamEvent]:
    return [e async for e in p.stream(request)]


def ask(*messages: ChatMessage, **kwargs: Any) -> ChatRequest:
    return ChatRequest("claude-sonnet-4-6", messages or (ChatMessage.user("hi"),), **kwargs)


# ---------------------------------------------------------------------------------- request


async def test_headers_and_url(mock_client: Any, sleeps: Any) -> None:
    server = Server(start() + text_block(0, "hey") + finish())
    await complete(provider(server, mock_client, sleeps), ask())
    request = server.requests[0]
    assert str(request.url) == "https://api.anthropic.com/v1/messages"
    assert request.headers["x-api-key"] == "sk-ant-test"
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in request.headers


async def test_base_url_override_with_or_without_v1(mock_client: Any, sleeps: Any) -> None:
    for base in ("http://127.0.0.1:9999", "http://127.0.0.1:9999/v1/"):
        server = Server(start() + finish())
        await complete(provider(server, mock_client, sleeps, env={}, base_url=base), ask())
        assert str(server.requests[0].url) == "http://127.0.0.1:9999/v1/messages"


async def test_missing_key(mock_client: Any, sleeps: Any) -> None:
    server = Server()
    with pytest.raises(AuthenticationFailed, match=r"^ANTHROPIC_API_KEY is not set — add it to \.env"):
        await complete(provider(server, mock_client, sleeps, env={}), ask())
    assert server.requests == []


async def test_configured_key(mock_client: Any, sleeps: Any) -> None:
    server = Server(start() + finish())
    await complete(provider(server, mock_client, sleeps, env={}, api_key=SecretStr("sk-ant-cfg")), ask())
    assert server.requests[0].headers["x-api-key"] == "sk-ant-cfg"


async def test_body_shape(mock_client: Any, sleeps: Any, anthropic_shape: Any) -> None:
    server = Server(start() + text_block(0, "ok") + finish())
    calls = (
        ToolCall(id="toolu_1", name="get_weather", arguments={"city": "Paris"}),
        ToolCall(id="toolu_2", name="get_weather", arguments={"city": "Rome"}),
    )
    request = ask(
        ChatMessage.system("Be brief."),
        ChatMessage.user("Weather in Paris and Rome?"),
        ChatMessage.assistant("Checking both.", calls),
        ChatMessage.tool("18C", tool_call_id="toolu_1", name="get_weather"),
        ChatMessage.tool("22C", tool_call_id="toolu_2", name="get_weather"),
        ChatMessage.user("And tomorrow?"),
        ChatMessage.system("Use Celsius."),
        tools=(WEATHER, ToolSpec("now", "time", {})),
        temperature=0.3,
        top_p=0.8,
    )
    await complete(provider(server, mock_client, sleeps), request)
    body = server.json
    anthropic_shape(body)
    assert body["system"] == "Be brief.\n\nUse Celsius."
    assert body["max_tokens"] == 4096
    assert (body["temperature"], body["top_p"], body["stream"]) == (0.3, 0.8, True)
    assert body["tools"] == [
        {"name": "get_weather", "description": "Weather", "input_schema": WEATHER.parameters},
        {"name": "now", "description": "time", "input_schema": {"type": "object", "properties": {}}},
    ]
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Weather in Paris and Rome?"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking both."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Rome"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
                {"type": "tool_result", "tool_use_id": "toolu_2", "content": "22C"},
                {"type": "text", "text": "And tomorrow?"},
            ],
        },
    ]


async def test_max_tokens_and_json_mode(mock_client: Any, sleeps: Any, anthropic_shape: Any) -> None:
    server = Server(start() + text_block(0, "{}") + finish())
    await complete(provider(server, mock_client, sleeps), ask(max_tokens=321, response_format="json"))
    anthropic_shape(server.json)
    assert server.json["max_tokens"] == 321
    assert server.json["system"] == JSON_INSTRUCTION
    assert "response_format" not in server.json


async def test_empty_assistant_turns_are_dropped(mock_client: Any, sleeps: Any, anthropic_shape: Any) -> None:
    server = Server(start() + finish())
    await complete(
        provider(server, mock_client, sleeps),
        ask(ChatMessage.user("a"), ChatMessage.assistant(""), ChatMessage.user("b")),
    )
    anthropic_shape(server.json)
    assert server.json["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}
    ]


# ----------------------------------------------------------------------------------- stream


async def test_input_tokens_from_message_start_are_kept(mock_client: Any, sleeps: Any) -> None:
    """The original recorded 0 input tokens: message_delta's usage replaced message_start's."""
    server = Server(start(input_tokens=25, cache_read=100) + text_block(0, "Hel", "lo") + finish(output=7))
    events = await events_of(provider(server, mock_client, sleeps), ask())
    assert events == [TextDelta("Hel"), TextDelta("lo"), UsageReport(TokenUsage(125, 7)), Done("stop")]


async def test_tool_use_with_streamed_json_and_thinking(mock_client: Any, sleeps: Any) -> None:
    body = (
        start()
        + event("ping")
        + event("content_block_start", index=0, content_block={"type": "thinking", "thinking": ""})
        + event("content_block_delta", index=0, delta={"type": "thinking_delta", "thinking": "need weather"})
        + event("content_block_delta", index=0, delta={"type": "signature_delta", "signature": "abc"})
        + event("content_block_stop", index=0)
        + text_block(1, "Let me check.")
        + event(
            "content_block_start",
            index=2,
            content_block={"type": "tool_use", "id": "toolu_9", "name": "get_weather", "input": {}},
        )
        + event("content_block_delta", index=2, delta={"type": "input_json_delta", "partial_json": '{"city": "Pa'})
        + event("content_block_delta", index=2, delta={"type": "input_json_delta", "partial_json": 'ris"}'})
        + event("content_block_stop", index=2)
        + finish("tool_use", output=30)
    )
    p = provider(Server(body), mock_client, sleeps)
    events = await events_of(p, ask(tools=(WEATHER,)))
    assert events[:3] == [
        ReasoningDelta("need weather"),
        TextDelta("Let me check."),
        ToolCallDelta(2, "toolu_9", "get_weather", ""),
    ]
    reply = await complete(provider(Server(body), mock_client, sleeps), ask(tools=(WEATHER,)))
    assert reply.reasoning == "need weather" and reply.content == "Let me check."
    assert [(c.id, c.name, c.arguments) for c in reply.tool_calls] == [("toolu_9", "get_weather", {"city": "Paris"})]
    assert reply.finish_reason == "tool_calls" and reply.usage == TokenUsage(25, 30)


@pytest.mark.parametrize(
    ("stop", "finish_reason"),
    [("max_tokens", "length"), ("refusal", "content_filter"), ("stop_sequence", "stop"), ("pause_turn", "stop")],
)
async def test_stop_reasons(mock_client: Any, sleeps: Any, stop: str, finish_reason: str) -> None:
    reply = await complete(provider(Server(start() + text_block(0, "x") + finish(stop)), mock_client, sleeps), ask())
    assert reply.finish_reason == finish_reason


async def test_error_event_is_an_error(mock_client: Any, sleeps: Any) -> None:
    body = start() + text_block(0, "par") + event("error", error={"type": "overloaded_error", "message": "Overloaded"})
    with pytest.raises(ProviderResponseError, match=r"overloaded_error.*Overloaded"):
        await complete(provider(Server(body), mock_client, sleeps), ask())


async def test_stream_without_message_stop_is_truncated(mock_client: Any, sleeps: Any) -> None:
    body = start() + text_block(0, "half an ans")
    with pytest.raises(ProviderResponseError, match="no message_stop event"):
        await complete(provider(Server(body), mock_client, sleeps), ask())


async def test_overloaded_529_is_retried(mock_client: Any, sleeps: Any) -> None:
    answers = [
        httpx.Response(529, json={"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
        httpx.Response(200, content=(start() + text_block(0, "fine") + finish()).encode()),
    ]
    p = AnthropicProvider(
        None, client=mock_client(lambda r: answers.pop(0)), sleep=sleeps, env={"ANTHROPIC_API_KEY": "k"}
    )
    assert (await complete(p, ask())).content == "fine"
    assert len(sleeps.delays) == 1


async def test_rejected_key_names_the_env_var(mock_client: Any, sleeps: Any) -> None:
    body = json.dumps({"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}})
    with pytest.raises(AuthenticationFailed, match="ANTHROPIC_API_KEY") as info:
        await complete(provider(Server(body, status=401), mock_client, sleeps), ask())
    assert "sk-ant-test" not in str(info.value)


def test_capabilities() -> None:
    p = AnthropicProvider(None, env={})
    assert p.default_model() == "claude-sonnet-4-6"
    assert p.capabilities("claude-sonnet-4-6").max_context_tokens == 200_000
    assert p.capabilities("claude-sonnet-4-6").max_output_tokens == 64_000
    assert p.capabilities("claude-opus-4-1").max_output_tokens == 32_000
    assert p.capabilities("claude-3-5-haiku").max_output_tokens == 8_192
