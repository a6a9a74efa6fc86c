"""The deterministic mock provider: replies are a function of the request."""

from __future__ import annotations

import json
from typing import Any

import pytest

from axocoatl.config.schema import AxocoatlConfig
from axocoatl.core.errors import (
    AuthenticationFailed,
    MockFailure,
    ProviderError,
    ProviderResponseError,
    ProviderUnavailable,
    RateLimited,
)
from axocoatl.core.messages import ChatMessage, ToolCall, ToolSpec
from axocoatl.providers.base import ChatRequest, Done, TextDelta, complete, estimate_prompt_tokens
from axocoatl.providers.mock import MockProvider
from axocoatl.providers.registry import build_provider
from axocoatl.tokens.counter import default_counter


def request(*messages: ChatMessage, options: dict[str, Any] | None = None, **fields: Any) -> ChatRequest:
    metadata = {"agent_id": fields.pop("agent_id", "tester"), "options": options or {}}
    return ChatRequest(model=fields.pop("model", "mock-1"), messages=messages, metadata=metadata, **fields)


async def test_same_request_same_reply_with_the_default_template() -> None:
    req = request(ChatMessage.system("sys"), ChatMessage.user("  what   is\nWAL? "))
    first = await complete(MockProvider(), req)
    second = await complete(MockProvider(), req)
    assert first == second
    assert first.content == "[tester] what is WAL?"
    assert first.finish_reason == "stop" and first.tool_calls == ()


async def test_reply_placeholders() -> None:
    template = "{agent}|{model}|{turn}|{input}|{digest}"
    messages = (ChatMessage.user("one"), ChatMessage.assistant("x"), ChatMessage.user("two"))
    reply = (await complete(MockProvider(), request(*messages, options={"reply": template}, model="m9"))).content
    agent, model, turn, text, digest = reply.split("|")
    assert (agent, model, turn, text) == ("tester", "m9", "2", "two")
    assert len(digest) == 8 and int(digest, 16) >= 0
    other = await complete(MockProvider(), request(ChatMessage.user("three"), options={"reply": "{digest}"}))
    assert other.content != digest  # the digest depends on the whole request


async def test_input_head_is_one_line_of_at_most_160_characters() -> None:
    long = "word " * 100
    reply = (await complete(MockProvider(), request(ChatMessage.user(long)))).content
    head = reply.removeprefix("[tester] ")
    assert len(head) == 160 and head.endswith("…") and "\n" not in head


async def test_scripted_replies_follow_the_user_turn() -> None:
    options = {"replies": ["first", "second"]}
    provider = MockProvider()
    convo = [ChatMessage.user("a")]
    replies = []
    for turn in range(3):
        reply = (await complete(provider, request(*convo, options=options))).content
        replies.append(reply)
        convo += [ChatMessage.assistant(reply), ChatMessage.user(f"next {turn}")]
    assert replies == ["first", "second", "first"]


async def test_scripted_tool_calls_come_first_then_the_reply_sees_the_result() -> None:
    options = {
        "tool_calls": [{"name": "echo", "arguments": {"text": "hi"}}, {"name": "json_keys", "arguments": {}}],
        "reply": "got {tool_result}",
    }
    provider = MockProvider()
    asked = await complete(provider, request(ChatMessage.user("go"), options=options))
    assert asked.finish_reason == "tool_calls" and asked.content == ""
    assert asked.tool_calls == (
        ToolCall("mock_call_0", "echo", {"text": "hi"}),
        ToolCall("mock_call_1", "json_keys", {}),
    )
    follow_up = request(
        ChatMessage.user("go"),
        ChatMessage.assistant("", tool_calls=asked.tool_calls),
        ChatMessage.tool('{"text": "hi"}', tool_call_id="mock_call_0", name="echo"),
        ChatMessage.tool('{"keys": []}', tool_call_id="mock_call_1", name="json_keys"),
        options=options,
    )
    answer = await complete(provider, follow_up)
    assert answer.tool_calls == ()
    assert answer.content == 'got {"keys": []}'


@pytest.mark.parametrize(
    ("kind", "error_class", "retryable"),
    [
        ("error", MockFailure, False),
        ("rate_limit", RateLimited, True),
        ("auth", AuthenticationFailed, False),
        ("server_error", ProviderUnavailable, True),
        ("timeout", ProviderUnavailable, True),
    ],
)
async def test_fail_with_maps_to_the_error_classes(kind: str, error_class: type[ProviderError], retryable: bool):
    with pytest.raises(error_class) as caught:
        await complete(MockProvider(), request(ChatMessage.user("x"), options={"fail": True, "fail_with": kind}))
    assert type(caught.value) is error_class
    assert caught.value.retryable is retryable
    assert caught.value.provider == "mock"
    assert "asked to fail" in caught.value.message


async def test_fail_when_matches_only_the_last_user_message() -> None:
    options = {"fail_when": "BOOM"}
    provider = MockProvider()
    earlier = (ChatMessage.user("BOOM earlier"), ChatMessage.assistant("r"))
    ok = request(*earlier, ChatMessage.user("calm"), options=options)
    assert (await complete(provider, ok)).content == "[tester] calm"
    with pytest.raises(MockFailure):
        await complete(provider, request(ChatMessage.user("now BOOM"), options=options))


async def test_usage_matches_the_runtime_token_count() -> None:
    tools = (ToolSpec("echo", "Echo.", {"type": "object"}),)
    req = request(ChatMessage.system("be brief"), ChatMessage.user("count me please"), tools=tools)
    response = await complete(MockProvider(), req)
    counter = default_counter()
    assert response.usage is not None
    assert response.usage.input == estimate_prompt_tokens(req, counter)
    assert response.usage.output == counter.count(response.content)


async def test_max_tokens_cuts_the_reply() -> None:
    options = {"reply": "one two three four five six seven eight nine ten"}
    response = await complete(MockProvider(), request(ChatMessage.user("x"), options=options, max_tokens=3))
    assert response.content == "one two three"
    assert response.finish_reason == "length"
    assert response.usage is not None and response.usage.output == 3


async def test_max_tokens_cuts_tool_calls_that_do_not_fit() -> None:
    options = {"tool_calls": [{"name": "echo", "arguments": {"text": "a long argument " * 10}}]}
    response = await complete(MockProvider(), request(ChatMessage.user("x"), options=options, max_tokens=5))
    assert response.tool_calls == ()
    assert response.finish_reason == "length"
    assert response.usage is not None and response.usage.output <= 5
    assert response.content.startswith("echo(")


async def test_reply_streams_in_chunks() -> None:
    options = {"reply": "abcdefghij", "chunk_size": 4}
    events = [e async for e in MockProvider().stream(request(ChatMessage.user("x"), options=options))]
    assert [e.text for e in events if isinstance(e, TextDelta)] == ["abcd", "efgh", "ij"]
    assert isinstance(events[-1], Done)


async def test_invalid_options_are_a_clear_provider_error() -> None:
    with pytest.raises(ProviderResponseError, match="invalid mock options") as caught:
        await complete(MockProvider(), request(ChatMessage.user("x"), options={"latency_ms": -1, "bogus": 1}))
    assert "latency_ms" in caught.value.message and "bogus" in caught.value.message


def test_registry_builds_the_mock() -> None:
    provider = build_provider(AxocoatlConfig(), "mock")
    assert isinstance(provider, MockProvider)
    assert provider.default_model() == "mock-1"
    assert provider.capabilities("mock-1").max_output_tokens == 4096
    assert json.dumps(provider.name) == '"mock"'
