"""The provider protocol: one streaming chat call, shared request/response types."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from axocoatl.core.errors import ProviderResponseError
from axocoatl.core.messages import ChatMessage, TokenUsage, ToolCall, ToolSpec
from axocoatl.tokens.counter import TokenCounter, default_counter

FinishReason = Literal["stop", "tool_calls", "length", "content_filter", "error"]


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: tuple[ChatMessage, ...]
    tools: tuple[ToolSpec, ...] = ()
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    response_format: Literal["text", "json"] = "text"
    # Free-form metadata for providers that need it (the mock uses the agent id).
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class ReasoningDelta:
    text: str


@dataclass(frozen=True)
class ToolCallDelta:
    """A fragment of a tool call. Fragments with the same index (or id) are merged."""

    index: int | None
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(frozen=True)
class UsageReport:
    usage: TokenUsage


@dataclass(frozen=True)
class Done:
    finish_reason: FinishReason = "stop"
    # Who answered, when not the provider that was called (a fallback): spend is recorded under it.
    provider: str | None = None
    model: str | None = None


StreamEvent = TextDelta | ReasoningDelta | ToolCallDelta | UsageReport | Done


@dataclass(frozen=True)
class ProviderCapabilities:
    streaming: bool = True
    tool_calling: bool = True
    json_mode: bool = True
    max_context_tokens: int = 8192
    max_output_tokens: int = 4096


@dataclass(frozen=True)
class ChatResponse:
    content: str
    tool_calls: tuple[ToolCall, ...]
    finish_reason: FinishReason
    usage: TokenUsage | None  # None when the provider reported nothing
    reasoning: str = ""
    provider: str | None = None  # set when another provider than the one called answered (a fallback)
    model: str | None = None


@runtime_checkable
class Provider(Protocol):
    """A model backend. ``stream`` yields events and ends with exactly one ``Done``."""

    name: str

    def default_model(self) -> str: ...

    def capabilities(self, model: str) -> ProviderCapabilities: ...

    def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]: ...

    async def aclose(self) -> None: ...


class ResponseAccumulator:
    """Folds stream events into a ChatResponse; merges tool-call fragments by index, else by id."""

    def __init__(self, provider: str = "") -> None:
        self.provider = provider
        self.text: list[str] = []
        self.reasoning: list[str] = []
        self.usage: TokenUsage | None = None
        self.finish: FinishReason | None = None
        self._calls: list[dict[str, Any]] = []
        self.answered_by: tuple[str | None, str | None] = (None, None)

    def add(self, event: StreamEvent) -> None:
        if isinstance(event, TextDelta):
            self.text.append(event.text)
        elif isinstance(event, ReasoningDelta):
            self.reasoning.append(event.text)
        elif isinstance(event, ToolCallDelta):
            self._merge(event)
        elif isinstance(event, UsageReport):
            self.usage = event.usage
        elif isinstance(event, Done):
            self.finish = event.finish_reason
            self.answered_by = (event.provider, event.model)

    def _merge(self, delta: ToolCallDelta) -> None:
        slot: dict[str, Any] | None = None
        if delta.index is not None:
            slot = next((c for c in self._calls if c["index"] == delta.index), None)
        elif delta.id:
            slot = next((c for c in self._calls if c["id"] == delta.id), None)
        elif self._calls:
            slot = self._calls[-1]
        if slot is None:
            slot = {"index": delta.index, "id": delta.id or "", "name": delta.name or "", "args": []}
            self._calls.append(slot)
        if delta.id and not slot["id"]:
            slot["id"] = delta.id
        if delta.name and not slot["name"]:
            slot["name"] = delta.name
        if delta.arguments:
            slot["args"].append(delta.arguments)

    def response(self) -> ChatResponse:
        if self.finish is None:
            raise ProviderResponseError(
                "the provider's stream ended before it was complete (no finish event)",
                provider=self.provider,
                hint="the connection was cut or the server crashed; the call can be retried",
            )
        calls = []
        for n, slot in enumerate(self._calls):
            raw = "".join(slot["args"]).strip()
            try:
                args = json.loads(raw) if raw else {}
            except json.JSONDecodeError as exc:
                raise ProviderResponseError(
                    f"tool call {slot['name']!r} came with arguments that are not valid JSON: {raw[:200]!r}",
                    provider=self.provider,
                ) from exc
            if not isinstance(args, dict):
                args = {"value": args}
            calls.append(ToolCall(id=slot["id"] or f"call_{n}", name=slot["name"], arguments=args))
        finish = self.finish
        if calls and finish == "stop":
            finish = "tool_calls"
        return ChatResponse(
            content="".join(self.text),
            tool_calls=tuple(calls),
            finish_reason=finish,
            usage=self.usage,
            reasoning="".join(self.reasoning),
            provider=self.answered_by[0],
            model=self.answered_by[1],
        )


async def complete(provider: Provider, request: ChatRequest) -> ChatResponse:
    """Run one streaming call to the end and return the whole response."""
    acc = ResponseAccumulator(provider.name)
    async for event in provider.stream(request):
        acc.add(event)
    return acc.response()


def estimate_prompt_tokens(request: ChatRequest, counter: TokenCounter | None = None) -> int:
    """Tokens the request's messages and tool schemas take, counted with cl100k."""
    counter = counter or default_counter()
    total = counter.count_messages(request.messages)
    for tool in request.tools:
        total += counter.count(tool.name) + counter.count(tool.description) + counter.count(json.dumps(tool.parameters))
    return total


class ConcurrencyCapped:
    """A provider that makes at most ``limit`` calls at once (``providers.X.max_concurrency``)."""

    def __init__(self, inner: Provider, limit: int) -> None:
        self.inner = inner
        self.name = inner.name
        self._slots = asyncio.Semaphore(limit)

    def default_model(self) -> str:
        return self.inner.default_model()

    def capabilities(self, model: str) -> ProviderCapabilities:
        return self.inner.capabilities(model)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        async with self._slots:
            async for event in self.inner.stream(request):
                yield event

    async def aclose(self) -> None:
        await self.inner.aclose()
