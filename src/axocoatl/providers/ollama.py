"""Ollama's native chat API over httpx: ``POST {base_url}/api/chat`` with an NDJSON stream.

Chunks carry ``done: false`` until the last one (``done: true``, token counts, ``done_reason``).
Small local models often write tool calls as text; those are recovered (see ``text_tools``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import httpx

from axocoatl.config.schema import OllamaProviderConfig
from axocoatl.core.errors import ProviderResponseError
from axocoatl.core.ids import new_id
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
    as_list,
    as_str,
    ndjson_objects,
    object_schema,
    tool_arguments_json,
    truncated,
)
from axocoatl.providers.text_tools import TextToolFilter

DEFAULT_MODEL = "llama3.2"
CONTEXT_TOKENS = 8_192  # sent as options.num_ctx, so the window we plan for is the one Ollama uses


class OllamaProvider:
    """A model served by a local (or remote) Ollama."""

    name = "ollama"

    def __init__(
        self,
        section: OllamaProviderConfig | None = None,
        *,
        client: httpx.AsyncClient | None = None,
        sleep: SleepFn | None = None,
        env: Mapping[str, str] | None = None,  # accepted for symmetry: Ollama needs no key
    ) -> None:
        section = section or OllamaProviderConfig()
        self.base_url = section.base_url.strip().rstrip("/").removesuffix("/v1").removesuffix("/api")
        self._model = section.model or DEFAULT_MODEL
        self._http = HttpEndpoint.for_section(
            self.name,
            section,
            self.base_url,
            headers={},
            key_env="",
            client=client,
            sleep=sleep,
            model_hint=lambda model: f"pull it first: ollama pull {model}",
            unreachable_hint=f"is Ollama running at {self.base_url}? start it with `ollama serve`, "
            "or set providers.ollama.base_url",
        )

    def default_model(self) -> str:
        return self._model

    def capabilities(self, model: str) -> ProviderCapabilities:
        return ProviderCapabilities(max_context_tokens=CONTEXT_TOKENS, max_output_tokens=4_096)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        body = self.build_body(request)
        decode = _ChunkDecoder(request.tools).decode
        async for event in self._http.stream("/api/chat", body, decode, model=body["model"]):
            yield event

    def build_body(self, request: ChatRequest) -> dict[str, Any]:
        options: dict[str, Any] = {"num_ctx": CONTEXT_TOKENS}
        if request.temperature is not None:
            options["temperature"] = request.temperature
        if request.top_p is not None:
            options["top_p"] = request.top_p
        if request.max_tokens is not None:
            options["num_predict"] = request.max_tokens
        body: dict[str, Any] = {
            "model": request.model or self._model,
            "messages": [_message(m) for m in request.messages],
            "stream": True,
            "options": options,
        }
        if request.tools:
            body["tools"] = [_tool(t) for t in request.tools]
        if request.response_format == "json":
            body["format"] = "json"
        return body


def _tool(tool: ToolSpec) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {"name": tool.name, "description": tool.description, "parameters": object_schema(tool.parameters)},
    }


def _message(message: ChatMessage) -> dict[str, Any]:
    data: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        data["tool_calls"] = [{"function": {"name": c.name, "arguments": c.arguments}} for c in message.tool_calls]
    if message.role == "tool" and message.name:
        data["tool_name"] = message.name
    return data


class _ChunkDecoder:
    """Turns ``/api/chat`` chunks into stream events (one instance per call)."""

    def __init__(self, offered: Sequence[ToolSpec]) -> None:
        self.text = TextToolFilter(offered)
        self.calls = 0

    async def decode(self, lines: AsyncIterator[str]) -> AsyncIterator[StreamEvent]:
        async for chunk in ndjson_objects(lines, "ollama"):
            if chunk.get("error"):
                raise ProviderResponseError(
                    f"ollama reported an error in the middle of the stream: {chunk['error']}", provider="ollama"
                )
            for event in self.message(as_dict(chunk.get("message"))):
                yield event
            if chunk.get("done") is True:
                for event in self.close(chunk):
                    yield event
                return
        raise truncated("ollama", "final chunk with done: true")

    def message(self, message: dict[str, Any]) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        thinking = as_str(message.get("thinking"))
        if thinking:
            events.append(ReasoningDelta(thinking))
        shown = self.text.feed(as_str(message.get("content")))
        if shown:
            events.append(TextDelta(shown))
        for call in as_list(message.get("tool_calls")):
            function = as_dict(as_dict(call).get("function"))
            events.append(
                ToolCallDelta(
                    index=self.calls,
                    id=as_str(as_dict(call).get("id")) or new_id("call"),
                    name=as_str(function.get("name")),
                    arguments=tool_arguments_json(function.get("arguments")),
                )
            )
            self.calls += 1
        return events

    def close(self, final: dict[str, Any]) -> list[StreamEvent]:
        events, recovered = self.text.finish(structured_calls=self.calls > 0)
        events.append(UsageReport(TokenUsage(as_int(final.get("prompt_eval_count")), as_int(final.get("eval_count")))))
        finish: FinishReason = "length" if final.get("done_reason") == "length" else "stop"
        events.append(Done("tool_calls" if recovered or self.calls else finish))
        return events
