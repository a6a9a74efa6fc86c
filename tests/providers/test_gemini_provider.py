"""Gemini adapter: request shape (vs google-genai's models), SSE chunks, finish reasons, truncation."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.providers.support import Server

from axocoatl.config.schema import RemoteProviderConfig
from axocoatl.core.errors import AuthenticationFailed, ProviderResponseError
from axocoatl.core.messages import ChatMessage, TokenUsage, ToolCall, ToolSpec
from axocoatl.providers.base import ChatRequest, Done, ReasoningDelta, TextDelta, UsageReport, complete
from axocoatl.providers.gemini import GeminiProvider, gemini_schema

WEATHER = ToolSpec(
    "get_weather",
    "Weather",
    {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "city": {"type": "string", "description": "City"},
            "unit": {"type": ["string", "null"], "enum": ["c", "f"]},
            "days": {"type": "array", "items": {"type": "integer", "minimum": 1, "exclusiveMaximum": 8}},
        },
        "required": ["city"],
    },
)


def chunk(*parts: dict[str, Any], finish: str | None = None, usage: tuple[int, int, int] | None = None) -> str:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": list(parts)}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    data: dict[str, Any] = {"candidates": [candidate]}
    if usage:
        data["usageMetadata"] = {
            "promptTokenCount": usage[0],
            "candidatesTokenCount": usage[1],
            "thoughtsTokenCount": usage[2],
        }
    return f"data: {json.dumps(data)}\r\n\r\n"


def provider(
    server: Server, mock_client: Any, sleeps: Any, env: dict[str, str] | None = None, **section: Any
) -> GeminiProvider:
    env = {"GEMINI_API_KEY": "AIza-test-key"} if env is None else env
    return GeminiProvider(RemoteProviderConfig(**section), client=mock_client(server), sleep=sleeps, env=env)


def ask(*messages: ChatMessage, **kwargs: Any) -> ChatRequest:
    return ChatRequest("gemini-2.5-flash", messages or (ChatMessage.user("hi"),), **kwargs)


HELLO = chunk({"text": "Hel"}) + chunk({"text": "lo"}, finish="STOP", usage=(10, 2, 5))


# ----------------------------------------------------------------------------------- request


async def test_url_and_key_header(mock_client: Any, sleeps: Any) -> None:
    server = Server(HELLO)
    await complete(provider(server, mock_client, sleeps), ask())
    request = server.requests[0]
    assert str(request.url) == (
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    )
    assert request.headers["x-goog-api-key"] == "AIza-test-key"
    assert "key=" not in str(request.url)


async def test_google_api_key_is_accepted_and_models_prefix_dropped(mock_client: Any, sleeps: Any) -> None:
    server = Server(HELLO)
    p = provider(server, mock_client, sleeps, env={"GOOGLE_API_KEY": "AIza-google"})
    await complete(p, ChatRequest("models/gemini-2.0-flash", (ChatMessage.user("x"),)))
    assert server.requests[0].headers["x-goog-api-key"] == "AIza-google"
    assert server.requests[0].url.path == "/v1beta/models/gemini-2.0-flash:streamGenerateContent"


async def test_missing_key(mock_client: Any, sleeps: Any) -> None:
    server = Server()
    with pytest.raises(AuthenticationFailed, match=r"^GEMINI_API_KEY is not set .* providers\.gemini\.api_key$"):
        await complete(provider(server, mock_client, sleeps, env={}), ask())
    assert server.requests == []


async def test_base_url_override(mock_client: Any, sleeps: Any) -> None:
    server = Server(HELLO)
    await complete(provider(server, mock_client, sleeps, env={}, base_url="http://127.0.0.1:4010/v1beta/"), ask())
    assert str(server.requests[0].url).startswith("http://127.0.0.1:4010/v1beta/models/gemini-2.5-flash:")


async def test_body_shape(mock_client: Any, sleeps: Any, gemini_shape: Any) -> None:
    server = Server(HELLO)
    calls = (
        ToolCall(id="c1", name="get_weather", arguments={"city": "Paris"}),
        ToolCall(id="c2", name="get_weather", arguments={"city": "Rome"}),
    )
    request = ask(
        ChatMessage.system("Be brief."),
        ChatMessage.user("Paris and Rome?"),
        ChatMessage.assistant("Checking.", calls),
        ChatMessage.tool('{"temp": 18}', tool_call_id="c1", name="get_weather"),
        ChatMessage("tool", "sunny, 22C", tool_call_id="c2"),  # no name: found through the call id
        tools=(WEATHER, ToolSpec("now", "time", {})),
        max_tokens=200,
        temperature=0.5,
        top_p=0.9,
        response_format="json",
    )
    await complete(provider(server, mock_client, sleeps), request)
    body = server.json
    gemini_shape(body)
    assert body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "Paris and Rome?"}]},
        {
            "role": "model",
            "parts": [
                {"text": "Checking."},
                {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"temp": 18}}},
                {"functionResponse": {"name": "get_weather", "response": {"result": "sunny, 22C"}}},
            ],
        },
    ]
    declarations = body["tools"][0]["functionDeclarations"]
    assert declarations[1] == {"name": "now", "description": "time"}
    assert declarations[0]["parameters"] == {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "City"},
            "unit": {"type": "string", "nullable": True, "enum": ["c", "f"]},
            "days": {"type": "array", "items": {"type": "integer", "minimum": 1}},
        },
        "required": ["city"],
    }
    assert body["generationConfig"] == {
        "maxOutputTokens": 200,
        "temperature": 0.5,
        "topP": 0.9,
        "responseMimeType": "application/json",
    }


def test_schema_trimming_keeps_any_of() -> None:
    schema = {"anyOf": [{"type": "string", "const": "x"}, {"type": "integer"}], "title": "T", "$defs": {}}
    assert gemini_schema(schema) == {"anyOf": [{"type": "string"}, {"type": "integer"}], "title": "T"}


async def test_plain_body_has_no_optional_sections(mock_client: Any, sleeps: Any, gemini_shape: Any) -> None:
    server = Server(HELLO)
    await complete(provider(server, mock_client, sleeps), ask())
    gemini_shape(server.json)
    assert server.json == {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


# ------------------------------------------------------------------------------------ stream


async def test_text_thoughts_and_usage(mock_client: Any, sleeps: Any) -> None:
    body = chunk({"text": "pondering", "thought": True}) + HELLO
    events = [e async for e in provider(Server(body), mock_client, sleeps).stream(ask())]
    assert events == [
        ReasoningDelta("pondering"),
        TextDelta("Hel"),
        TextDelta("lo"),
        UsageReport(TokenUsage(10, 7)),
        Done("stop"),
    ]


async def test_function_calls(mock_client: Any, sleeps: Any) -> None:
    body = chunk(
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
        {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}, "id": "fc-2"}},
        finish="STOP",
    )
    reply = await complete(provider(Server(body), mock_client, sleeps), ask(tools=(WEATHER,)))
    assert reply.finish_reason == "tool_calls"
    assert [(c.name, c.arguments) for c in reply.tool_calls] == [
        ("get_weather", {"city": "Paris"}),
        ("get_weather", {"city": "Rome"}),
    ]
    assert reply.tool_calls[1].id == "fc-2"
    assert reply.tool_calls[0].id and reply.tool_calls[0].id != reply.tool_calls[1].id


@pytest.mark.parametrize(
    ("reason", "expected"),
    [("MAX_TOKENS", "length"), ("SAFETY", "content_filter"), ("RECITATION", "content_filter"),
     ("MALFORMED_FUNCTION_CALL", "error"), ("OTHER", "stop")],
)  # fmt: skip
async def test_finish_reasons(mock_client: Any, sleeps: Any, reason: str, expected: str) -> None:
    reply = await complete(provider(Server(chunk({"text": "x"}, finish=reason)), mock_client, sleeps), ask())
    assert reply.finish_reason == expected


async def test_blocked_prompt(mock_client: Any, sleeps: Any) -> None:
    body = f"data: {json.dumps({'promptFeedback': {'blockReason': 'SAFETY'}})}\n\n"
    reply = await complete(provider(Server(body), mock_client, sleeps), ask())
    assert (reply.content, reply.finish_reason) == ("", "content_filter")


async def test_stream_without_finish_reason_is_truncated(mock_client: Any, sleeps: Any) -> None:
    with pytest.raises(ProviderResponseError, match="no finishReason"):
        await complete(provider(Server(chunk({"text": "half"})), mock_client, sleeps), ask())


async def test_error_chunk(mock_client: Any, sleeps: Any) -> None:
    body = chunk({"text": "a"}) + f"data: {json.dumps({'error': {'code': 500, 'message': 'internal'}})}\n\n"
    with pytest.raises(ProviderResponseError, match="internal"):
        await complete(provider(Server(body), mock_client, sleeps), ask())


async def test_bad_request_body_in_a_list(mock_client: Any, sleeps: Any) -> None:
    body = json.dumps(
        [{"error": {"code": 400, "message": "Invalid JSON payload received.", "status": "INVALID_ARGUMENT"}}]
    )
    with pytest.raises(ProviderResponseError, match="Invalid JSON payload received") as info:
        await complete(provider(Server(body, status=400), mock_client, sleeps), ask())
    assert info.value.status == 400


def test_capabilities() -> None:
    p = GeminiProvider(None, env={})
    assert p.default_model() == "gemini-2.5-flash"
    assert p.capabilities("gemini-2.5-flash").max_context_tokens == 1_048_576
    assert p.capabilities("gemini-2.5-pro").max_output_tokens == 65_536
    assert p.capabilities("gemini-2.0-flash").max_output_tokens == 8_192
