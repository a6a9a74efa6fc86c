"""The ``mock`` provider: replies are a deterministic function of the request.

The same request always gets the same reply, so a step re-run after a crash returns
exactly what the first attempt would have. Per-agent ``options`` (see MockOptions)
script replies and tool calls, add latency and inject failures. Documented in
docs/mock-provider.md; users and our own examples and tests rely on it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from pydantic import ValidationError

from axocoatl.config.schema import MockOptions
from axocoatl.core.errors import (
    AuthenticationFailed,
    MockFailure,
    ProviderResponseError,
    ProviderUnavailable,
    RateLimited,
)
from axocoatl.core.messages import ChatMessage, TokenUsage
from axocoatl.providers.base import (
    ChatRequest,
    Done,
    ProviderCapabilities,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    UsageReport,
    estimate_prompt_tokens,
)
from axocoatl.tokens.counter import TokenCounter, default_counter

_DEFAULT_OPTIONS = MockOptions()


class MockProvider:
    """A deterministic, dependency-free provider for tests, examples and benchmarks."""

    name = "mock"

    def __init__(self, counter: TokenCounter | None = None) -> None:
        self._counter = counter or default_counter()
        self._options_cache: dict[str, MockOptions] = {}

    def default_model(self) -> str:
        return "mock-1"

    def capabilities(self, model: str) -> ProviderCapabilities:
        return ProviderCapabilities(max_context_tokens=32768, max_output_tokens=4096)

    async def aclose(self) -> None:
        return None

    def options_for(self, request: ChatRequest) -> MockOptions:
        raw = request.metadata.get("options")
        if not raw:
            return _DEFAULT_OPTIONS
        key = json.dumps(raw, sort_keys=True, default=str)
        cached = self._options_cache.get(key)
        if cached is None:
            try:
                cached = MockOptions.model_validate(raw)
            except ValidationError as exc:
                raise ProviderResponseError(f"invalid mock options: {exc}", provider=self.name) from exc
            self._options_cache[key] = cached
        return cached

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        options = self.options_for(request)
        if options.latency_ms:
            await asyncio.sleep(options.latency_ms / 1000.0)
        last_user = _last_user(request.messages)
        if options.fail or (options.fail_when is not None and options.fail_when in last_user):
            raise _failure(options.fail_with, self.name)

        prompt_tokens = estimate_prompt_tokens(request, self._counter)
        calls = options.tool_calls if not _tool_results_since_last_user(request.messages) else []
        if calls:
            output_tokens = sum(
                self._counter.count(c.name) + self._counter.count(json.dumps(c.arguments)) for c in calls
            )
            if request.max_tokens is None or output_tokens <= request.max_tokens:
                for index, call in enumerate(calls):
                    arguments = json.dumps(call.arguments)
                    yield ToolCallDelta(index=index, id=f"mock_call_{index}", name=call.name, arguments=arguments)
                yield UsageReport(TokenUsage(prompt_tokens, output_tokens))
                yield Done("tool_calls")
                return
            # Like a real model cut off by max_tokens mid-call: no usable call, a truncated
            # text reply finishing with `length`, and never more output than allowed.
            text = " ".join(f"{c.name}({json.dumps(c.arguments)})" for c in calls)
            text = self._counter.truncate(text, request.max_tokens)
            yield TextDelta(text)
            yield UsageReport(TokenUsage(prompt_tokens, self._counter.count(text)))
            yield Done("length")
            return

        text = self.reply_text(request, options, last_user)
        finish: Any = "stop"
        if request.max_tokens is not None and self._counter.count(text) > request.max_tokens:
            text = self._counter.truncate(text, request.max_tokens)
            finish = "length"
        size = options.chunk_size
        for start in range(0, len(text), size):
            yield TextDelta(text[start : start + size])
        yield UsageReport(TokenUsage(prompt_tokens, self._counter.count(text)))
        yield Done(finish)

    def reply_text(self, request: ChatRequest, options: MockOptions, last_user: str) -> str:
        turn = sum(1 for m in request.messages if m.role == "user")
        agent = str(request.metadata.get("agent_id", "agent"))
        if options.replies:
            template = options.replies[(turn - 1) % len(options.replies)]
        elif options.reply is not None:
            template = options.reply
        else:
            template = "[{agent}] {input_head}"
        # Placeholders are substituted in this order, each value computed only when its placeholder
        # is present (the digest hashes the whole request: the default template never needs it).
        values: tuple[tuple[str, Callable[[], str]], ...] = (
            ("{input}", lambda: last_user),
            ("{input_head}", lambda: _head(last_user)),
            ("{agent}", lambda: agent),
            ("{model}", lambda: request.model),
            ("{digest}", lambda: _digest(request)),
            ("{turn}", lambda: str(turn)),
            ("{tool_result}", lambda: _last_tool_result(request.messages)),
        )
        text = template
        for key, value in values:
            if key in text:
                text = text.replace(key, value())
        return text


def _last_user(messages: tuple[ChatMessage, ...]) -> str:
    for message in reversed(messages):
        if message.role == "user":
            return message.content
    return ""


def _head(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _tool_results_since_last_user(messages: tuple[ChatMessage, ...]) -> bool:
    for message in reversed(messages):
        if message.role == "tool":
            return True
        if message.role == "user":
            return False
    return False


def _last_tool_result(messages: tuple[ChatMessage, ...]) -> str:
    for message in reversed(messages):
        if message.role == "tool":
            return message.content
        if message.role == "user":
            break
    return ""


def _digest(request: ChatRequest) -> str:
    payload = json.dumps([m.to_dict() for m in request.messages], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(f"{request.model}\n{payload}".encode()).hexdigest()[:8]


def _failure(kind: str, provider: str) -> Exception:
    reason = "the mock provider was asked to fail (agent options fail / fail_when)"
    if kind == "rate_limit":
        return RateLimited(f"rate limited: {reason}", provider=provider, retry_after=0.0)
    if kind == "auth":
        return AuthenticationFailed(f"authentication failed: {reason}", provider=provider)
    if kind == "server_error":
        return ProviderUnavailable(f"server error: {reason}", provider=provider)
    if kind == "timeout":
        return ProviderUnavailable(f"timed out: {reason}", provider=provider)
    return MockFailure(reason, provider=provider)
