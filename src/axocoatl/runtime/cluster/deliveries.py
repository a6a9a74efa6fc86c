"""Webhook deliveries as work items (cluster mode): each attempt of a delivery is one item, one node makes it.

Every node routes the shared event log into the outbox as on a single node; the deliveries due are
published as items whose id is the delivery and its attempt number, so the copies every node publishes
are one. The node that takes an item claims that delivery's lease in the database (``claimed_by``,
``claimed_until``) and attempts it; an item whose delivery is no longer due (attempted, or leased by
another node) is acknowledged without a request. A retry comes due later and is published again, as
the next attempt.
"""

from __future__ import annotations

from axocoatl.runtime.cluster.workqueue import WorkItem, WorkQueue
from axocoatl.runtime.webhooks import WebhookDispatcher
from axocoatl.store import DeliveryRecord

DELIVERY_CONCURRENCY = 16


class ClusterDeliveries:
    def __init__(self, queue: WorkQueue, webhooks: WebhookDispatcher) -> None:
        self._queue = queue
        self._webhooks = webhooks

    async def publish(self, delivery: DeliveryRecord) -> None:
        payload = {"row": delivery.id, "delivery_id": delivery.delivery_id}
        dedup_id = f"{delivery.delivery_id}/{delivery.attempts}"
        await self._queue.publish("delivery", delivery.delivery_id, payload, dedup_id=dedup_id)

    async def handle(self, item: WorkItem) -> None:
        await self._webhooks.attempt_one(int(item.payload["row"]))
