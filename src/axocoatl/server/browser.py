"""What a web page in the user's browser could make the daemon do, and the checks that stop it.

- **DNS rebinding**: a page on ``evil.example`` re-points its name at 127.0.0.1 and reads
  ``/api/runs`` as if same-origin. The Host header still says ``evil.example``, so every
  request must name a configured host (``server.allowed_hosts``), else 421.
- **Cross-site requests**: any page may open ``ws://127.0.0.1:8080/ws`` (WebSockets have no
  CORS) or POST a form to ``/api/agents/x/reset``. Browsers always send ``Origin`` for those,
  so a handshake or a state-changing request whose Origin is neither this daemon nor one of
  ``server.cors_origins`` gets 403. No Origin at all is a non-browser client: allowed.
- **Framing, sniffing, referrers, injected scripts**: security headers on every response;
  HTML pages get a Content-Security-Policy allowing only their own inline code (by hash).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from axocoatl.config.hosts import DEFAULT_PORTS, HostPort, Origin, parse_host, parse_origin
from axocoatl.config.schema import ServerConfig
from axocoatl.server.middleware import reject

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
WILDCARD_BINDS = frozenset({"", "0.0.0.0", "::"})
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class HostPolicy:
    """The Host header values this daemon answers to."""

    hosts: frozenset[HostPort]
    any_host: bool = False

    @classmethod
    def from_config(cls, server: ServerConfig) -> HostPolicy:
        names = [*LOOPBACK_NAMES, *([] if server.host in WILDCARD_BINDS else [server.host])]
        entries = [parse_host(n) for n in (*names, *server.allowed_hosts) if n != "*"]
        return cls(frozenset(e for e in entries if e is not None), any_host="*" in server.allowed_hosts)

    def allows(self, host: HostPort) -> bool:
        # An entry without a port accepts the name on any port: what a rebinding attack
        # controls is the name, and a proxy may forward any port.
        return self.any_host or HostPort(host.host) in self.hosts or host in self.hosts


def _same_origin(origin: Origin, host: HostPort) -> bool:
    if origin.host != host.host:
        return False
    if host.port is None:  # Host: name means the scheme's default port
        return origin.port == DEFAULT_PORTS[origin.scheme]
    return origin.port == host.port


class BrowserGuardMiddleware:
    """421 for a Host this daemon is not; 403 for a cross-origin WebSocket or state-changing request."""

    def __init__(self, app: ASGIApp, hosts: Callable[[], HostPolicy], cors_origins: Iterable[str]) -> None:
        self.app = app
        self.hosts = hosts
        self.any_origin = "*" in cors_origins
        self.origins = frozenset(o for o in map(parse_origin, cors_origins) if o is not None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        hosts: list[bytes] = []
        raw_origin: bytes | None = None
        for name, value in scope.get("headers", []):
            if name == b"host":
                hosts.append(value)
            elif name == b"origin" and raw_origin is None:
                raw_origin = value
        raw_host = hosts[0] if hosts else None
        # Two Host headers: which one would the routes see? Refuse rather than guess.
        host = parse_host(raw_host.decode("latin-1")) if raw_host is not None and len(hosts) == 1 else None
        if host is None or not self.hosts().allows(host):
            shown = "no Host header" if raw_host is None else f"Host {raw_host.decode('latin-1')[:100]!r}"
            await reject(
                scope,
                send,
                421,
                f"misdirected request: this daemon does not answer to {shown}",
                "add the name clients use to server.allowed_hosts in axocoatl.yaml "
                "(this check stops DNS-rebinding pages from reading the API)",
            )
            return
        guarded = scope["type"] == "websocket" or scope.get("method") in STATE_CHANGING
        if guarded and raw_origin is not None:
            origin = parse_origin(raw_origin.decode("latin-1"))
            if not self._origin_allowed(origin, host):
                await reject(
                    scope,
                    send,
                    403,
                    f"cross-origin request refused: Origin {raw_origin.decode('latin-1')[:100]!r} is not this daemon",
                    "pages on other origins may not drive the daemon; list trusted ones in server.cors_origins",
                )
                return
        await self.app(scope, receive, send)

    def _origin_allowed(self, origin: Origin | None, host: HostPort) -> bool:
        if origin is None:  # "null" (sandboxed frames, file:// pages) or garbage
            return False
        return self.any_origin or origin in self.origins or _same_origin(origin, host)


# ------------------------------------------------------------------------------ response headers

BASE_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),  # a /ws URL may carry ?token=
    (b"x-frame-options", b"DENY"),
)
# For anything that is not one of our HTML pages (JSON, errors): nothing may load or frame it.
DEFAULT_CSP = b"default-src 'none'; frame-ancestors 'none'"


class SecurityHeadersMiddleware:
    """Adds the security headers to every HTTP response; a page that set its own CSP keeps it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers.extend(h for h in BASE_HEADERS if h[0] not in present)
                if b"content-security-policy" not in present:
                    headers.append((b"content-security-policy", DEFAULT_CSP))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


_INLINE = re.compile(r"<(script|style)\b([^>]*)>(.*?)</\1\s*>", re.IGNORECASE | re.DOTALL)


def _hash(code: str) -> str:
    digest = base64.b64encode(hashlib.sha256(code.encode("utf-8")).digest()).decode("ascii")
    return f"'sha256-{digest}'"


def page_csp(
    html: str,
    *,
    scripts: Iterable[str] = (),
    styles: Iterable[str] = (),
    images: Iterable[str] = (),
    connect: Iterable[str] = (),
) -> str:
    """A Content-Security-Policy for one of our pages: its inline ``<script>``/``<style>`` blocks
    by hash, the given external sources, same-origin fetches, no framing, no forms elsewhere."""
    script_src = list(scripts)
    style_src = list(styles)
    for tag, attributes, body in _INLINE.findall(html):
        if tag.lower() == "script" and "src=" not in attributes.lower():
            script_src.append(_hash(body))
        elif tag.lower() == "style":
            style_src.append(_hash(body))
    directives = {
        "default-src": ["'none'"],
        "script-src": script_src or ["'none'"],
        "style-src": style_src or ["'none'"],
        "img-src": ["'self'", *images],
        "connect-src": ["'self'", *connect],
        "base-uri": ["'none'"],
        "form-action": ["'none'"],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())
