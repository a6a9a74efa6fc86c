"""The event fan-out between nodes' buses, over an in-memory subject broker (the real NATS path is tested
in tests/server/test_nats_ops.py): every node sees every node's events once, and nothing loops."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from axocoatl.core import events as ev
from axocoatl.core.events import RuntimeEvent
from axocoatl.runtime.bus import EventBus
from axocoatl.runtime.fanout import EventFanout, decode, encode


class Broker:
    """Subjects with NATS's `prefix.>` matching, delivering to every subscriber (the publisher too)."""

    def __init__(self) -> None:
        self.handlers: list[tuple[str, Callable[[bytes], Awaitable[None]]]] = []
        self.published: list[str] = []

    def client(self) -> Client:
        return Client(self)


class Client:
    def __init__(self, broker: Broker) -> None:
        self.broker = broker

    async def publish(self, subject: str, data: bytes) -> None:
        self.broker.published.append(subject)
        for pattern, handler in list(self.broker.handlers):
            if subject.startswith(pattern.removesuffix(">")):
                await handler(data)

    async def subscribe(
        self, subject: str, handler: Callable[[bytes], Awaitable[None]]
    ) -> Callable[[], Awaitable[None]]:
        entry = (subject, handler)
        self.broker.handlers.append(entry)

        async def unsubscribe() -> None:
            self.broker.handlers.remove(entry)

        return unsubscribe


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def test_each_node_sees_the_others_events_once_and_none_of_its_own_back() -> None:
    broker = Broker()
    buses = [EventBus() for _ in range(3)]
    seen: list[list[RuntimeEvent]] = [[] for _ in buses]
    for bus, log in zip(buses, seen, strict=True):
        bus.subscribe(log.append)
    fanouts = [EventFanout(bus, node_id=f"n{i}", prefix="axo.events") for i, bus in enumerate(buses)]
    event = RuntimeEvent(ev.TASK_COMPLETED, 1.5, run_id="run-1", agent_id="a", payload={"output": "ok"}, event_id="e1")
    buses[0].publish(event)  # before NATS is there: queued, sent once it is
    for f in fanouts:
        await f.start(broker.client())
    await settle()
    assert broker.published == ["axo.events.TaskCompleted"]  # once: the receivers never send it on
    assert seen[0] == [event]  # its own, once (not back from NATS)
    for log in seen[1:]:
        assert [(e.type, e.run_id, e.payload, e.event_id, e.origin) for e in log] == [
            (ev.TASK_COMPLETED, "run-1", {"output": "ok"}, "e1", "n0")
        ]
    for f in fanouts:
        await f.aclose()
    buses[1].publish(event)
    await settle()
    assert broker.published == ["axo.events.TaskCompleted"] and not broker.handlers  # closed: nothing goes out


async def test_a_malformed_message_is_ignored_and_the_encoding_round_trips() -> None:
    broker = Broker()
    bus = EventBus()
    seen: list[RuntimeEvent] = []
    bus.subscribe(seen.append)
    fanout = EventFanout(bus, node_id="me", prefix="p")
    await fanout.start(broker.client())
    await broker.client().publish("p.x", b"not json")
    await broker.client().publish("p.x", encode(RuntimeEvent("Custom", 2.0, payload={"n": 1}), "other"))
    await settle()
    assert [(e.type, e.payload, e.origin) for e in seen] == [("Custom", {"n": 1}, "other")]
    assert decode(encode(seen[0], "other")) == seen[0]
    await fanout.aclose()
