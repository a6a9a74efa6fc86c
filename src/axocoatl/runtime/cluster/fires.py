"""Scheduled fires as work items (cluster mode): every node's scheduler publishes a due slot, one node fires it.

The item's id is the (schedule, slot) pair, so the copies every node publishes for one slot are one
item (JetStream drops duplicates within its window); whichever node takes it fires the slot through
the scheduler's usual claim, a compare-and-set on the schedule's next fire committed with the run it
starts. The claim, not the queue, is what makes a slot fire once: a copy published after the window,
or an item redelivered after its node died, finds the slot taken.
"""

from __future__ import annotations

import logging

from axocoatl.config.schema import ScheduleConfig
from axocoatl.core.errors import UsageError
from axocoatl.runtime.cluster.workqueue import WorkItem, WorkQueue
from axocoatl.runtime.schedules import Scheduler

log = logging.getLogger(__name__)

FIRE_CONCURRENCY = 4


class ClusterFires:
    def __init__(self, queue: WorkQueue, scheduler: Scheduler) -> None:
        self._queue = queue
        self._scheduler = scheduler

    async def publish(self, schedule: ScheduleConfig, slot: float, following: float) -> None:
        payload = {"schedule": schedule.id, "slot": slot, "following": following}
        await self._queue.publish("fire", schedule.id, payload, dedup_id=f"{schedule.id}/{slot!r}")

    async def handle(self, item: WorkItem) -> None:
        try:
            schedule = self._scheduler.schedule(str(item.payload["schedule"]))
        except UsageError:
            log.info("dropping a fire of schedule %s: it is not in this node's config", item.payload["schedule"])
            return
        await self._scheduler.fire_slot(schedule, float(item.payload["slot"]), float(item.payload["following"]))
