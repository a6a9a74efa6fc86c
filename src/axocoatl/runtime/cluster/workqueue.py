"""Work items on a JetStream work-queue stream: publish once (deduplicated), claim by one node, ack after commit.

The stream ``<stream>`` keeps subjects ``<stream>.work.<kind>.<key>`` with workqueue retention (an
acknowledged item is gone). Each kind (``step``, ``fire``, ``delivery``) has one durable pull consumer
shared by every node, so JetStream hands each item to one node at a time. A node holding an item sends
in-progress heartbeats while its handler runs and acknowledges only once the handler returned (its
result committed); an item not acknowledged within ``ack_wait_secs`` of the last heartbeat (its node
died) is delivered again, to any node. A handler must therefore be idempotent against the database:
an item whose result already committed is acknowledged without running again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from axocoatl.config.schema import ClusterConfig
from axocoatl.core.errors import ClusterError
from axocoatl.runtime.cluster.connection import NatsConnection

if TYPE_CHECKING:
    from nats.aio.msg import Msg
    from nats.js.client import JetStreamContext

log = logging.getLogger(__name__)

KINDS = ("step", "fire", "delivery")
DUPLICATE_WINDOW_SECS = 120.0  # JetStream drops a second publish with the same Nats-Msg-Id within this
RETRY_DELAY_SECS = 1.0  # a handler that failed: the item comes back after this
FETCH_WAIT_SECS = 1.0
DUPLICATE_IN_PROCESS = 10158  # JetStream's answer to a publish whose Nats-Msg-Id another publish is storing
ENSURE_ATTEMPTS = 30  # a stream just after the cluster started may wait for its peers


@dataclass(frozen=True)
class WorkItem:
    """One unit of work as a handler receives it."""

    kind: str
    key: str  # the last subject token: items of one key are the same thing (a run, a schedule, a delivery)
    payload: dict[str, Any]
    deliveries: int  # 1 on the first delivery; more after a node died or a handler failed


Handler = Callable[[WorkItem], Awaitable[None]]


class RetryLater(Exception):
    """Raised by a handler that cannot take its item yet: the item comes back after ``delay`` seconds."""

    def __init__(self, delay: float) -> None:
        super().__init__(f"retry in {delay:g} s")
        self.delay = delay


@dataclass
class PeerHealth:
    name: str
    current: bool
    offline: bool
    lag: int


@dataclass
class QueueStatus:
    """The work stream as JetStream sees it (``axocoatl cluster status``, ``/health/ready``)."""

    stream: str
    depth: int  # items stored: waiting or claimed, not yet acknowledged
    replicas: int
    leader: str | None
    peers: list[PeerHealth] = field(default_factory=list)  # the replicas other than the leader
    pending: dict[str, int] = field(default_factory=dict)  # kind -> items no node claimed yet
    claimed: dict[str, int] = field(default_factory=dict)  # kind -> items delivered, not acknowledged

    def to_json(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "depth": self.depth,
            "replicas": self.replicas,
            "leader": self.leader,
            "peers": [vars(p) for p in self.peers],
            "pending": self.pending,
            "claimed": self.claimed,
        }


def subject_token(text: str) -> str:
    """``text`` as one NATS subject token (no dots, spaces or wildcards)."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text) or "_"


