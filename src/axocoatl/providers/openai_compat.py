"""OpenAI chat completions over httpx: OpenAI, OpenRouter, Mistral and any OpenAI-compatible server.

``POST {base_url}/chat/completions`` with ``stream: true``; SSE chunks whose tool-call
fragments are merged by index; ``data: [DONE]`` ends a complete stream.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

import httpx

from axocoatl.config.schema import RemoteProviderConfig
from axocoatl.core.errors import ProviderResponseError, UsageError
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
    error_detail,
    missing_key_error,
    object_schema,
    parse_json_object,
    section_key,
    sse_messages,
    tool_arguments_json,
    truncated,
)
from axocoatl.providers.text_tools import TextToolFilter


@dataclass(frozen=True)
class OpenAIPreset:
    """What differs between OpenAI-shaped vendors."""

    name: str
    base_url: str
    default_model: str
    key_env: str
    headers: Mapping[str, str] = field(default_factory=dict)
    max_tokens_field: str = "max_tokens"
    usage_option: bool = True  # send stream_options.include_usage (Mistral rejects it; sends usage anyway)
    short_tool_ids: bool = False  # Mistral wants tool-call ids of exactly 9 letters/digits
    unknown_context: int = 128_000


PRESETS: dict[str, OpenAIPreset] = {
    "openai": OpenAIPreset(
        "openai", "https://api.openai.com/v1", "gpt-4o-mini", "OPENAI_API_KEY", max_tokens_field="max_completion_tokens"
    ),
    "openrouter": OpenAIPreset(
        "openrouter",
        "https://openrouter.ai/api/v1",
        "openai/gpt-4o-mini",
        "OPENROUTER_API_KEY",
        headers={"HTTP-Referer": "https://axocoatl.ai", "X-Title": "Axocoatl"},
        unknown_context=32_768,
    ),
    "mistral": OpenAIPreset(
        "mistral", "https://api.mistral.ai/v1", "mistral-large-latest", "MISTRAL_API_KEY",
        usage_option=False, short_tool_ids=True,
    ),
}  # fmt: skip

# (substring of the model name, context window, max output) — first match wins.
_MODEL_LIMITS: tuple[tuple[str, int, int], ...] = (
    ("gpt-4.1", 1_047_576, 32_768),
    ("gpt-5", 400_000, 128_000),
    ("gpt-4o", 128_000, 16_384),
    ("gpt-4-turbo", 128_000, 4_096),
    ("gpt-4", 8_192, 4_096),
    ("gpt-3.5", 16_385, 4_096),
    ("o1", 200_000, 100_000),
    ("o3", 200_000, 100_000),
    ("o4", 200_000, 100_000),
    ("claude", 200_000, 8_192),
    ("gemini", 1_048_576, 8_192),
    ("mistral-large", 128_000, 4_096),
    ("mistral-medium", 128_000, 4_096),
    ("mistral-small", 128_000, 4_096),
    ("codestral", 256_000, 4_096),
)
_CUSTOM_SERVER_CONTEXT = 8_192  # a self-hosted server's window is unknowable from here: stay safe
_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
    "error": "error",
}
_SHORT_ID = re.compile(r"[A-Za-z0-9]{9}")


def normalize_base_url(url: str) -> str:
    """``http://host:8000`` → ``http://host:8000/v1``; a URL with a path is kept; a pasted endpoint is cut."""
    url = url.strip().rstrip("/").removesuffix("/chat/completions")
    return url + "/v1" if urlsplit(url).path in ("", "/") else url


