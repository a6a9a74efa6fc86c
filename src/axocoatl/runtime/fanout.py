"""Events across nodes: every event of this node's bus goes out on a NATS subject, and every other node's
comes into this node's bus, so a WebSocket (or any bus listener) on any node sees every node's events.

Core NATS publish/subscribe, at most once: the durable record of an event is the event log in the
database (webhooks read that); this is the live view. Loops are prevented twice: an event that came
from NATS carries its ``origin`` node and is never sent out again, and a node drops what it receives
from itself. Without ``cluster.nats`` there is no fan-out and the bus stays in-process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from axocoatl.config.schema import ClusterConfig
from axocoatl.core.events import RuntimeEvent
from axocoatl.runtime.bus import EventBus
from axocoatl.runtime.cluster import NatsConnection

if TYPE_CHECKING:
    from nats.aio.msg import Msg

log = logging.getLogger(__name__)

OUTBOX_SIZE = 10_000  # events waiting to go out before new ones are dropped (NATS away for long)
_TOKEN = re.compile(r"[^A-Za-z0-9_-]")


class Subjects(Protocol):
    """What the fan-out needs of a NATS connection: publish bytes on a subject, and subscribe to one."""

    async def publish(self, subject: str, data: bytes) -> None: ...

    async def subscribe(
        self, subject: str, handler: Callable[[bytes], Awaitable[None]]
    ) -> Callable[[], Awaitable[None]]: ...


def events_prefix(settings: ClusterConfig) -> str:
    """The event subjects of a project's nodes: beside the work stream's ``<stream>.work.>``, never in it."""
    return f"{settings.stream}.events"


class NatsSubjects:
    """Subjects on the node's NATS connection (core publish/subscribe; it reconnects by itself)."""

    def __init__(self, connection: NatsConnection) -> None:
        self.connection = connection

    async def publish(self, subject: str, data: bytes) -> None:
        await self.connection.client.publish(subject, data)

    async def subscribe(
        self, subject: str, handler: Callable[[bytes], Awaitable[None]]
    ) -> Callable[[], Awaitable[None]]:
        async def deliver(msg: Msg) -> None:
            await handler(msg.data)

        subscription = await self.connection.client.subscribe(subject, cb=deliver)
        return subscription.unsubscribe


def subject_token(text: str) -> str:
    """``text`` as one NATS subject token (no dots, spaces or wildcards)."""
    return _TOKEN.sub("_", text) or "_"


def encode(event: RuntimeEvent, origin: str) -> bytes:
    body = {
        "origin": origin,
        "type": event.type,
        "ts": event.ts,
        "run_id": event.run_id,
        "workflow_id": event.workflow_id,
        "agent_id": event.agent_id,
        "produced_by": event.produced_by,
        "payload": event.payload,
        "event_id": event.event_id,
    }
    return json.dumps(body, ensure_ascii=False, default=str).encode()


def decode(data: bytes) -> RuntimeEvent:
    body: dict[str, Any] = json.loads(data)
    return RuntimeEvent(
        type=str(body["type"]),
        ts=float(body["ts"]),
        run_id=body.get("run_id"),
        workflow_id=body.get("workflow_id"),
        agent_id=body.get("agent_id"),
        produced_by=str(body.get("produced_by", "")),
        payload=dict(body.get("payload") or {}),
        event_id=str(body.get("event_id", "")),
        origin=str(body["origin"]),
    )


class EventFanout:
    """Bridges one node's in-process bus and the cluster's event subjects (``<prefix>.<event type>``).

    It listens to the bus from construction, so the events published before NATS is connected (the runs
    a starting node resumes) are queued and go out once ``start`` has the connection's subjects."""

    def __init__(self, bus: EventBus, *, node_id: str, prefix: str) -> None:
        self.bus = bus
        self.node_id = node_id
        self.prefix = prefix
        self.sent = 0
        self.received = 0
        self.dropped = 0
        self._outbox: asyncio.Queue[RuntimeEvent] = asyncio.Queue(OUTBOX_SIZE)
        self._pump: asyncio.Task[None] | None = None
        self._unsubscribe_bus: Callable[[], None] | None = bus.subscribe(self._local)
        self._unsubscribe_nats: Callable[[], Awaitable[None]] | None = None

    async def start(self, subjects: Subjects) -> None:
        self._unsubscribe_nats = await subjects.subscribe(f"{self.prefix}.>", self._received)
        self._pump = asyncio.create_task(self._send(subjects), name="event fan-out")

    async def aclose(self) -> None:
        if self._unsubscribe_bus is not None:
            self._unsubscribe_bus()
            self._unsubscribe_bus = None
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
            self._pump = None
        if self._unsubscribe_nats is not None:
            with contextlib.suppress(Exception):  # NATS may be gone already
                await self._unsubscribe_nats()
            self._unsubscribe_nats = None

    def _local(self, event: RuntimeEvent) -> None:
        if event.origin:
            return  # it came from another node: it is on NATS already
        try:
            self._outbox.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped in (1, 100, 10_000):
                log.warning("NATS is not taking events: %d not fanned out to the other nodes", self.dropped)

    async def _send(self, subjects: Subjects) -> None:
        while True:
            event = await self._outbox.get()
            subject = f"{self.prefix}.{subject_token(event.type)}"
            try:
                await subjects.publish(subject, encode(event, self.node_id))
                self.sent += 1
            except Exception:  # NATS down: the other nodes miss this live event (the event log keeps it)
                self.dropped += 1
                log.debug("could not fan out %s", event.type, exc_info=True)

    async def _received(self, data: bytes) -> None:
        try:
            event = decode(data)
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring a malformed event on %s.>", self.prefix)
            return
        if event.origin == self.node_id or not event.origin:
            return  # our own, back from NATS
        self.received += 1
        self.bus.publish(event)
