"""Who may talk to the daemon: API keys, bearer tokens, and the fail-closed exposure rule.

Keys are compared in constant time and never logged. Browsers cannot set headers on a
WebSocket or a page load, so ``/ws`` and the dashboard also accept ``?token=``.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs

from pydantic import SecretStr
from starlette.types import ASGIApp, Receive, Scope, Send

from axocoatl.config.schema import AuthConfig, ServerConfig
from axocoatl.core.errors import UsageError
from axocoatl.server.middleware import reject

PUBLIC_PATHS = frozenset({"/health", "/health/live", "/health/ready"})
# Paths a browser opens directly, where a query token is the only way to authenticate.
QUERY_TOKEN_PATHS = frozenset({"/", "/ws", "/dashboard"})


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and ``localhost``; anything else (including 0.0.0.0) is exposed."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # a hostname might resolve anywhere: fail closed


def check_exposure(server: ServerConfig) -> None:
    """Refuse to listen beyond loopback without credentials unless explicitly allowed.

    Judged on the credentials the server will actually check (``Credentials.from_config``),
    never on the config's lists: an entry that cannot authenticate anyone must not count.
    """
    if is_loopback(server.host):
        return
    if Credentials.from_config(server.auth).enabled or server.auth.allow_unauthenticated:
        return
    raise UsageError(
        f"refusing to listen on {server.host}:{server.port} without authentication: "
        "anyone who can reach that address could run your agents and spend your tokens",
        hint="add server.auth.api_keys (or server.auth.bearer_tokens) to axocoatl.yaml, "
        "or set server.auth.allow_unauthenticated: true if a proxy in front of the daemon authenticates",
    )


@dataclass(frozen=True)
class Credentials:
    """The accepted secrets, as bytes, for constant-time comparison."""

    api_keys: tuple[bytes, ...] = ()
    bearer_tokens: tuple[bytes, ...] = ()

    @classmethod
    def from_config(cls, auth: AuthConfig) -> Credentials:
        # The schema refuses blank secrets; a config built in code bypasses it, so blank
        # ones are still left out here, and check_exposure judges what is left.
        def usable(secrets: list[SecretStr]) -> tuple[bytes, ...]:
            values = (s.get_secret_value() for s in secrets)
            return tuple(v.encode() for v in values if v.strip())

        return cls(usable(auth.api_keys), usable(auth.bearer_tokens))

    @property
    def enabled(self) -> bool:
        return bool(self.api_keys or self.bearer_tokens)

    def accepts(self, *, api_key: str | None, bearer: str | None, query_token: str | None) -> bool:
        # Compare against every secret without stopping early, so timing says nothing.
        ok = False
        if api_key is not None:
            ok |= _any_equal(api_key, self.api_keys)
        if bearer is not None:
            ok |= _any_equal(bearer, self.bearer_tokens)
        if query_token is not None:
            ok |= _any_equal(query_token, self.api_keys + self.bearer_tokens)
        return ok


def _any_equal(presented: str, secrets: tuple[bytes, ...]) -> bool:
    value = presented.encode("utf-8", "surrogateescape")
    result = False
    for secret in secrets:
        result |= hmac.compare_digest(value, secret)
    return result


class AuthMiddleware:
    """Rejects requests without a valid key when keys are configured (HTTP 401, WebSocket 401/1008)."""

    def __init__(self, app: ASGIApp, credentials: Callable[[], Credentials]) -> None:
        self.app = app
        self.credentials = credentials

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        creds = self.credentials()
        path: str = scope.get("path", "")
        if not creds.enabled or path in PUBLIC_PATHS or scope.get("method") == "OPTIONS":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        api_key = headers.get("x-api-key")
        bearer = None
        authorization = headers.get("authorization", "")
        if authorization[:7].lower() == "bearer ":
            bearer = authorization[7:].strip()
        query_token = None
        if path in QUERY_TOKEN_PATHS or path.startswith("/static/"):
            values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
            query_token = values[0] if values else None
        if creds.accepts(api_key=api_key, bearer=bearer, query_token=query_token):
            await self.app(scope, receive, send)
            return
        presented = api_key is not None or bearer is not None or query_token is not None
        message = "wrong API key" if presented else "missing API key"
        hint = "send the key in the x-api-key header or as Authorization: Bearer <token>"
        if path in QUERY_TOKEN_PATHS:
            hint += " (browsers: add ?token=<key> to the URL)"
        challenge = [(b"www-authenticate", b'Bearer realm="axocoatl"')] if scope["type"] == "http" else []
        await reject(scope, send, 401, message, hint, challenge)
