"""Plain ASGI middleware (no BaseHTTPMiddleware, which buffers and breaks streaming):
request logging, a per-client fixed-window rate limit, and the request body size limit.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from axocoatl.server.errors import error_body
from axocoatl.server.openai_wire import is_openai_path, openai_error_body
from axocoatl.server.text import json_bytes

access_log = logging.getLogger("axocoatl.server.access")

_SECRET_QUERY = re.compile(r"((?:token|api_key|key)=)[^&\s\"']+", re.IGNORECASE)


class RedactSecrets(logging.Filter):
    """Masks ``token=...`` in log lines of libraries that log request paths (uvicorn's WebSocket lines)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            args = record.args if isinstance(record.args, tuple) else (record.args,)
            record.args = tuple(_SECRET_QUERY.sub(r"\1***", a) if isinstance(a, str) else a for a in args)
        if isinstance(record.msg, str):
            record.msg = _SECRET_QUERY.sub(r"\1***", record.msg)
        return True


async def send_json_error(
    scope: Scope,
    send: Send,
    status: int,
    error: str,
    hint: str | None,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    await reject({"type": "http", "path": scope.get("path", "")}, send, status, error, hint, headers)


async def reject(
    scope: Scope,
    send: Send,
    status: int,
    error: str,
    hint: str | None,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    """Answer an HTTP request, or refuse a WebSocket handshake, with a JSON error body."""
    if scope["type"] == "http":
        prefix = "http"
    elif "websocket.http.response" in scope.get("extensions", {}):
        prefix = "websocket.http"  # a real HTTP status for the handshake
    else:
        await send({"type": "websocket.close", "code": 1008, "reason": error[:120]})
        return
    # OpenAI clients read their own error shape (docs/openai-endpoint.md).
    shaped = (
        openai_error_body(status, error, hint) if is_openai_path(scope.get("path", "")) else error_body(error, hint)
    )
    body = json_bytes(shaped)
    all_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    all_headers.extend(headers or [])
    await send({"type": f"{prefix}.response.start", "status": status, "headers": all_headers})
    await send({"type": f"{prefix}.response.body", "body": body})


class AccessLogMiddleware:
    """One log line per request: method, path (never the query string: it may hold a token), status, time."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # uvicorn logs WebSocket handshakes itself (redacted, see serve.py)
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            elapsed = (time.perf_counter() - start) * 1000
            access_log.info("%s %s %d %.1fms", scope.get("method", "?"), scope.get("path", ""), status, elapsed)


@dataclass
class RateLimitSettings:
    enabled: bool = False
    max_requests: int = 100
    window_secs: float = 60.0


class FixedWindowLimiter:
    """Counts requests per client per window; windows are aligned to the clock, not to the first request."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._windows: dict[str, tuple[int, int]] = {}  # client -> (window index, count)

    def hit(self, client: str, settings: RateLimitSettings) -> float | None:
        """Count one request; None if allowed, else the seconds until the window resets."""
        now = self._clock()
        index = int(now // settings.window_secs)
        window, count = self._windows.get(client, (index, 0))
        if window != index:
            count = 0
        count += 1
        self._windows[client] = (index, count)
        if len(self._windows) > 10_000:
            # Forget clients of past windows so the table stays small.
            self._windows = {c: w for c, w in self._windows.items() if w[0] == index}
        if count <= settings.max_requests:
            return None
        return (index + 1) * settings.window_secs - now


class RateLimitMiddleware:
    """429 with Retry-After once a client (by IP) exceeds ``max_requests`` per ``window_secs``."""

    def __init__(self, app: ASGIApp, settings: Callable[[], RateLimitSettings], exempt: frozenset[str]) -> None:
        self.app = app
        self.settings = settings
        self.exempt = exempt
        self.limiter = FixedWindowLimiter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        settings = self.settings()
        if not settings.enabled or scope["type"] not in ("http", "websocket") or scope.get("path") in self.exempt:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        key = client[0] if client else "unknown"
        wait = self.limiter.hit(key, settings)
        if wait is None:
            await self.app(scope, receive, send)
            return
        retry_after = str(max(1, math.ceil(wait)))
        error = f"too many requests: more than {settings.max_requests} in {settings.window_secs:g} s"
        hint = f"retry after {retry_after} s (server.rate_limit in axocoatl.yaml sets the limit)"
        await reject(scope, send, 429, error, hint, [(b"retry-after", retry_after.encode())])


class BodyTooLarge(StarletteHTTPException):
    """Raised from ``receive``; an HTTPException so FastAPI's body parsing lets it through as a 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body too large (more than {limit} bytes)")


class BodyLimitMiddleware:
    """413 for request bodies above ``max_bytes``: by Content-Length at once, or while streaming in."""

    def __init__(self, app: ASGIApp, max_bytes: Callable[[], int]) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes()
        hint = f"send at most {limit} bytes (server.max_body_bytes in axocoatl.yaml)"
        for name, value in scope.get("headers", []):
            if name.lower() == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    await send_json_error(scope, send, 400, "invalid Content-Length header", None)
                    return
                if declared > limit:
                    await send_json_error(scope, send, 413, f"request body too large ({declared} bytes)", hint)
                    return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await send_json_error(scope, send, 413, f"request body too large (more than {limit} bytes)", hint)
