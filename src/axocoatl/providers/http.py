"""Shared HTTP plumbing of the remote adapters: client, SSE/NDJSON framing, retries, errors, fallback.

Every remote adapter builds an :class:`HttpEndpoint` and hands it a *decoder* that turns
the response's text lines into :class:`StreamEvent` values. The endpoint owns the retry
loop (429, 5xx, network errors; only while nothing has been yielded to the caller),
the mapping of HTTP statuses to the :mod:`axocoatl.core.errors` tree, and the closing
of the response when the caller stops early or is cancelled.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import os
import random
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import httpx

from axocoatl.core.errors import (
    AuthenticationFailed,
    ContextLengthExceeded,
    ModelNotFound,
    ProviderError,
    ProviderResponseError,
    ProviderUnavailable,
    RateLimited,
)
from axocoatl.providers.base import ChatRequest, Done, Provider, ProviderCapabilities, StreamEvent

if TYPE_CHECKING:
    from axocoatl.config.schema import OllamaProviderConfig, RemoteProviderConfig

log = logging.getLogger("axocoatl.providers")

SleepFn = Callable[[float], Awaitable[None]]
Decoder = Callable[[AsyncIterator[str]], AsyncIterator[StreamEvent]]

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504, 529})
MAX_RETRY_AFTER_SECS = 60.0
BACKOFF_BASE_SECS = 0.5
BACKOFF_CAP_SECS = 20.0
USER_AGENT = "axocoatl"

_CONTEXT_PATTERN = re.compile(
    r"context[_ ]length|context window|maximum context|prompt is too long|too many tokens"
    r"|input token count|exceeds the maximum number of tokens|too large for model",
    re.IGNORECASE,
)
_KEYLIKE = re.compile(r"\b(?:sk-|AIza)[-_A-Za-z0-9*]{8,}")


def make_client(timeout_secs: float, connect_timeout_secs: float) -> httpx.AsyncClient:
    """An AsyncClient whose read timeout is the gap allowed between two bytes of a response."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout_secs, connect=connect_timeout_secs),
        headers={"user-agent": USER_AGENT},
    )


# ------------------------------------------------------------------------------------- framing


@dataclass(frozen=True)
class SSEMessage:
    event: str
    data: str


async def sse_messages(lines: AsyncIterator[str]) -> AsyncIterator[SSEMessage]:
    """Server-sent events from text lines; comment lines (``: OPENROUTER PROCESSING``) are skipped."""
    event = ""
    data: list[str] = []
    async for line in lines:
        if not line:
            if data:
                yield SSEMessage(event or "message", "\n".join(data))
            event, data = "", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
    if data:  # tolerate a last event without its blank line; a cut JSON still fails to parse
        yield SSEMessage(event or "message", "\n".join(data))


async def ndjson_objects(lines: AsyncIterator[str], provider: str) -> AsyncIterator[dict[str, Any]]:
    """One JSON object per non-blank line."""
    async for line in lines:
        if line.strip():
            yield parse_json_object(line, provider)


def parse_json_object(text: str, provider: str) -> dict[str, Any]:
    """Parse one chunk of a stream; anything but a JSON object is a ProviderResponseError."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ProviderResponseError(
            f"{provider} sent a stream chunk that is not valid JSON: {text[:200]!r}",
            provider=provider,
            hint="the response was corrupted or cut; the call can be retried",
        ) from exc
    if not isinstance(value, dict):
        raise ProviderResponseError(f"{provider} sent a stream chunk that is not a JSON object", provider=provider)
    return value


def truncated(provider: str, missing: str) -> ProviderResponseError:
    return ProviderResponseError(
        f"{provider} closed the stream before it was complete (no {missing})",
        provider=provider,
        hint="the connection was cut or the server crashed; the call can be retried",
    )


# ------------------------------------------------------------------------------------- helpers


def as_dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def as_str(value: object) -> str:
    return value if isinstance(value, str) else ""


def as_int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def parse_tool_result(text: str) -> dict[str, Any]:
    """A tool result as a JSON object: the parsed text when it is an object, else ``{"result": ...}``."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return {"result": text}
    return value if isinstance(value, dict) else {"result": value}


def object_schema(parameters: dict[str, Any]) -> dict[str, Any]:
    """A tool's argument schema, never empty: vendors want at least ``{"type": "object"}``."""
    return parameters if parameters else {"type": "object", "properties": {}}


def tool_arguments_json(arguments: object) -> str:
    """Tool-call arguments as a JSON string, whether the wire carried an object or a string."""
    if isinstance(arguments, str):
        return arguments
    return json.dumps(arguments if arguments is not None else {}, ensure_ascii=False)


