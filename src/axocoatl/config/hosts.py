"""Host names and browser origins as the daemon compares them: parsed strictly, normalised once.

Shared by the schema (``server.allowed_hosts``, ``server.cors_origins``) and the server's
Host/Origin checks, so a value that validates is matched exactly as it was meant.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

# DNS labels (underscores too: some internal names use them); a trailing dot is the root.
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_NAME = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$")
_PORT = re.compile(r"^[0-9]{1,5}$")
DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class HostPort:
    """A host (lowercase name, or an IP address in its canonical form, IPv6 without brackets) and maybe a port."""

    host: str
    port: int | None = None

    def show(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port is None else f"{host}:{self.port}"


def _host(text: str) -> str | None:
    if text.startswith("[") and text.endswith("]"):
        try:
            return str(ipaddress.IPv6Address(text[1:-1]))
        except ValueError:
            return None
    name = text.lower()
    if name.endswith("."):
        name = name[:-1]
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        pass
    return name if len(name) <= 253 and _NAME.match(name) else None


def parse_host(text: str) -> HostPort | None:
    """``name``, ``name:port``, ``1.2.3.4[:port]``, ``[v6][:port]`` or a bare ``v6``; None if malformed.

    Strict on purpose: whatever passes is safe to compare and to echo in a header.
    """
    if not text or text != text.strip():
        return None
    if text.count(":") > 1 and not text.startswith("["):  # a bare IPv6 address, no port possible
        host = _host(f"[{text}]")
        return HostPort(host) if host else None
    port: int | None = None
    head = text
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            return None
        head, rest = text[: close + 1], text[close + 1 :]
        if rest:
            if not rest.startswith(":") or not _PORT.match(rest[1:]):
                return None
            port = int(rest[1:])
    elif ":" in text:
        head, _, digits = text.partition(":")
        if not _PORT.match(digits):
            return None
        port = int(digits)
    if port is not None and not 0 < port <= 65535:
        return None
    host = _host(head)
    return HostPort(host, port) if host else None


@dataclass(frozen=True)
class Origin:
    """A browser origin: scheme, host and the effective port (the scheme's default when absent)."""

    scheme: str
    host: str
    port: int

    def show(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}" + ("" if DEFAULT_PORTS.get(self.scheme) == self.port else f":{self.port}")


def parse_origin(text: str) -> Origin | None:
    """``http(s)://host[:port]`` with no path, query, user or trailing slash; None otherwise ("null" included)."""
    scheme, sep, rest = text.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in DEFAULT_PORTS or not rest or "@" in rest:
        return None
    parsed = parse_host(rest)
    if parsed is None:
        return None
    return Origin(scheme, parsed.host, DEFAULT_PORTS[scheme] if parsed.port is None else parsed.port)
