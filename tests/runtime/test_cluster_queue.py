"""The work queue on a real 3-node NATS cluster: dedup, one claim per item, ack after the handler, redelivery."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import pytest
from tests.nats_cluster import NatsCluster

from axocoatl.config.schema import ClusterConfig
from axocoatl.core.errors import ClusterError
from axocoatl.runtime.cluster import NatsConnection, QueueStatus, WorkItem, WorkQueue

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


async def _queue(urls: list[str], **settings: object) -> tuple[NatsConnection, WorkQueue]:
    config = ClusterConfig.model_validate({"nats": urls, **settings})
    connection = NatsConnection(config, name="test")
    await connection.connect()
    queue = WorkQueue(connection, config)
    await queue.ensure()
    return connection, queue


async def _status_when(queue: WorkQueue, settled: Callable[[QueueStatus], bool], what: str) -> QueueStatus:
    """The queue's status once ``settled`` holds: a replicated consumer's counts reach its leader a
    moment after the stream stored the message, so a status read right after a publish may lag."""
    try:
        async with asyncio.timeout(15):
            while not settled(status := await queue.status()):
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(f"the queue never showed {what}") from None
    return status


async def _drain(queue: WorkQueue, kind: str, handler: object, until: asyncio.Event, concurrency: int = 4) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(queue.consume(kind, handler, concurrency=concurrency, stop=stop))  # type: ignore[arg-type]
    try:
        async with asyncio.timeout(60):
            await until.wait()
    finally:
        stop.set()
        await task


async def test_items_are_deduplicated_claimed_once_and_acked_after_the_handler(nats_cluster: NatsCluster) -> None:
    connection, queue = await _queue(nats_cluster.urls)
    try:
        assert queue.replicas() == 3
        assert await queue.publish("step", "run-1", {"n": 1}, dedup_id="run-1/a/1") is True
        assert await queue.publish("step", "run-1", {"n": 1}, dedup_id="run-1/a/1") is False  # a duplicate
        assert await queue.publish("step", "run-2", {"n": 2}, dedup_id="run-2/a/1") is True
        status = await _status_when(queue, lambda s: s.pending["step"] == 2, "2 pending steps")
        assert status.depth == 2 and status.replicas == 3

        seen: list[WorkItem] = []
        done = asyncio.Event()

        async def handler(item: WorkItem) -> None:
            seen.append(item)
            if len(seen) == 2:
                done.set()

        await _drain(queue, "step", handler, done)
        assert sorted(i.payload["n"] for i in seen) == [1, 2]
        assert {i.key for i in seen} == {"run-1", "run-2"}
        await _status_when(queue, lambda s: s.depth == 0, "an empty stream once acknowledged")
    finally:
        await connection.close()


async def test_a_failed_handler_gets_the_item_again(nats_cluster: NatsCluster) -> None:
    connection, queue = await _queue(nats_cluster.urls)
    try:
        await queue.publish("fire", "nightly", {"slot": 1}, dedup_id="nightly/1")
        deliveries: list[int] = []
        done = asyncio.Event()

        async def handler(item: WorkItem) -> None:
            deliveries.append(item.deliveries)
            if len(deliveries) == 1:
                raise RuntimeError("the database was away")
            done.set()

        await _drain(queue, "fire", handler, done)
        assert deliveries == [1, 2]
        await _status_when(queue, lambda s: s.depth == 0, "an empty stream")
    finally:
        await connection.close()


async def test_a_long_handler_keeps_its_claim_and_a_dead_one_loses_it(nats_cluster: NatsCluster) -> None:
    # ack_wait 1 s: a handler running 3 s keeps its item through heartbeats (no second delivery);
    # a consumer that vanishes without acking loses the item to another consumer after the ack wait.
    connection, queue = await _queue(nats_cluster.urls, ack_wait_secs=1.0)
    other, other_queue = await _queue(nats_cluster.urls, ack_wait_secs=1.0)
    try:
        await queue.publish("step", "long", {}, dedup_id="long/1")
        calls: list[int] = []
        done = asyncio.Event()

        async def slow(item: WorkItem) -> None:
            calls.append(item.deliveries)
            await asyncio.sleep(3)
            done.set()

        await _drain(queue, "step", slow, done)
        assert calls == [1]

        await queue.publish("step", "orphan", {}, dedup_id="orphan/1")
        taken = asyncio.Event()

        async def hang(item: WorkItem) -> None:
            taken.set()
            await asyncio.Event().wait()

        stop = asyncio.Event()
        hanging = asyncio.create_task(queue.consume("step", hang, concurrency=1, stop=stop))
        await asyncio.wait_for(taken.wait(), 30)
        await connection.close()  # the holder is gone: no heartbeat, no ack
        hanging.cancel()
        with contextlib.suppress(BaseException):
            await hanging
        again: list[WorkItem] = []
        redelivered = asyncio.Event()

        async def record(item: WorkItem) -> None:
            again.append(item)
            redelivered.set()

        await _drain(other_queue, "step", record, redelivered)
        assert [i.key for i in again] == ["orphan"] and again[0].deliveries == 2
    finally:
        await connection.close()
        await other.close()


async def test_the_r3_stream_survives_a_killed_server(nats_cluster: NatsCluster) -> None:
    connection, queue = await _queue(nats_cluster.urls)
    try:
        for n in range(5):
            await queue.publish("delivery", f"d{n}", {"n": n}, dedup_id=f"d{n}")
        nats_cluster.kill(0)
        seen: set[int] = set()
        done = asyncio.Event()

        async def handler(item: WorkItem) -> None:
            seen.add(item.payload["n"])
            if len(seen) == 6:
                done.set()

        async with asyncio.timeout(60):
            while True:  # the client reconnects to a live server; the stream elects a new leader
                try:
                    await queue.publish("delivery", "d5", {"n": 5}, dedup_id="d5")
                    break
                except ClusterError:
                    await asyncio.sleep(0.5)
        await _drain(queue, "delivery", handler, done)
        assert seen == set(range(6))
        async with asyncio.timeout(60):
            while True:  # while the consumers elect new leaders, status may time out: it says so
                try:
                    status = await queue.status()
                    break
                except ClusterError as exc:
                    assert "cannot read the work stream 'AXOCOATL'" in exc.message
                    await asyncio.sleep(0.5)
        assert status.depth == 0 and status.replicas == 3
        assert any(p.offline or not p.current for p in status.peers)
    finally:
        await connection.close()


async def test_connecting_to_no_server_names_the_urls() -> None:
    from tests.pg import free_port

    url = f"nats://127.0.0.1:{free_port()}"
    connection = NatsConnection(ClusterConfig.model_validate({"nats": [url]}), name="test")
    with pytest.raises(ClusterError) as caught:
        await connection.connect()
    assert url in caught.value.message and "cluster.nats" in (caught.value.hint or "")


async def test_a_node_with_other_settings_joins_the_stream_without_shrinking_it(nats_cluster: NatsCluster) -> None:
    connection, queue = await _queue(nats_cluster.urls)
    other, other_queue = await _queue(nats_cluster.urls[:1], ack_wait_secs=5.0, replicas=None)
    try:
        assert (await other_queue.status()).replicas == 3
        assert await other_queue.publish("step", "r", {}, dedup_id="r/0") is True
        # both nodes read one stream and one consumer: what one published, the other sees waiting
        await _status_when(queue, lambda s: s.pending["step"] == 1, "the other node's step pending")
    finally:
        await connection.close()
        await other.close()