def section_key(section: RemoteProviderConfig, env: Mapping[str, str] | None, names: Sequence[str]) -> str | None:
    """A provider section's api_key, else the first non-empty variable of ``names`` in ``env`` (default: the
    process's environment)."""
    configured = section.api_key.get_secret_value() if section.api_key else None
    if configured:
        return configured
    env = os.environ if env is None else env
    return next((env[n] for n in names if env.get(n)), None)


def missing_key_error(provider: str, env_var: str) -> AuthenticationFailed:
    return AuthenticationFailed(
        f"{env_var} is not set — add it to .env next to axocoatl.yaml or set providers.{provider}.api_key",
        provider=provider,
    )


def parse_retry_after(headers: httpx.Headers, now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` / ``Retry-After`` (seconds or HTTP date), capped at 60 s."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            return min(max(float(raw_ms) / 1000.0, 0.0), MAX_RETRY_AFTER_SECS)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECS)


def backoff_delay(attempt: int) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
    return random.uniform(0.0, min(BACKOFF_CAP_SECS, BACKOFF_BASE_SECS * 2**attempt))


def redact(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return _KEYLIKE.sub("***", text)


def error_detail(body: bytes) -> str:
    """The human part of an error body: ``error.message``, ``error`` or ``message``, else the raw text."""
    text = body.decode("utf-8", "replace").strip()
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return text[:300]
    if isinstance(data, list) and data:  # Gemini sometimes wraps the error in a list
        data = data[0]
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, dict):
        message = err.get("message") or err.get("type") or json.dumps(err)
        return str(message)[:300]
    if isinstance(err, str):
        return err[:300]
    if isinstance(data, dict) and data.get("message"):
        return str(data["message"])[:300]
    return text[:300]


# ------------------------------------------------------------------------------------ endpoint


@dataclass
class HttpEndpoint:
    """One provider's HTTP side: base URL, fixed headers, timeouts, retry policy and error mapping."""

    provider: str
    base_url: str
    headers: dict[str, str]
    key_env: str  # the env var named in authentication errors
    timeout_secs: float = 60.0
    connect_timeout_secs: float = 10.0
    max_retries: int = 3
    client: httpx.AsyncClient | None = None
    sleep: SleepFn | None = None
    secrets: tuple[str, ...] = ()
    model_hint: Callable[[str], str] | None = None  # how to fix a missing model, given its name
    unreachable_hint: str | None = None  # how to fix a server that cannot be reached

    @classmethod
    def for_section(
        cls,
        provider: str,
        section: RemoteProviderConfig | OllamaProviderConfig,
        base_url: str,
        *,
        headers: dict[str, str],
        key_env: str,
        key: str | None = None,
        client: httpx.AsyncClient | None = None,
        sleep: SleepFn | None = None,
        model_hint: Callable[[str], str] | None = None,
        unreachable_hint: str | None = None,
    ) -> HttpEndpoint:
        """The endpoint of a provider section: its timeouts and retries; ``key`` never shows in an error."""
        return cls(
            provider=provider,
            base_url=base_url,
            headers=headers,
            key_env=key_env,
            timeout_secs=section.timeout_secs,
            connect_timeout_secs=section.connect_timeout_secs,
            max_retries=section.max_retries,
            client=client,
            sleep=sleep,
            secrets=(key,) if key else (),
            model_hint=model_hint,
            unreachable_hint=unreachable_hint,
        )

    def __post_init__(self) -> None:
        self._owns_client = self.client is None
        self._client = self.client or make_client(self.timeout_secs, self.connect_timeout_secs)
        self._sleep: SleepFn = self.sleep or asyncio.sleep

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def stream(
        self, path: str, body: dict[str, Any], decode: Decoder, *, model: str
    ) -> AsyncIterator[StreamEvent]:
        """POST ``body`` and yield the decoded events, retrying while nothing has been yielded."""
        url = self.base_url.rstrip("/") + path
        attempt = 0
        while True:
            started = yielded = False
            try:
                async with self._client.stream("POST", url, json=body, headers=self.headers) as response:
                    started = True
                    if not response.is_success:  # redirects are not followed: a moved API is an error too
                        await response.aread()
                        delay = parse_retry_after(response.headers)
                        error = self.status_error(response.status_code, response.content, model, retry_after=delay)
                        if response.status_code not in RETRY_STATUSES or attempt >= self.max_retries:
                            raise error
                        reason = f"HTTP {response.status_code}"
                    else:
                        async for event in decode(response.aiter_lines()):
                            yielded = True
                            yield event
                        return
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                if yielded:
                    raise ProviderResponseError(
                        f"{self.provider}: the connection broke in the middle of the answer ({type(exc).__name__})",
                        provider=self.provider,
                        hint="the partial answer was discarded; the call can be retried",
                    ) from exc
                if attempt >= self.max_retries:
                    if started and not isinstance(exc, httpx.TimeoutException):
                        raise ProviderResponseError(
                            f"{self.provider} closed the stream before it was complete "
                            f"({attempt + 1} attempt(s), {type(exc).__name__})",
                            provider=self.provider,
                            hint="the server crashed or a proxy cut the connection; try again later",
                        ) from exc
                    raise self.network_error(exc, attempts=attempt + 1) from exc
                delay, reason = None, type(exc).__name__
            wait = delay if delay is not None else backoff_delay(attempt)
            attempt += 1
            log.warning(
                "%s: %s, retrying in %.1f s (attempt %d of %d)",
                self.provider,
                reason,
                wait,
                attempt + 1,
                self.max_retries + 1,
            )
            await self._sleep(wait)

    def network_error(self, exc: Exception, *, attempts: int) -> ProviderUnavailable:
        kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "could not be reached"
        detail = redact(str(exc), self.secrets) or type(exc).__name__
        return ProviderUnavailable(
            f"{self.provider} at {self.base_url} {kind} after {attempts} attempt(s): {type(exc).__name__}: {detail}",
            provider=self.provider,
            hint=self.unreachable_hint
            or f"check the network and providers.{self.provider}.base_url; timeouts are "
            f"providers.{self.provider}.timeout_secs / connect_timeout_secs",
        )

    def status_error(self, status: int, body: bytes, model: str, *, retry_after: float | None = None) -> ProviderError:
        """Map an HTTP error status (and its body) to the ProviderError tree."""
        p = self.provider
        detail = redact(error_detail(body), self.secrets)
        where = f"{p} answered HTTP {status}: {detail}"
        if status in (401, 403):
            hint = (
                f"check {self.key_env} in .env next to axocoatl.yaml or providers.{p}.api_key"
                if self.key_env
                else f"check the credentials expected by {self.base_url}"
            )
            return AuthenticationFailed(f"{p} rejected the credentials ({where})", provider=p, hint=hint)
        if status == 404:
            return ModelNotFound(
                f"model {model!r} was not found ({where})",
                provider=p,
                hint=self.model_hint(model)
                if self.model_hint
                else f"check the agent's model name, or providers.{p}.base_url ({self.base_url})",
            )
        if status == 429:
            return RateLimited(f"{p} is rate limiting requests ({where})", provider=p, retry_after=retry_after)
        if status in RETRY_STATUSES:
            return ProviderUnavailable(f"{p} is unavailable ({where})", provider=p, hint="try again later")
        if status in (400, 413, 422) and _CONTEXT_PATTERN.search(detail):
            return ContextLengthExceeded(
                f"the request is too long for model {model!r} ({where})",
                provider=p,
                hint="shorten the history (memory.max_session_messages) or pick a model with a larger context",
            )
        return ProviderResponseError(f"{p} refused the request ({where})", provider=p, status=status)


# ------------------------------------------------------------------------------------ fallback


class FallbackProvider:
    """Tries ``fallbacks`` in order when the primary is rate limited or unavailable after its retries.

    A fallback only takes over while nothing has been yielded yet; it gets the request with
    its own default model, since the primary's model name means nothing to another vendor.
    """

    def __init__(self, primary: Provider, fallbacks: Sequence[Provider]) -> None:
        self.primary = primary
        self.fallbacks = tuple(fallbacks)
        self.name = primary.name

    def default_model(self) -> str:
        return self.primary.default_model()

    def capabilities(self, model: str) -> ProviderCapabilities:
        return self.primary.capabilities(model)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        chain = (self.primary, *self.fallbacks)
        for position, provider in enumerate(chain):
            attempt = request if position == 0 else replace(request, model=provider.default_model())
            yielded = False
            try:
                async for event in provider.stream(attempt):
                    yielded = True
                    if position and isinstance(event, Done) and event.provider is None:
                        event = replace(event, provider=provider.name, model=attempt.model)
                    yield event
                return
            except (RateLimited, ProviderUnavailable) as exc:
                if yielded or position == len(chain) - 1:
                    raise
                log.warning("%s failed (%s); falling back to %s", provider.name, exc, chain[position + 1].name)

    async def aclose(self) -> None:
        for provider in (self.primary, *self.fallbacks):
            await provider.aclose()
