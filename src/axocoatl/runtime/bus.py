"""The in-process event bus: the runtime publishes, the CLI, server and webhooks listen."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from axocoatl.core import events as ev
from axocoatl.core.events import TOKEN_DELTA, AgentStreamEvent, RuntimeEvent, TextChunk
from axocoatl.core.ids import Clock

log = logging.getLogger(__name__)

Listener = Callable[[RuntimeEvent], None]


class EventBus:
    """Synchronous fan-out to listeners; a listener must not block (queue the work instead)."""

    def __init__(self) -> None:
        # Each listener, and whether it takes token deltas: one per streamed chunk, the bulk of a turn's
        # events, which most listeners (the CLI's progress, supervision, webhooks) never read.
        self._listeners: list[tuple[Listener, bool]] = []

    @property
    def has_listeners(self) -> bool:
        return bool(self._listeners)

    @property
    def wants_tokens(self) -> bool:
        """Whether any listener takes token deltas (else a turn need not publish its chunks)."""
        return any(tokens for _, tokens in self._listeners)

    def subscribe(self, listener: Listener, *, tokens: bool = True) -> Callable[[], None]:
        """Add a listener (``tokens=False``: without token deltas); returns a function that removes it."""
        entry = (listener, tokens)
        self._listeners.append(entry)

        def unsubscribe() -> None:
            if entry in self._listeners:
                self._listeners.remove(entry)

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
        token = event.type == TOKEN_DELTA
        for listener, tokens in tuple(self._listeners):
            if token and not tokens:
                continue
            try:
                listener(event)
            except Exception:  # a broken listener must not break the runtime
                log.exception("event listener failed on %s", event.type)


def step_stream(
    bus: EventBus, clock: Clock, *, run_id: str, workflow_id: str, agent_id: str
) -> Callable[[AgentStreamEvent], None] | None:
    """The sink that publishes a workflow step's stream (tokens, tool calls, LLM calls) on ``bus``; None when
    nobody listens."""
    if not bus.has_listeners:
        return None
    base: dict[str, Any] = {"run_id": run_id, "workflow_id": workflow_id, "agent_id": agent_id}

    def sink(event: AgentStreamEvent) -> None:
        if isinstance(event, TextChunk) and not bus.wants_tokens:
            return  # no listener reads chunks (the CLI's progress does not): skip one event per chunk
        kind, payload = ev.stream_payload(event)
        if kind not in ev.BUS_TYPES:
            return  # a waiting call: the approval gate published it already
        bus.publish(RuntimeEvent(ev.BUS_TYPES[kind], clock.now(), payload=payload, **base))

    return sink
