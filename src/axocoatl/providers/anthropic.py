"""Anthropic Messages API over httpx: ``POST {base}/v1/messages`` with an SSE stream.

Input tokens arrive in ``message_start`` and output tokens in ``message_delta``; both are
kept and reported together at ``message_stop`` (the original lost the input count).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx

from axocoatl.config.schema import RemoteProviderConfig
from axocoatl.core.errors import ProviderResponseError
from axocoatl.core.messages import ChatMessage, TokenUsage, ToolSpec
from axocoatl.providers.base import (
    ChatRequest,
    Done,
    FinishReason,
    ProviderCapabilities,
    ReasoningDelta,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    UsageReport,
)
from axocoatl.providers.http import (
    HttpEndpoint,
    SleepFn,
    as_dict,
    as_int,
    as_str,
    missing_key_error,
    object_schema,
    parse_json_object,
    section_key,
    sse_messages,
    truncated,
)

ANTHROPIC_BASE_URL = "https://api.anthropic.com"
ANTHROPIC_VERSION = "2023-06-01"
KEY_ENV = "ANTHROPIC_API_KEY"
DEFAULT_MODEL = "claude-sonnet-4-6"
DEFAULT_MAX_TOKENS = 4096
JSON_INSTRUCTION = "Respond with a single valid JSON object and nothing else: no prose, no code fences."

_STOP: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "refusal": "content_filter",
}


class AnthropicProvider:
    """Claude through the Messages API."""

    name = "anthropic"

    def __init__(
        self,
        section: RemoteProviderConfig | None = None,
        *,
        client: httpx.AsyncClient | None = None,
        sleep: SleepFn | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        section = section or RemoteProviderConfig()
        self.base_url = (section.base_url or ANTHROPIC_BASE_URL).strip().rstrip("/").removesuffix("/v1")
        self.custom_server = self.base_url != ANTHROPIC_BASE_URL
        self._key = section_key(section, env, [KEY_ENV])
        headers = {"anthropic-version": ANTHROPIC_VERSION}
        if self._key:
            headers["x-api-key"] = self._key
        self._http = HttpEndpoint.for_section(
            self.name,
            section,
            self.base_url,
            headers=headers,
            key_env=KEY_ENV,
            key=self._key,
            client=client,
            sleep=sleep,
        )

    def default_model(self) -> str:
        return DEFAULT_MODEL

    def capabilities(self, model: str) -> ProviderCapabilities:
        model = model or DEFAULT_MODEL
        if "opus-4" in model:
            output = 32_000
        elif any(f in model for f in ("sonnet-4", "haiku-4", "3-7")):
            output = 64_000
        else:
            output = 8_192
        return ProviderCapabilities(max_context_tokens=200_000, max_output_tokens=output)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        if not self._key and not self.custom_server:
            raise missing_key_error(self.name, KEY_ENV)
        body = self.build_body(request)
        async for event in self._http.stream("/v1/messages", body, _EventDecoder().decode, model=body["model"]):
            yield event

    def build_body(self, request: ChatRequest) -> dict[str, Any]:
        system = [m.content for m in request.messages if m.role == "system" and m.content]
        if request.response_format == "json":
            system.append(JSON_INSTRUCTION)
        body: dict[str, Any] = {
            "model": request.model or DEFAULT_MODEL,
            "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
            "messages": _turns(request.messages),
            "stream": True,
        }
        if system:
            body["system"] = "\n\n".join(system)
        if request.tools:
            body["tools"] = [_tool(t) for t in request.tools]
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.top_p is not None:
            body["top_p"] = request.top_p
        return body


def _tool(tool: ToolSpec) -> dict[str, Any]:
    return {"name": tool.name, "description": tool.description, "input_schema": object_schema(tool.parameters)}


def _turns(messages: tuple[ChatMessage, ...]) -> list[dict[str, Any]]:
    """Alternating user/assistant turns; tool results become ``tool_result`` blocks of one user turn."""
    turns: list[dict[str, Any]] = []
    for message in messages:
        blocks: list[dict[str, Any]] = []
        role = "assistant" if message.role == "assistant" else "user"
        if message.role == "system":
            continue
        if message.role == "tool":
            blocks.append(
                {"type": "tool_result", "tool_use_id": message.tool_call_id or "", "content": message.content}
            )
        elif message.content.strip():
            blocks.append({"type": "text", "text": message.content})
        for call in message.tool_calls:
            blocks.append({"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments})
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return turns


def _input_tokens(usage: dict[str, Any]) -> int:
    return (
        as_int(usage.get("input_tokens"))
        + as_int(usage.get("cache_creation_input_tokens"))
        + as_int(usage.get("cache_read_input_tokens"))
    )


class _EventDecoder:
    """Turns Messages-API stream events into stream events (one instance per call)."""

    def __init__(self) -> None:
        self.input_tokens = 0
        self.output_tokens = 0
        self.finish: FinishReason = "stop"

    async def decode(self, lines: AsyncIterator[str]) -> AsyncIterator[StreamEvent]:
        async for message in sse_messages(lines):
            data = parse_json_object(message.data, "anthropic")
            kind = as_str(data.get("type")) or message.event
            if kind == "message_stop":
                yield UsageReport(TokenUsage(self.input_tokens, self.output_tokens))
                yield Done(self.finish)
                return
            for event in self.event(kind, data):
                yield event
        raise truncated("anthropic", "message_stop event")

    def event(self, kind: str, data: dict[str, Any]) -> list[StreamEvent]:
        if kind == "message_start":
            usage = as_dict(as_dict(data.get("message")).get("usage"))
            self.input_tokens = _input_tokens(usage)
            self.output_tokens = as_int(usage.get("output_tokens"))
        elif kind == "content_block_start":
            return self.block_start(as_int(data.get("index")), as_dict(data.get("content_block")))
        elif kind == "content_block_delta":
            return self.block_delta(as_int(data.get("index")), as_dict(data.get("delta")))
        elif kind == "message_delta":
            reason = as_str(as_dict(data.get("delta")).get("stop_reason"))
            if reason:
                self.finish = _STOP.get(reason, "stop")
            usage = as_dict(data.get("usage"))
            if "output_tokens" in usage:
                self.output_tokens = as_int(usage.get("output_tokens"))
            if as_int(usage.get("input_tokens")):  # newer servers repeat the input count here
                self.input_tokens = _input_tokens(usage)
        elif kind == "error":
            error = as_dict(data.get("error"))
            raise ProviderResponseError(
                f"anthropic reported {as_str(error.get('type')) or 'an error'} in the middle of the stream: "
                f"{as_str(error.get('message'))}",
                provider="anthropic",
                hint="the partial answer was discarded; overloaded or api errors can be retried",
            )
        return []

    @staticmethod
    def block_start(index: int, block: dict[str, Any]) -> list[StreamEvent]:
        kind = as_str(block.get("type"))
        if kind == "tool_use":
            initial = as_dict(block.get("input"))
            return [
                ToolCallDelta(
                    index=index,
                    id=as_str(block.get("id")) or None,
                    name=as_str(block.get("name")) or None,
                    arguments=json.dumps(initial) if initial else "",
                )
            ]
        if kind == "text" and as_str(block.get("text")):
            return [TextDelta(as_str(block.get("text")))]
        if kind == "thinking" and as_str(block.get("thinking")):
            return [ReasoningDelta(as_str(block.get("thinking")))]
        return []

    @staticmethod
    def block_delta(index: int, delta: dict[str, Any]) -> list[StreamEvent]:
        kind = as_str(delta.get("type"))
        if kind == "text_delta":
            return [TextDelta(as_str(delta.get("text")))]
        if kind == "input_json_delta":
            return [ToolCallDelta(index=index, arguments=as_str(delta.get("partial_json")))]
        if kind == "thinking_delta":
            return [ReasoningDelta(as_str(delta.get("thinking")))]
        return []
