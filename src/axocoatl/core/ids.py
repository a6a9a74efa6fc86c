"""Identifiers, time and randomness, injected so tests can make them deterministic."""

from __future__ import annotations

import re
import secrets
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


def new_run_id() -> RunId:
    """A sortable, unique run id such as ``run-20261125-143012-9f2c1a``."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return RunId(f"run-{stamp}-{secrets.token_hex(3)}")


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(6)}"


def iso(ts: float | None) -> str | None:
    """An ISO-8601 UTC timestamp with milliseconds, or None."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
