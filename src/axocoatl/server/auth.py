"""Who may talk to the daemon: API keys, bearer tokens, and the fail-closed exposure rule.

Keys are compared in constant time and never logged. The dashboard logs in once
(``POST /login``) and then holds a session cookie (server/sessions.py); other browser
clients may still pass ``?token=`` to ``/ws``.
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
from axocoatl.server.browser import STATE_CHANGING
from axocoatl.server.middleware import reject
from axocoatl.server.openai_wire import is_openai_path
from axocoatl.server.sessions import cookie_value

DOCS_ASSETS_PATH = "/docs/assets"  # Swagger UI's own code (routes/pages.py): public, like the CDN it replaced
PUBLIC_PATHS = frozenset({"/health", "/health/live", "/health/ready"})
# A2A agent cards: clients read them first, to learn how to authenticate (docs/a2a.md).
CARD_PATHS = frozenset({"/.well-known/agent-card.json", "/.well-known/agent.json"})
# The dashboard's shell, its code and its login: no data in them, and a browser without a
# session must be able to load the login form.
DASHBOARD_PUBLIC = frozenset({"/", "/login", "/logout", "/session"})
STATIC_PATH = "/static"


def is_public(path: str) -> bool:
    if path in PUBLIC_PATHS or path in CARD_PATHS or path in DASHBOARD_PUBLIC:
        return True
    if path.startswith((DOCS_ASSETS_PATH + "/", STATIC_PATH + "/")):
        return True
    if path.startswith("/hooks/"):
        return True  # each inbound trigger verifies its own signature or key (runtime/triggers.py)
    return path.startswith("/a2a/") and path.endswith("/.well-known/agent-card.json")


# Paths a browser opens directly, where a query token is the only way to authenticate.
QUERY_TOKEN_PATHS = frozenset({"/ws"})


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

    def accepts(
        self, *, api_key: str | None, bearer: str | None, query_token: str | None, bearer_key: bool = False
    ) -> bool:
        """``bearer_key``: a bearer token may also be an API key (OpenAI clients send their key that way)."""
        # Compare against every secret without stopping early, so timing says nothing.
        ok = False
        if api_key is not None:
            ok |= _any_equal(api_key, self.api_keys)
        if bearer is not None:
            ok |= _any_equal(bearer, self.bearer_tokens + self.api_keys if bearer_key else self.bearer_tokens)
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

    def __init__(
        self, app: ASGIApp, credentials: Callable[[], Credentials], session_valid: Callable[[str, Credentials], bool]
    ) -> None:
        self.app = app
        self.credentials = credentials
        self.session_valid = session_valid

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        creds = self.credentials()
        path: str = scope.get("path", "")
        if not creds.enabled or is_public(path) or scope.get("method") == "OPTIONS":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        api_key = headers.get("x-api-key")
        bearer = None
        authorization = headers.get("authorization", "")
        if authorization[:7].lower() == "bearer ":
            bearer = authorization[7:].strip()
        query_token = None
        if path in QUERY_TOKEN_PATHS:
            values = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
            query_token = values[0] if values else None
        bearer_key = is_openai_path(path)
        if creds.accepts(api_key=api_key, bearer=bearer, query_token=query_token, bearer_key=bearer_key):
            await self.app(scope, receive, send)
            return
        session = cookie_value(headers)
        if session is not None and self.session_valid(session, creds):
            # CSRF: a cookie rides along on any request the browser makes, so a state-changing one
            # must show where it comes from (BrowserGuardMiddleware checked the Origin is ours).
            if "origin" not in headers and (scope["type"] == "websocket" or scope.get("method") in STATE_CHANGING):
                await reject(
                    scope,
                    send,
                    403,
                    "a request authenticated by the session cookie must carry an Origin header",
                    "browsers send it themselves; other clients use the x-api-key header",
                )
                return
            await self.app(scope, receive, send)
            return
        presented = api_key is not None or bearer is not None or query_token is not None or session is not None
        message = "wrong API key" if presented else "missing API key"
        if session is not None and not (api_key or bearer or query_token):
            message = "the dashboard session has ended (expired, logged out, the daemon restarted or its keys changed)"
        hint = "send the key in the x-api-key header or as Authorization: Bearer <token>"
        if path in QUERY_TOKEN_PATHS:
            hint += " (browsers: log in on the dashboard, or add ?token=<key> to the URL)"
        challenge = [(b"www-authenticate", b'Bearer realm="axocoatl"')] if scope["type"] == "http" else []
        await reject(scope, send, 401, message, hint, challenge)
