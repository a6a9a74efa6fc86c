"""Proactive entries: an agent (or workflow) fired on a schedule, or by events of the log.

A scheduled entry is one more schedule (id ``proactive:ID``) for the scheduler, with its slots,
claims and catch-up. An event entry reads the event log from its own cursor (as webhooks do):
the first event that its filter passes starts a run, and the cursor's move over that event
commits in the transaction that inserts the run, so each event fires at most once however many
processes run proactive entries. Two rules keep it from running away: events of its own runs never
fire it (the loop guard), and an event that comes within ``cooldown`` of its last fire is passed over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from axocoatl.config.schema import AxocoatlConfig, ProactiveConfig, ScheduleConfig
from axocoatl.core import events as ev
from axocoatl.core.errors import FireTaken, UsageError
from axocoatl.core.events import RuntimeEvent
from axocoatl.core.ids import Clock, iso
from axocoatl.core.templating import render
from axocoatl.runtime.bus import EventBus
from axocoatl.runtime.schedules import seconds
from axocoatl.store import CursorClaim, LoggedEvent, RunRecord, Store

log = logging.getLogger(__name__)

POLL = 1.0  # how often the log is read for events other processes wrote
BATCH = 200
ROUNDS = 20  # most reads of the log per entry in one pass (the rest waits for the next pass)

# Starts an entry's run with its input, committed with the cursor's move over the event (raises FireTaken).
Starter = Callable[[ProactiveConfig, str, CursorClaim], Awaitable[tuple[str, "asyncio.Task[RunRecord]"]]]


def trigger_of(entry: ProactiveConfig) -> str:
    return f"proactive:{entry.id}"


def as_schedule(entry: ProactiveConfig) -> ScheduleConfig:
    """The schedule a proactive entry on a schedule fires through."""
    trigger = entry.trigger
    assert trigger.type == "schedule"
    return ScheduleConfig(
        id=trigger_of(entry),
        name=entry.name or entry.id,
        workflow=entry.workflow,
        agent=entry.agent,
        every=trigger.every,
        cron=trigger.cron,
        timezone=trigger.timezone,
        input=render(entry.input, {"event": None}),
        enabled=entry.enabled,
    )


def scheduled_entries(config: AxocoatlConfig) -> list[ScheduleConfig]:
    """The schedules of the config's proactive entries on a schedule."""
    return [as_schedule(p) for p in config.proactive if p.trigger.type == "schedule"]


def event_values(item: LoggedEvent) -> dict[str, Any]:
    e = item.event
    return {
        "id": e.event_id,
        "type": e.type,
        "run_id": e.run_id,
        "workflow_id": item.workflow_id,
        "agent_id": e.agent_id,
        "produced_by": e.produced_by,
        "trigger": item.trigger,
        "timestamp": iso(e.ts),
        "payload": e.payload,
    }


class ProactiveRunner:
    def __init__(
        self, config: Callable[[], AxocoatlConfig], store: Store, clock: Clock, bus: EventBus, start: Starter
    ) -> None:
        self._config = config
        self._store = store
        self._clock = clock
        self._bus = bus
        self._start = start
        self._wake = asyncio.Event()

    def schedules(self) -> list[ScheduleConfig]:
        return scheduled_entries(self._config())

    def event_entries(self) -> list[ProactiveConfig]:
        return [p for p in self._config().proactive if p.enabled and p.trigger.type == "on_event"]

    async def prime(self) -> None:
        """Start new entries at the end of the log (they react to what happens from now on)."""
        for entry in self.event_entries():
            await self._store.events_after(trigger_of(entry), limit=0)

    async def tick(self) -> None:
        for entry in self.event_entries():
            await self._consume(entry)

    async def _consume(self, entry: ProactiveConfig) -> None:
        assert entry.trigger.type == "on_event"
        names = entry.trigger.names
        trigger = trigger_of(entry)
        cooldown = seconds(entry.cooldown)
        for _ in range(ROUNDS):
            cursor, logged = await self._store.events_after(trigger, limit=BATCH)
            if not logged:
                return
            last = await self._store.last_started(trigger)
            quiet_from = last + cooldown if last is not None else None
            chosen = None
            for item in logged:
                if item.trigger == trigger:
                    continue  # the loop guard: its own runs never fire it
                if not ev.matches_filter(names, item.event.type, item.event.payload):
                    continue
                if quiet_from is not None and self._clock.now() < quiet_from:
                    self._publish("ProactiveSkipped", entry, item, None, f"cooldown {entry.cooldown.strip()}")
                    continue
                chosen = item
                break
            if chosen is None:
                await self._store.advance_cursor(CursorClaim(trigger, cursor, logged[-1].seq))
                if len(logged) < BATCH:
                    return
                continue
            task = render(entry.input, {"event": event_values(chosen)})
            try:
                run_id, _ = await self._start(entry, task, CursorClaim(trigger, cursor, chosen.seq))
            except FireTaken:
                continue  # another process took these events: read on from where it left
            except UsageError as exc:
                log.error("proactive %s: could not start: %s", entry.id, exc)
                self._publish("ProactiveSkipped", entry, chosen, None, f"could not start: {exc}")
                await self._store.advance_cursor(CursorClaim(trigger, cursor, chosen.seq))
                continue
            log.info("proactive %s fired run %s on %s", entry.id, run_id, chosen.event.type)
            self._publish("ProactiveFired", entry, chosen, run_id, None)

    def _publish(
        self, kind: str, entry: ProactiveConfig, item: LoggedEvent, run_id: str | None, detail: str | None
    ) -> None:
        payload = {
            "proactive_id": entry.id,
            "event_id": item.event.event_id,
            "event_type": item.event.type,
            "event_run_id": item.event.run_id,
            "run_id": run_id,
            "detail": detail,
        }
        self._bus.publish(
            RuntimeEvent(kind, self._clock.now(), run_id=run_id, produced_by=trigger_of(entry), payload=payload)
        )

    async def run(self) -> None:
        """The daemon's loop: react to this process's events at once, to other processes' within POLL."""

        def on_event(event: RuntimeEvent) -> None:
            if event.type in ev.LOGGED_TYPES:
                self._wake.set()

        unsubscribe = self._bus.subscribe(on_event, tokens=False)
        try:
            while True:
                self._wake.clear()
                try:
                    await self.tick()
                except asyncio.CancelledError:
                    raise
                except Exception:  # a database hiccup must not stop proactive entries
                    log.exception("proactive pass failed")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=POLL)
        finally:
            unsubscribe()