class WorkQueue:
    """Publishes and consumes the work items of one project's stream."""

    def __init__(self, connection: NatsConnection, settings: ClusterConfig) -> None:
        self._connection = connection
        self.settings = settings
        self.stream = settings.stream

    @property
    def _js(self) -> JetStreamContext:
        return self._connection.client.jetstream()

    def subject(self, kind: str, key: str) -> str:
        return f"{self.stream}.work.{kind}.{subject_token(key)}"

    def _consumer(self, kind: str) -> str:
        return f"{kind}-workers"

    def replicas(self) -> int:
        if self.settings.replicas is not None:
            return self.settings.replicas
        return 3 if len(set(self._connection.servers())) >= 3 else 1

    async def ensure(self) -> None:
        """Create (or update) the stream and its consumers; retried while a young cluster elects leaders."""
        from nats.errors import Error as NatsError
        from nats.js import api
        from nats.js.errors import BadRequestError

        replicas = self.replicas()
        config = api.StreamConfig(
            name=self.stream,
            subjects=[f"{self.stream}.work.>"],
            retention=api.RetentionPolicy.WORK_QUEUE,
            storage=api.StorageType.FILE,
            num_replicas=replicas,
            duplicate_window=DUPLICATE_WINDOW_SECS,
        )
        last: Exception | None = None
        for _ in range(ENSURE_ATTEMPTS):
            try:
                try:
                    await self._js.add_stream(config)
                except BadRequestError as exc:
                    if exc.err_code != 10058:  # stream name already in use (with another config)
                        raise
                    if self.settings.replicas is None:
                        # Unset replicas never shrink a stream: a node that knows fewer servers keeps R3.
                        existing = await self._js.stream_info(self.stream)
                        config = config.evolve(num_replicas=max(replicas, existing.config.num_replicas or 1))
                    await self._js.update_stream(config)
                for kind in KINDS:
                    await self._js.add_consumer(
                        self.stream,
                        api.ConsumerConfig(
                            durable_name=self._consumer(kind),
                            filter_subject=f"{self.stream}.work.{kind}.>",
                            ack_policy=api.AckPolicy.EXPLICIT,
                            ack_wait=self.settings.ack_wait_secs,
                            max_deliver=-1,
                            max_ack_pending=10_000,  # the consumer's replicas follow the stream's
                        ),
                    )
                return
            except (NatsError, TimeoutError) as exc:
                last = exc
                await asyncio.sleep(0.5)
        raise ClusterError(
            f"cannot create the work stream '{self.stream}' (replicas {replicas}) on NATS: {last}",
            hint="check that every NATS server runs with JetStream (-js) and that the cluster has a leader; "
            "or lower cluster.replicas",
        )

    async def publish(self, kind: str, key: str, payload: dict[str, Any], *, dedup_id: str) -> bool:
        """Put an item on the queue; False when JetStream already had one with this ``dedup_id``."""
        from nats.errors import Error as NatsError
        from nats.js.errors import APIError

        data = json.dumps(payload, separators=(",", ":")).encode()
        try:
            ack = await self._js.publish(
                self.subject(kind, key), data, stream=self.stream, headers={"Nats-Msg-Id": dedup_id}
            )
        except APIError as exc:
            if exc.err_code == DUPLICATE_IN_PROCESS:  # another node publishes the same item at this moment
                return False
            raise ClusterError(
                f"NATS refused a {kind} item: {exc.description or exc}",
                hint="check the work stream with `nats stream info`; the item is published again when retried",
            ) from None
        except (NatsError, TimeoutError) as exc:
            raise ClusterError(
                f"cannot publish a {kind} item to NATS ({self._connection.url or 'disconnected'}): "
                f"{exc or type(exc).__name__}",
                hint="check the NATS servers of cluster.nats; the item is published again when retried",
            ) from None
        return not ack.duplicate

    async def consume(self, kind: str, handler: Handler, *, concurrency: int, stop: asyncio.Event) -> None:
        """Hand items of ``kind`` to ``handler``, up to ``concurrency`` at once, until ``stop`` is set; then
        wait for the handlers that run. An item whose handler raised comes back after a short delay."""
        from nats.errors import Error as NatsError
        from nats.errors import TimeoutError as NatsTimeout

        running: set[asyncio.Task[None]] = set()
        free = asyncio.Semaphore(concurrency)
        subscription = None
        try:
            while not stop.is_set():
                try:
                    if subscription is None:
                        subscription = await self._js.pull_subscribe_bind(
                            durable=self._consumer(kind), stream=self.stream
                        )
                    await free.acquire()
                    try:
                        messages = await subscription.fetch(1, timeout=FETCH_WAIT_SECS)
                    except BaseException:
                        free.release()
                        raise
                except (NatsTimeout, TimeoutError):
                    continue
                except (NatsError, OSError) as exc:
                    log.debug("fetching %s items failed: %s", kind, exc)
                    subscription = None
                    await asyncio.sleep(RETRY_DELAY_SECS)
                    continue
                for message in messages:
                    task = asyncio.create_task(self._handle(kind, message, handler), name=f"work:{kind}")
                    running.add(task)
                    task.add_done_callback(running.discard)
                    task.add_done_callback(lambda _: free.release())
        except asyncio.CancelledError:
            # Cancelled (not stopped): the handlers stop too; their items come back to another node.
            for task in running:
                task.cancel()
            raise
        finally:
            if running:
                await asyncio.gather(*running, return_exceptions=True)
            if subscription is not None:
                with contextlib.suppress(Exception):
                    await subscription.unsubscribe()

    async def _handle(self, kind: str, message: Msg, handler: Handler) -> None:
        try:
            payload = json.loads(message.data)
            item = WorkItem(kind, message.subject.rsplit(".", 1)[-1], payload, message.metadata.num_delivered)
        except (ValueError, AttributeError):
            log.error("dropping an unreadable %s item on %s", kind, message.subject)
            await _quietly(message.term())
            return
        beat = asyncio.create_task(self._beat(message), name=f"work-beat:{kind}")
        try:
            await handler(item)
        except asyncio.CancelledError:
            beat.cancel()
            await _quietly(message.nak())
            raise
        except RetryLater as later:
            beat.cancel()
            await _quietly(message.nak(delay=later.delay))
            return
        except Exception:
            beat.cancel()
            log.exception("a %s item (%s) failed; it comes back in %g s", kind, item.key, RETRY_DELAY_SECS)
            await _quietly(message.nak(delay=RETRY_DELAY_SECS))
            return
        beat.cancel()
        # Acknowledged only now: the handler's result committed. A lost ack redelivers the item, and the
        # handler finds its result committed.
        await _quietly(message.ack())

    async def _beat(self, message: Msg) -> None:
        interval = max(self.settings.ack_wait_secs / 3, 0.1)
        while True:
            await asyncio.sleep(interval)
            await _quietly(message.in_progress())

    async def status(self) -> QueueStatus:
        """The stream's depth, replicas and their health, and the items per kind waiting and claimed."""
        from nats.errors import Error as NatsError

        try:
            info = await self._js.stream_info(self.stream)
            status = QueueStatus(
                stream=self.stream,
                depth=info.state.messages,
                replicas=info.config.num_replicas or 1,
                leader=info.cluster.leader if info.cluster is not None else None,
            )
            if info.cluster is not None:
                for peer in info.cluster.replicas or []:
                    status.peers.append(
                        PeerHealth(peer.name or "?", bool(peer.current), bool(peer.offline), peer.lag or 0)
                    )
            for kind in KINDS:
                consumer = await self._js.consumer_info(self.stream, self._consumer(kind))
                status.pending[kind] = consumer.num_pending or 0
                status.claimed[kind] = consumer.num_ack_pending or 0
        except (NatsError, TimeoutError) as exc:
            raise ClusterError(
                f"cannot read the work stream '{self.stream}' from NATS: {exc or type(exc).__name__}",
                hint="check the NATS servers of cluster.nats (is JetStream enabled, does the cluster have a leader?)",
            ) from None
        return status


async def _quietly(call: Awaitable[None]) -> None:
    """An ack, nak or heartbeat: a connection lost in between only means the item comes back."""
    try:
        await call
    except Exception as exc:
        log.debug("acknowledging a work item failed: %s", exc)
