"""The in-process event bus: the runtime publishes, the CLI, server and webhooks listen."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from axocoatl.core.events import RuntimeEvent

log = logging.getLogger(__name__)

Listener = Callable[[RuntimeEvent], None]


class EventBus:
    """Synchronous fan-out to listeners; a listener must not block (queue the work instead)."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    @property
    def has_listeners(self) -> bool:
        return bool(self._listeners)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Add a listener; returns a function that removes it."""
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def subscribe_queue(self, maxsize: int = 10_000) -> tuple[asyncio.Queue[RuntimeEvent], Callable[[], None]]:
        """A bounded queue of events; when a slow consumer lets it fill, new events are dropped."""
        queue: asyncio.Queue[RuntimeEvent] = asyncio.Queue(maxsize)
        dropped = 0

        def put(event: RuntimeEvent) -> None:
            nonlocal dropped
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                dropped += 1
                if dropped in (1, 100, 10_000):
                    log.warning("event consumer is too slow: %d events dropped", dropped)

        return queue, self.subscribe(put)

    def publish(self, event: RuntimeEvent) -> None:
        for listener in tuple(self._listeners):
            try:
                listener(event)
            except Exception:  # a broken listener must not break the runtime
                log.exception("event listener failed on %s", event.type)