class OpenAICompatProvider:
    """OpenAI chat completions. ``preset`` picks the vendor; ``section.base_url`` may point anywhere."""

    def __init__(
        self,
        section: RemoteProviderConfig | None = None,
        *,
        preset: str | OpenAIPreset = "openai",
        client: httpx.AsyncClient | None = None,
        sleep: SleepFn | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        spec = preset if isinstance(preset, OpenAIPreset) else _preset(preset)
        section = section or RemoteProviderConfig()
        self.name = spec.name
        self.base_url = normalize_base_url(section.base_url or spec.base_url)
        self.custom_server = self.base_url != spec.base_url
        if self.custom_server and spec.name == "openai":
            # vLLM, llama.cpp, LM Studio... know max_tokens; only api.openai.com insists on the new name.
            spec = replace(spec, max_tokens_field="max_tokens")
        self._spec = spec
        self._key = section_key(section, env, [spec.key_env])
        headers = {**spec.headers}
        if self._key:
            headers["authorization"] = f"Bearer {self._key}"
        self._http = HttpEndpoint.for_section(
            self.name,
            section,
            self.base_url,
            headers=headers,
            key_env=spec.key_env,
            key=self._key,
            client=client,
            sleep=sleep,
        )

    @classmethod
    def preset(
        cls,
        name: str,
        section: RemoteProviderConfig | None = None,
        *,
        client: httpx.AsyncClient | None = None,
        sleep: SleepFn | None = None,
        env: Mapping[str, str] | None = None,
    ) -> OpenAICompatProvider:
        """The provider for ``openai``, ``openrouter`` or ``mistral``."""
        return cls(section, preset=name, client=client, sleep=sleep, env=env)

    def default_model(self) -> str:
        return self._spec.default_model

    def capabilities(self, model: str) -> ProviderCapabilities:
        bare = (model or self.default_model()).rsplit("/", 1)[-1].lower()
        for fragment, context, output in _MODEL_LIMITS:
            if bare.startswith(fragment) or (len(fragment) > 2 and fragment in bare):
                return ProviderCapabilities(max_context_tokens=context, max_output_tokens=output)
        context = _CUSTOM_SERVER_CONTEXT if self.custom_server else self._spec.unknown_context
        return ProviderCapabilities(max_context_tokens=context, max_output_tokens=4_096)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        if not self._key and not self.custom_server:
            raise missing_key_error(self.name, self._spec.key_env)
        body = self.build_body(request)
        decode = _ChunkDecoder(self.name, request.tools).decode
        async for event in self._http.stream("/chat/completions", body, decode, model=body["model"]):
            yield event

    # ------------------------------------------------------------------------------- request

    def build_body(self, request: ChatRequest) -> dict[str, Any]:
        messages = list(request.messages)
        if request.response_format == "json" and not any("json" in m.content.lower() for m in messages):
            messages.insert(0, ChatMessage.system("Respond with a single JSON object."))  # OpenAI requires the word
        body: dict[str, Any] = {
            "model": request.model or self.default_model(),
            "messages": [self._message(m) for m in messages],
            "stream": True,
        }
        if self._spec.usage_option:
            body["stream_options"] = {"include_usage": True}
        if request.tools:
            body["tools"] = [_tool(t) for t in request.tools]
        if request.max_tokens is not None:
            body[self._spec.max_tokens_field] = request.max_tokens
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.top_p is not None:
            body["top_p"] = request.top_p
        if request.response_format == "json":
            body["response_format"] = {"type": "json_object"}
        return body

    def _message(self, message: ChatMessage) -> dict[str, Any]:
        if message.role == "tool":
            return {
                "role": "tool",
                "tool_call_id": self._call_id(message.tool_call_id or ""),
                "content": message.content,
            }
        if message.role == "assistant" and message.tool_calls:
            return {
                "role": "assistant",
                "content": message.content or None,
                "tool_calls": [
                    {
                        "id": self._call_id(c.id),
                        "type": "function",
                        "function": {"name": c.name, "arguments": json.dumps(c.arguments)},
                    }
                    for c in message.tool_calls
                ],
            }
        return {"role": message.role, "content": message.content}

    def _call_id(self, call_id: str) -> str:
        if not self._spec.short_tool_ids or _SHORT_ID.fullmatch(call_id):
            return call_id
        return hashlib.sha256(call_id.encode()).hexdigest()[:9]


def _preset(name: str) -> OpenAIPreset:
    try:
        return PRESETS[name]
    except KeyError:
        raise UsageError(
            f"no OpenAI-compatible preset called {name!r}", hint=f"use one of: {', '.join(PRESETS)}"
        ) from None


def _tool(tool: ToolSpec) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {"name": tool.name, "description": tool.description, "parameters": object_schema(tool.parameters)},
    }


