"""Dashboard sessions: a browser logs in once with a key and then holds only a random cookie.

The key never goes into a URL (history, logs, Referer) or into page script: ``POST /login``
checks it and sets ``axocoatl_session``, an HttpOnly, SameSite=Strict cookie holding a random
token that only this process knows (sessions live in memory: a restart logs everyone out).
A session belongs to the set of keys it was opened under: a reload that changes the keys ends it.

CSRF: SameSite=Strict keeps the cookie off requests started by other sites, and a state-changing
request or WebSocket authenticated by the cookie alone must carry an ``Origin`` (browsers always
send one there), which BrowserGuardMiddleware has already checked is this daemon's.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

COOKIE = "axocoatl_session"
SESSION_TTL_SECS = 12 * 3600
MAX_SESSIONS = 1000  # the oldest go first: a script logging in in a loop cannot fill the memory


@dataclass(frozen=True)
class _Session:
    """``credentials``: the Credentials the session was opened under."""

    credentials: object
    expires_at: float


class Sessions:
    def __init__(self, clock: Callable[[], float] = time.time, ttl: float = SESSION_TTL_SECS) -> None:
        self._clock = clock
        self.ttl = ttl
        self._sessions: dict[str, _Session] = {}

    def open(self, credentials: object) -> str:
        now = self._clock()
        self._sessions = {t: s for t, s in self._sessions.items() if s.expires_at > now}
        while len(self._sessions) >= MAX_SESSIONS:
            del self._sessions[next(iter(self._sessions))]
        token = secrets.token_urlsafe(32)
        self._sessions[token] = _Session(credentials, now + self.ttl)
        return token

    def valid(self, token: str, credentials: object) -> bool:
        # A dict lookup: tokens are 256 random bits, so its timing tells a guesser nothing useful.
        session = self._sessions.get(token)
        if session is None:
            return False
        if session.expires_at <= self._clock() or session.credentials != credentials:
            del self._sessions[token]
            return False
        return True

    def close(self, token: str) -> None:
        self._sessions.pop(token, None)


def cookie_value(headers: dict[str, str]) -> str | None:
    """The session token from a ``Cookie`` header, if any."""
    for part in headers.get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE and value:
            return value
    return None


def set_cookie_header(token: str, *, secure: bool, max_age: int = SESSION_TTL_SECS) -> str:
    flags = f"{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}"
    return flags + "; Secure" if secure else flags


def clear_cookie_header(*, secure: bool) -> str:
    return set_cookie_header("", secure=secure, max_age=0)
