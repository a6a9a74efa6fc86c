"""Identifiers, time and randomness, injected so tests can make them deterministic."""

from __future__ import annotations

import re
import secrets
import threading
import time
from datetime import UTC, datetime
from typing import NewType, Protocol

RunId = NewType("RunId", str)

# A conversation thread's name (agents[].thread, `chat --thread`, the API's `thread`).
THREAD_PATTERN = r"^[A-Za-z0-9_.:-]{1,128}$"
THREAD_HINT = "a thread name is 1-128 letters, digits, '_', '.', ':' or '-' (e.g. main, customer-42)"
_THREAD = re.compile(THREAD_PATTERN)


def is_thread_name(name: str) -> bool:
    return _THREAD.fullmatch(name) is not None


class Clock(Protocol):
    """Wall time (seconds since the epoch) and monotonic time."""

    def now(self) -> float: ...

    def monotonic(self) -> float: ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


# The suffixes issued in the current second: 24 random bits collide within a burst (1,000 runs started in
# one second: ~3 %), and the second run's start then failed on the runs table's unique key.
_issued_lock = threading.Lock()
_issued: dict[str, set[str]] = {}


def new_run_id() -> RunId:
    """A sortable run id such as ``run-20261125-143012-9f2c1a``, never one this process issued before."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    with _issued_lock:
        if stamp not in _issued:
            _issued.clear()
            _issued[stamp] = set()
        seen = _issued[stamp]
        suffix = secrets.token_hex(3)
        while suffix in seen:
            suffix = secrets.token_hex(3)
        seen.add(suffix)
    return RunId(f"run-{stamp}-{suffix}")


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(6)}"


def iso(ts: float | None) -> str | None:
    """An ISO-8601 UTC timestamp with milliseconds, or None."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