# ------------------------------------------------------------------------------------ response


class _ChunkDecoder:
    """Turns ``chat.completion.chunk`` objects into stream events (one instance per call)."""

    def __init__(self, provider: str, offered: Sequence[ToolSpec]) -> None:
        self.provider = provider
        self.text = TextToolFilter(offered)
        self.usage: TokenUsage | None = None
        self.finish: FinishReason | None = None
        self.slots: dict[int, int] = {}  # wire index -> our index
        self.slot_ids: list[str] = []

    async def decode(self, lines: AsyncIterator[str]) -> AsyncIterator[StreamEvent]:
        async for message in sse_messages(lines):
            if message.data.strip() == "[DONE]":
                for event in self.close():
                    yield event
                return
            for event in self.chunk(parse_json_object(message.data, self.provider)):
                yield event
        raise truncated(self.provider, "data: [DONE]")

    def chunk(self, data: dict[str, Any]) -> list[StreamEvent]:
        if data.get("error"):
            detail = error_detail(json.dumps(data).encode())
            raise ProviderResponseError(
                f"{self.provider} reported an error in the middle of the stream: {detail}",
                provider=self.provider,
            )
        usage = as_dict(data.get("usage"))
        if usage:
            self.usage = TokenUsage(as_int(usage.get("prompt_tokens")), as_int(usage.get("completion_tokens")))
        events: list[StreamEvent] = []
        for choice in as_list(data.get("choices")):
            choice = as_dict(choice)
            delta = as_dict(choice.get("delta"))
            reasoning = as_str(delta.get("reasoning_content")) or as_str(delta.get("reasoning"))
            if reasoning:
                events.append(ReasoningDelta(reasoning))
            shown = self.text.feed(as_str(delta.get("content")))
            if shown:
                events.append(TextDelta(shown))
            events += [self.tool_delta(as_dict(tc)) for tc in as_list(delta.get("tool_calls"))]
            reason = choice.get("finish_reason")
            if isinstance(reason, str):
                self.finish = _FINISH.get(reason, "stop")
        return events

    def tool_delta(self, fragment: dict[str, Any]) -> ToolCallDelta:
        """Fragments merge by wire index; a new id on a known index (Mistral, some servers) is a new call."""
        wire = fragment.get("index")
        call_id = as_str(fragment.get("id")) or None
        function = as_dict(fragment.get("function"))
        key = wire if isinstance(wire, int) else -1
        slot = self.slots.get(key)
        if slot is None and key == -1 and self.slot_ids and not call_id:
            slot = len(self.slot_ids) - 1  # no index and no id: continues the last call
        if slot is None or (call_id and self.slot_ids[slot] and call_id != self.slot_ids[slot]):
            slot = len(self.slot_ids)
            self.slot_ids.append("")
            self.slots[key] = slot
        if call_id:
            self.slot_ids[slot] = call_id
        arguments = function.get("arguments")
        return ToolCallDelta(
            index=slot,
            id=call_id,
            name=as_str(function.get("name")) or None,
            arguments=tool_arguments_json(arguments) if arguments is not None else "",
        )

    def close(self) -> list[StreamEvent]:
        events, recovered = self.text.finish(structured_calls=bool(self.slot_ids))
        if self.usage is not None:
            events.append(UsageReport(self.usage))
        events.append(Done("tool_calls" if recovered else self.finish or "stop"))
        return events
