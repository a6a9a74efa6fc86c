"""Google Gemini over httpx: ``POST {base}/v1beta/models/{model}:streamGenerateContent?alt=sse``.

Gemini has no end-of-stream marker: a stream is complete once a candidate carried a
``finishReason`` (or the prompt was blocked); a stream that ends before that was cut.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx

from axocoatl.config.schema import RemoteProviderConfig
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
    error_detail,
    missing_key_error,
    parse_json_object,
    parse_tool_result,
    section_key,
    sse_messages,
    truncated,
)

GEMINI_BASE_URL = "https://generativelanguage.googleapis.com"
KEY_ENVS = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
DEFAULT_MODEL = "gemini-2.5-flash"

_FINISH: dict[str, FinishReason] = {
    "STOP": "stop",
    "FINISH_REASON_UNSPECIFIED": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "MALFORMED_FUNCTION_CALL": "error",
    "UNEXPECTED_TOOL_CALL": "error",
    "TOO_MANY_TOOL_CALLS": "error",
    "MISSING_THOUGHT_SIGNATURE": "error",
}
# The OpenAPI-3.0 subset of JSON Schema that ``functionDeclarations[].parameters`` accepts.
_SCHEMA_KEYS = frozenset(
    {
        "type", "format", "title", "description", "nullable", "enum", "maxItems", "minItems", "properties",
        "required", "minProperties", "maxProperties", "minLength", "maxLength", "pattern", "example", "anyOf",
        "propertyOrdering", "default", "items", "minimum", "maximum",
    }
)  # fmt: skip


def gemini_schema(schema: object) -> Any:
    """Trim a JSON schema to what Gemini accepts (``["string", "null"]`` becomes ``nullable``)."""
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key not in _SCHEMA_KEYS:
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: gemini_schema(sub) for name, sub in value.items()}
        elif key == "items":
            out[key] = gemini_schema(value)
        elif key == "anyOf" and isinstance(value, list):
            out[key] = [gemini_schema(sub) for sub in value]
        elif key == "type" and isinstance(value, list):
            kinds = [k for k in value if k != "null"]
            out["type"] = kinds[0] if kinds else "string"
            if "null" in value:
                out["nullable"] = True
        else:
            out[key] = value
    return out


class GeminiProvider:
    """Gemini through the Generative Language API (v1beta)."""

    name = "gemini"

    def __init__(
        self,
        section: RemoteProviderConfig | None = None,
        *,
        client: httpx.AsyncClient | None = None,
        sleep: SleepFn | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        section = section or RemoteProviderConfig()
        self.base_url = (section.base_url or GEMINI_BASE_URL).strip().rstrip("/").removesuffix("/v1beta")
        self.custom_server = self.base_url != GEMINI_BASE_URL
        self._key = section_key(section, env, KEY_ENVS)
        self._http = HttpEndpoint.for_section(
            self.name,
            section,
            self.base_url,
            headers={"x-goog-api-key": self._key} if self._key else {},
            key_env=KEY_ENVS[0],
            key=self._key,
            client=client,
            sleep=sleep,
        )

    def default_model(self) -> str:
        return DEFAULT_MODEL

    def capabilities(self, model: str) -> ProviderCapabilities:
        output = 65_536 if "2.5" in model or "gemini-3" in model or not model else 8_192
        return ProviderCapabilities(max_context_tokens=1_048_576, max_output_tokens=output)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        if not self._key and not self.custom_server:
            raise missing_key_error(self.name, KEY_ENVS[0])
        model = (request.model or DEFAULT_MODEL).removeprefix("models/")
        path = f"/v1beta/models/{model}:streamGenerateContent?alt=sse"
        async for event in self._http.stream(path, self.build_body(request), _ChunkDecoder().decode, model=model):
            yield event

    def build_body(self, request: ChatRequest) -> dict[str, Any]:
        body: dict[str, Any] = {"contents": _contents(request.messages)}
        system = "\n\n".join(m.content for m in request.messages if m.role == "system" and m.content)
        if system:
            body["systemInstruction"] = {"parts": [{"text": system}]}
        if request.tools:
            body["tools"] = [{"functionDeclarations": [_declaration(t) for t in request.tools]}]
        config: dict[str, Any] = {}
        if request.max_tokens is not None:
            config["maxOutputTokens"] = request.max_tokens
        if request.temperature is not None:
            config["temperature"] = request.temperature
        if request.top_p is not None:
            config["topP"] = request.top_p
        if request.response_format == "json":
            config["responseMimeType"] = "application/json"
        if config:
            body["generationConfig"] = config
        return body


def _declaration(tool: ToolSpec) -> dict[str, Any]:
    declaration: dict[str, Any] = {"name": tool.name, "description": tool.description}
    if tool.parameters.get("properties"):  # Gemini rejects an OBJECT schema without properties
        declaration["parameters"] = gemini_schema(tool.parameters)
    return declaration


def _contents(messages: tuple[ChatMessage, ...]) -> list[dict[str, Any]]:
    """``user``/``model`` turns; consecutive tool results are merged into one user turn."""
    names = {c.id: c.name for m in messages for c in m.tool_calls}
    contents: list[dict[str, Any]] = []
    for message in messages:
        if message.role == "system":
            continue
        parts: list[dict[str, Any]] = []
        if message.role == "tool":
            name = message.name or names.get(message.tool_call_id or "", "")
            parts.append({"functionResponse": {"name": name, "response": parse_tool_result(message.content)}})
        elif message.content:
            parts.append({"text": message.content})
        parts += [{"functionCall": {"name": c.name, "args": c.arguments}} for c in message.tool_calls]
        if not parts:
            continue
        role = "model" if message.role == "assistant" else "user"
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})
    return contents


class _ChunkDecoder:
    """Turns ``GenerateContentResponse`` chunks into stream events (one instance per call)."""

    def __init__(self) -> None:
        self.calls = 0
        self.usage: TokenUsage | None = None
        self.finish: FinishReason | None = None

    async def decode(self, lines: AsyncIterator[str]) -> AsyncIterator[StreamEvent]:
        async for message in sse_messages(lines):
            for event in self.chunk(parse_json_object(message.data, "gemini")):
                yield event
        if self.finish is None:
            raise truncated("gemini", "finishReason")
        if self.usage is not None:
            yield UsageReport(self.usage)
        yield Done("tool_calls" if self.calls and self.finish == "stop" else self.finish)

    def chunk(self, data: dict[str, Any]) -> list[StreamEvent]:
        if data.get("error"):
            raise ProviderResponseError(
                f"gemini reported an error in the middle of the stream: {error_detail(json.dumps(data).encode())}",
                provider="gemini",
            )
        usage = as_dict(data.get("usageMetadata"))
        if usage:
            output = as_int(usage.get("candidatesTokenCount")) + as_int(usage.get("thoughtsTokenCount"))
            self.usage = TokenUsage(as_int(usage.get("promptTokenCount")), output)
        if as_str(as_dict(data.get("promptFeedback")).get("blockReason")):
            self.finish = "content_filter"
        events: list[StreamEvent] = []
        for candidate in as_list(data.get("candidates"))[:1]:
            candidate = as_dict(candidate)
            for part in as_list(as_dict(candidate.get("content")).get("parts")):
                events += self.part(as_dict(part))
            reason = as_str(candidate.get("finishReason"))
            if reason:
                self.finish = _FINISH.get(reason, "stop")  # OTHER, LANGUAGE, ... end the answer as it is
        return events

    def part(self, part: dict[str, Any]) -> list[StreamEvent]:
        call = as_dict(part.get("functionCall"))
        if call:
            self.calls += 1
            return [
                ToolCallDelta(
                    index=self.calls - 1,
                    id=as_str(call.get("id")) or new_id("call"),
                    name=as_str(call.get("name")),
                    arguments=json.dumps(as_dict(call.get("args"))),
                )
            ]
        text = as_str(part.get("text"))
        if not text:
            return []
        return [ReasoningDelta(text) if part.get("thought") is True else TextDelta(text)]
