"""Ollama adapter: /api/chat request shape (vs the ollama SDK's models), NDJSON stream, text tool calls."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from tests.providers.support import Server

from axocoatl.config.schema import OllamaProviderConfig
from axocoatl.core.errors import ModelNotFound, ProviderResponseError, ProviderUnavailable
from axocoatl.core.messages import ChatMessage, TokenUsage, ToolCall, ToolSpec
from axocoatl.providers.base import ChatRequest, Done, ReasoningDelta, TextDelta, UsageReport, complete
from axocoatl.providers.ollama import OllamaProvider

WEATHER = ToolSpec("get_weather", "Weather", {"type": "object", "properties": {"city": {"type": "string"}}})


def line(content: str = "", done: bool = False, **extra: Any) -> str:
    message = {"role": "assistant", "content": content, **extra.pop("message", {})}
    return json.dumps({"model": "llama3.2", "message": message, "done": done, **extra}) + "\n"


def final(reason: str = "stop", prompt: int = 26, output: int = 8) -> str:
    return line(done=True, done_reason=reason, prompt_eval_count=prompt, eval_count=output)


def provider(server: Server, mock_client: Any, sleeps: Any, **section: Any) -> OllamaProvider:
    return OllamaProvider(OllamaProviderConfig(**section), client=mock_client(server), sleep=sleeps)


def ask(*messages: ChatMessage, **kwargs: Any) -> ChatRequest:
    return ChatRequest("", messages or (ChatMessage.user("hi"),), **kwargs)


# ----------------------------------------------------------------------------------- request


@pytest.mark.parametrize(
    "base",
    ["http://localhost:11434", "http://localhost:11434/", "http://localhost:11434/v1", "http://localhost:11434/api"],
)
async def test_url_and_default_model(mock_client: Any, sleeps: Any, base: str) -> None:
    server = Server(line("hi") + final())
    p = provider(server, mock_client, sleeps, base_url=base)
    assert p.default_model() == "llama3.2"
    await complete(p, ask())
    assert str(server.requests[0].url) == "http://localhost:11434/api/chat"
    assert server.json["model"] == "llama3.2"
    assert "authorization" not in server.requests[0].headers


async def test_section_model_is_the_default(mock_client: Any, sleeps: Any) -> None:
    server = Server(line("hi") + final())
    await complete(provider(server, mock_client, sleeps, model="qwen2.5:7b"), ask())
    assert server.json["model"] == "qwen2.5:7b"


async def test_body_shape(mock_client: Any, sleeps: Any, ollama_shape: Any) -> None:
    server = Server(line("ok") + final())
    call = ToolCall(id="call-1", name="get_weather", arguments={"city": "Paris"})
    request = ChatRequest(
        "llama3.1",
        (
            ChatMessage.system("Be brief."),
            ChatMessage.user("Weather?"),
            ChatMessage.assistant("", (call,)),
            ChatMessage.tool("18C", tool_call_id="call-1", name="get_weather"),
        ),
        tools=(WEATHER, ToolSpec("now", "time", {})),
        max_tokens=50,
        temperature=0.1,
        top_p=0.5,
        response_format="json",
    )
    await complete(provider(server, mock_client, sleeps), request)
    body = server.json
    ollama_shape(body)
    assert body["stream"] is True
    assert body["format"] == "json"
    assert body["options"] == {"num_ctx": 8192, "temperature": 0.1, "top_p": 0.5, "num_predict": 50}
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}],
        },
        {"role": "tool", "content": "18C", "tool_name": "get_weather"},
    ]
    assert body["tools"] == [
        {
            "type": "function",
            "function": {"name": "get_weather", "description": "Weather", "parameters": WEATHER.parameters},
        },
        {
            "type": "function",
            "function": {"name": "now", "description": "time", "parameters": {"type": "object", "properties": {}}},
        },
    ]


async def test_plain_body(mock_client: Any, sleeps: Any, ollama_shape: Any) -> None:
    server = Server(line("ok") + final())
    await complete(provider(server, mock_client, sleeps), ask())
    ollama_shape(server.json)
    assert "tools" not in server.json and "format" not in server.json


# ------------------------------------------------------------------------------------ stream


async def test_text_thinking_and_counts(mock_client: Any, sleeps: Any) -> None:
    body = line(message={"thinking": "hmm"}) + line("Hel") + line("lo") + final(prompt=26, output=8)
    events = [e async for e in provider(Server(body), mock_client, sleeps).stream(ask())]
    assert events == [
        ReasoningDelta("hmm"),
        TextDelta("Hel"),
        TextDelta("lo"),
        UsageReport(TokenUsage(26, 8)),
        Done("stop"),
    ]


async def test_structured_tool_calls(mock_client: Any, sleeps: Any) -> None:
    calls = [
        {"function": {"name": "get_weather", "arguments": {"city": "Paris"}}},
        {"id": "call_x", "function": {"index": 1, "name": "get_weather", "arguments": {"city": "Rome"}}},
    ]
    body = line(message={"tool_calls": calls}) + final()
    reply = await complete(provider(Server(body), mock_client, sleeps), ask(tools=(WEATHER,)))
    assert reply.finish_reason == "tool_calls"
    assert [(c.name, c.arguments) for c in reply.tool_calls] == [
        ("get_weather", {"city": "Paris"}),
        ("get_weather", {"city": "Rome"}),
    ]
    assert reply.tool_calls[1].id == "call_x"


async def test_done_reason_length(mock_client: Any, sleeps: Any) -> None:
    reply = await complete(provider(Server(line("cut") + final("length")), mock_client, sleeps), ask())
    assert reply.finish_reason == "length"


@pytest.mark.parametrize(
    "text",
    [
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Lima"}}\n</tool_call>',
        "<tool_call>\n<function=get_weather>\n<parameter=city>\nLima\n</parameter>\n</function>\n</tool_call>",
        '{"name": "get_weather", "arguments": {"city": "Lima"}}',
    ],
)
async def test_text_tool_calls_are_recovered(mock_client: Any, sleeps: Any, text: str) -> None:
    pieces = [text[i : i + 7] for i in range(0, len(text), 7)]
    body = line("Sure. ") + "".join(line(p) for p in pieces) + final()
    events = [e async for e in provider(Server(body), mock_client, sleeps).stream(ask(tools=(WEATHER,)))]
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Sure. "
    assert events[-1] == Done("tool_calls")
    reply = await complete(provider(Server(body), mock_client, sleeps), ask(tools=(WEATHER,)))
    assert [(c.name, c.arguments) for c in reply.tool_calls] == [("get_weather", {"city": "Lima"})]


async def test_text_calls_for_unoffered_tools_stay_text(mock_client: Any, sleeps: Any) -> None:
    text = '<tool_call>{"name": "delete_all", "arguments": {}}</tool_call>'
    reply = await complete(provider(Server(line(text) + final()), mock_client, sleeps), ask(tools=(WEATHER,)))
    assert reply.content == text and reply.tool_calls == () and reply.finish_reason == "stop"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (line("half"), "no final chunk with done: true"),
        (line("a") + '{"model": "llama3.2", "mess\n', "not valid JSON"),
        (line("a") + json.dumps({"error": "model crashed"}) + "\n", "model crashed"),
    ],
)
async def test_broken_streams_are_errors(mock_client: Any, sleeps: Any, body: str, message: str) -> None:
    with pytest.raises(ProviderResponseError, match=message):
        await complete(provider(Server(body), mock_client, sleeps), ask())


async def test_missing_model_says_how_to_pull_it(mock_client: Any, sleeps: Any) -> None:
    server = Server(json.dumps({"error": 'model "mystral" not found, try pulling it first'}), status=404)
    with pytest.raises(ModelNotFound, match="ollama pull mystral") as info:
        await complete(provider(server, mock_client, sleeps), ChatRequest("mystral", (ChatMessage.user("u"),)))
    assert "'mystral'" in str(info.value)


async def test_unreachable_server_says_how_to_start_it(mock_client: Any, sleeps: Any) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    p = OllamaProvider(OllamaProviderConfig(max_retries=1), client=mock_client(refuse), sleep=sleeps)
    with pytest.raises(ProviderUnavailable, match="ollama serve"):
        await complete(p, ask())
    assert len(sleeps.delays) == 1


def test_capabilities() -> None:
    caps = OllamaProvider().capabilities("llama3.2")
    assert (caps.max_context_tokens, caps.streaming, caps.tool_calling) == (8192, True, True)
