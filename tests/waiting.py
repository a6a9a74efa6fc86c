"""Waiting in tests on state another process changes: poll until it shows, fail naming what never came."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = 90.0, interval: float = 0.1) -> Any:
    """The first truthy value of ``predicate()``, polled every ``interval`` seconds; after ``timeout``
    seconds an AssertionError naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")
