"""Fan-out of runtime events to WebSocket clients, each behind a bounded queue.

One bus listener turns each event into frames once and offers them to every client whose
subscription wants them. A client's queue is bounded: when a slow client lets it fill,
new frames are dropped and counted, and the client is told it lagged (``lagged`` frame)
so it can resubscribe for a fresh snapshot. The runtime never waits for a client.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from axocoatl.core import events as ev
from axocoatl.core.events import RuntimeEvent
from axocoatl.server.frames import Frame, frames_for
from axocoatl.server.text import json_text

log = logging.getLogger(__name__)

CLIENT_QUEUE_SIZE = 2000  # frames waiting for one client before new ones are dropped
SUBSCRIBE_BUFFER_SIZE = 2000  # frames held while a client's snapshot is being read

Selection = set[str] | Literal["*"]
# After these the agent's own status (turns, usage, failed) changed; at activation it has not yet.
AGENT_CHANGING_EVENTS = frozenset({ev.TASK_COMPLETED, ev.AGENT_FAILED})


def _matches(selection: Selection, value: str | None) -> bool:
    return value is not None and (selection == "*" or value in selection)


@dataclass
class Subscription:
    runs: Selection = field(default_factory=set)
    agents: Selection = field(default_factory=set)

    def wants(self, frame: Frame) -> bool:
        """Run frames go to run subscribers; frames naming an agent also go to that agent's subscribers."""
        if frame.get("kind") == "agent-status":
            return _matches(self.agents, frame.get("agent_id"))
        if frame.get("kind") == "automation":
            return self.runs == "*" or _matches(self.runs, frame.get("run_id"))
        return _matches(self.runs, frame.get("run_id")) or _matches(self.agents, frame.get("agent_id"))

    def to_json(self) -> dict[str, Any]:
        def show(selection: Selection) -> str | list[str]:
            return selection if selection == "*" else sorted(selection)

        return {"runs": show(self.runs), "agents": show(self.agents)}


class ClientStream:
    """One WebSocket client's outgoing frames."""

    def __init__(self, client_id: int, maxsize: int = CLIENT_QUEUE_SIZE) -> None:
        self.id = client_id
        self.queue: asyncio.Queue[str] = asyncio.Queue(maxsize)
        self.subscription: Subscription | None = None
        self.dropped = 0  # dropped since the last ``lagged`` frame
        self.total_dropped = 0
        self._buffer: list[str] | None = None
        self.captured: list[tuple[Frame, str]] | None = None

    def offer(self, frame: Frame | str) -> None:
        """Queue a broadcast frame; never blocks, drops when full."""
        text = frame if isinstance(frame, str) else json_text(frame)
        if self._buffer is not None:
            if len(self._buffer) < SUBSCRIBE_BUFFER_SIZE:
                self._buffer.append(text)
            else:
                self._drop()
            return
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            self._drop()

    def reply(self, frame: Frame) -> None:
        """Queue a direct answer (pong, error, snapshot, chat frames): evicts the oldest frame if full."""
        text = json_text(frame)
        while True:
            try:
                self.queue.put_nowait(text)
                return
            except asyncio.QueueFull:
                self.queue.get_nowait()
                self._drop()

    def _drop(self) -> None:
        self.dropped += 1
        self.total_dropped += 1
        if self.total_dropped in (1, 1000, 100_000):
            log.warning("WebSocket client %d is too slow: %d frames dropped", self.id, self.total_dropped)

    def hold(self) -> None:
        """Hold broadcast frames (while a snapshot is read) so they arrive after it."""
        self._buffer = []

    def release(self) -> None:
        held, self._buffer = self._buffer or [], None
        for text in held:
            self.offer(text)

    def capture(self) -> None:
        """Keep every broadcast frame aside (while a run starts: its id is not known yet)."""
        self.captured = []

    def replay(self) -> None:
        """Offer the captured frames the subscription wants (now that it includes the new run)."""
        captured, self.captured = self.captured or [], None
        for frame, text in captured:
            if self.subscription is not None and self.subscription.wants(frame):
                self.offer(text)

    def lag_notice(self) -> Frame | None:
        if not self.dropped:
            return None
        dropped, self.dropped = self.dropped, 0
        return {
            "kind": "lagged",
            "dropped": dropped,
            "total_dropped": self.total_dropped,
            "hint": "this client reads too slowly; frames were dropped. Send subscribe again for a fresh snapshot",
        }


class StreamHub:
    """Routes bus events to subscribed clients."""

    def __init__(self, agent_status: Callable[[str], dict[str, Any] | None]) -> None:
        self._agent_status = agent_status
        self._clients: dict[int, ClientStream] = {}
        self._next_id = 0
        self._unsubscribe: Callable[[], None] | None = None

    @property
    def clients(self) -> list[ClientStream]:
        return list(self._clients.values())

    def attach(self, subscribe: Callable[[Callable[[RuntimeEvent], None]], Callable[[], None]]) -> None:
        self._unsubscribe = subscribe(self.on_event)

    def detach(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def connect(self) -> ClientStream:
        self._next_id += 1
        client = ClientStream(self._next_id)
        self._clients[client.id] = client
        return client

    def disconnect(self, client: ClientStream) -> None:
        self._clients.pop(client.id, None)

    def on_event(self, event: RuntimeEvent) -> None:
        if not self._clients:
            return
        frames = frames_for(event)
        # Another node's event changed that node's agent, not ours: no status frame of ours for it.
        if event.type in AGENT_CHANGING_EVENTS and event.agent_id and not event.origin:
            status = self._agent_status(event.agent_id)
            if status is not None:
                frames.append({"kind": "agent-status", "agent_id": event.agent_id, "agent": status})
        self.broadcast(frames)

    def broadcast(self, frames: list[Frame]) -> None:
        texts: list[str | None] = [None] * len(frames)
        for client in list(self._clients.values()):
            subscription = client.subscription
            captured = client.captured
            if subscription is None and captured is None:
                continue
            for index, frame in enumerate(frames):
                if captured is not None or (subscription is not None and subscription.wants(frame)):
                    text = texts[index]
                    if text is None:
                        text = texts[index] = json_text(frame)
                    if captured is not None:
                        if len(captured) < SUBSCRIBE_BUFFER_SIZE:
                            captured.append((frame, text))
                    else:
                        client.offer(text)
