"""A runtime's membership in a cluster: its NATS connection, the work stream, and the loops taking work."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from axocoatl.agents.actor import Agent
from axocoatl.config.schema import ClusterConfig
from axocoatl.core.ids import Clock
from axocoatl.runtime.bus import EventBus
from axocoatl.runtime.cluster.connection import NatsConnection, node_id_of
from axocoatl.runtime.cluster.deliveries import DELIVERY_CONCURRENCY, ClusterDeliveries
from axocoatl.runtime.cluster.fires import FIRE_CONCURRENCY, ClusterFires
from axocoatl.runtime.cluster.steps import STEP_CONCURRENCY, ClusterSteps
from axocoatl.runtime.cluster.workqueue import WorkQueue
from axocoatl.runtime.schedules import Scheduler
from axocoatl.runtime.webhooks import WebhookDispatcher
from axocoatl.store import Store

log = logging.getLogger(__name__)


class ClusterNode:
    """Owned by the Runtime of a daemon with ``cluster.nats``: ``start`` connects (a ClusterError names the urls
    when NATS is unreachable) and ensures the stream; ``run`` takes work items until ``stop_claiming``."""

    def __init__(
        self,
        settings: ClusterConfig,
        *,
        store: Store,
        clock: Clock,
        agents: Callable[[str], Agent | None],
        scheduler: Scheduler,
        webhooks: WebhookDispatcher,
        bus: EventBus | None = None,
    ) -> None:
        self.settings = settings
        self.node_id = node_id_of(settings)
        self.connection = NatsConnection(settings, name=f"axocoatl:{self.node_id}")
        self.queue = WorkQueue(self.connection, settings)
        self.steps = ClusterSteps(
            settings, self.connection, self.queue, store=store, clock=clock, agents=agents, bus=bus
        )
        self.fires = ClusterFires(self.queue, scheduler)
        self.deliveries = ClusterDeliveries(self.queue, webhooks)
        self._stop = asyncio.Event()

    async def start(self) -> None:
        await self.connection.connect()
        try:
            await self.queue.ensure()
            await self.steps.start()
        except BaseException:
            await self.connection.close()
            raise

    async def run(self) -> None:
        await asyncio.gather(
            self.queue.consume("step", self.steps.handle, concurrency=STEP_CONCURRENCY, stop=self._stop),
            self.queue.consume("fire", self.fires.handle, concurrency=FIRE_CONCURRENCY, stop=self._stop),
            self.queue.consume("delivery", self.deliveries.handle, concurrency=DELIVERY_CONCURRENCY, stop=self._stop),
        )

    def stop_claiming(self) -> None:
        """Take no new items (a draining node); the turns it runs finish and are acknowledged."""
        self._stop.set()

    async def aclose(self) -> None:
        self._stop.set()
        await self.steps.aclose()
        await self.connection.close()
