"""Schedules: when each one fires next, and the loop that fires them (in the daemon).

The next fire of every schedule lives in the store, and a fire is claimed there in the
transaction that inserts the run it starts (store/sqlite/schedules.py): each slot starts at
most one run however many processes share the project, and a crash never loses a claimed
fire without its run. Slots of ``every`` schedules are anchored to the first one (no drift);
cron slots are read in the schedule's time zone (croniter, so DST changes are honoured).
Jitter delays a slot by a fraction of ``jitter`` derived from the schedule and the slot, the
same in every process. Slots that came due while no process ran the scheduler are handled
by ``catch_up``: ``skip`` records them as missed, ``once`` runs once for all of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import math
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from axocoatl.config.schema import ScheduleConfig
from axocoatl.core.errors import FireTaken, UsageError
from axocoatl.core.events import RuntimeEvent
from axocoatl.core.ids import Clock, new_run_id
from axocoatl.core.suggest import did_you_mean
from axocoatl.runtime.bus import EventBus
from axocoatl.runtime.ownership import STALE_AFTER
from axocoatl.store import RunRecord, ScheduleClaim, ScheduleFire, ScheduleState, Store, schedule_trigger

log = logging.getLogger(__name__)

MAX_SLEEP = 30.0  # the loop re-reads the store at least this often (another process may have paused a schedule)
MISSED_ROWS = 100  # most missed slots recorded one by one for one outage; the last row counts the rest
_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

# Starts a schedule's run (its id and input given) committed with its claim; raises FireTaken when refused.
Starter = Callable[[ScheduleConfig, str, str, ScheduleClaim], Awaitable[tuple[str, "asyncio.Task[RunRecord]"]]]


def seconds(duration: str) -> int:
    match = _DURATION.match(duration)
    if match is None:
        raise ValueError(f"not a duration: {duration!r}")
    return int(match.group(1)) * _UNITS[match.group(2)]


def fingerprint(schedule: ScheduleConfig) -> str:
    """What the slots depend on: a schedule re-timed in the config gets a new next fire."""
    return json.dumps([schedule.every, schedule.cron, schedule.timezone if schedule.cron else None])


def first_slot(schedule: ScheduleConfig, now: float) -> float:
    """The first slot of a schedule seen at ``now``: one interval later, or the next cron time."""
    if schedule.every is not None:
        return now + seconds(schedule.every)
    return _cron_after(schedule, now)


def slot_after(schedule: ScheduleConfig, slot: float) -> float:
    """The slot that follows ``slot``."""
    if schedule.every is not None:
        return slot + seconds(schedule.every)
    return _cron_after(schedule, slot)


def _cron_after(schedule: ScheduleConfig, moment: float) -> float:
    from croniter import croniter

    assert schedule.cron is not None
    start = datetime.fromtimestamp(moment, ZoneInfo(schedule.timezone))
    return float(croniter(schedule.cron, start).get_next(float))


def jitter_offset(schedule: ScheduleConfig, slot: float) -> float:
    """The delay of one slot: the same in every process, so they agree on when it is due."""
    spread = seconds(schedule.jitter)
    if spread == 0:
        return 0.0
    digest = hashlib.sha256(f"{schedule.id}:{slot!r}".encode()).digest()
    return spread * int.from_bytes(digest[:8], "big") / 2**64


@dataclass(frozen=True)
class Due:
    """The slots of a schedule due at one moment: the stored next fire, up to the latest one due."""

    stored: float  # the schedule's next fire in the store (what a claim compares against)
    latest: float  # the latest slot due now: the one that may run
    older: tuple[float, ...]  # due slots before it: never run (at most MISSED_ROWS of them)
    more: int  # older due slots beyond those
    following: float  # the next fire once ``latest`` is handled


def due_slots(schedule: ScheduleConfig, stored: float, now: float) -> Due | None:
    def due(slot: float) -> bool:
        return slot + jitter_offset(schedule, slot) <= now

    if not due(stored):
        return None
    older: list[float] = []
    more = 0
    latest = stored
    if schedule.every is not None:
        # Arithmetic, not a walk: a daemon down for a month on `every: 1s` is 2.6 million slots.
        step = seconds(schedule.every)
        count = int((now - stored) // step)
        latest = stored + count * step
        if not due(latest):
            latest -= step
            count -= 1
        older = [stored + i * step for i in range(min(count, MISSED_ROWS))]
        more = max(0, count - MISSED_ROWS)
    else:
        while True:
            candidate = slot_after(schedule, latest)
            if candidate > now or not due(candidate):
                break
            if len(older) < MISSED_ROWS:
                older.append(latest)
            else:
                more += 1
            latest = candidate
    return Due(stored, latest, tuple(older), more, slot_after(schedule, latest))


@dataclass(frozen=True)
class ScheduleView:
    """A schedule for `schedules list` and /api/schedules."""

    config: ScheduleConfig
    state: ScheduleState | None
    last: ScheduleFire | None
    last_status: str | None  # the status of the last fire's run, when it started one

    def to_json(self) -> dict[str, Any]:
        from axocoatl.core.ids import iso

        c, state = self.config, self.state
        if not c.enabled:
            status = "disabled"
        elif state is None:
            status = "not started"  # no daemon has run the scheduler since it was added
        else:
            status = "paused" if state.paused else "active"
        outcome = None
        if self.last is not None:
            outcome = self.last.outcome if self.last.run_id is None else (self.last_status or self.last.outcome)
        return {
            "id": c.id,
            "name": c.name or c.id,
            "workflow": c.workflow,
            "agent": c.agent,
            "every": c.every.strip() if c.every else None,
            "cron": c.cron,
            "timezone": c.timezone,
            "status": status,
            "next_fire": iso(state.next_fire) if state is not None and status == "active" else None,
            "run_count": state.run_count if state is not None else 0,
            "last_fire": self.last.to_json() if self.last is not None else None,
            "last_outcome": outcome,
        }


class Scheduler:
    """Fires the configured schedules. ``tick`` handles what is due now; ``run`` loops on it."""

    def __init__(
        self,
        schedules: Callable[[], list[ScheduleConfig]],
        store: Store,
        clock: Clock,
        bus: EventBus,
        start: Starter,
    ) -> None:
        self._schedules = schedules  # the config's, and those of proactive entries on a schedule
        self._store = store
        self._clock = clock
        self._bus = bus
        self._start = start
        self._started_at: float | None = None  # slots due before this were missed, unless another process ran
        self._wake = asyncio.Event()
        # Cluster mode: a due slot becomes a fire item (schedule, slot) on the work queue instead of firing
        # here; whichever node takes it fires it through ``fire_slot`` (runtime/cluster/fires.py).
        self.dispatch: Callable[[ScheduleConfig, float, float], Awaitable[None]] | None = None

    def schedule(self, schedule_id: str) -> ScheduleConfig:
        schedules = self._schedules()
        found = next((s for s in schedules if s.id == schedule_id), None)
        if found is None:
            names = [s.id for s in schedules]
            hint = did_you_mean(
                schedule_id, names, noun="schedule", known=True, none="none are configured (add them under schedules:)"
            )
            raise UsageError(f"unknown schedule '{schedule_id}'", hint=hint)
        return found

    async def run(self) -> None:
        """The daemon's loop: handle what is due, then sleep until the next slot (or a poke)."""
        while True:
            try:
                wake = await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # a database hiccup must not stop the scheduler: try again shortly
                log.exception("scheduler tick failed")
                wake = self._clock.now() + 5.0
            delay = min(MAX_SLEEP, max(0.0, wake - self._clock.now()))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)

    def poke(self) -> None:
        """Re-read the schedules now (after a pause, a resume or a config reload)."""
        self._wake.set()

    async def sync(self) -> dict[str, ScheduleState]:
        """Every enabled schedule's stored state, created or re-timed where the config says so."""
        now = self._clock.now()
        stored = await self._store.schedule_states()
        for schedule in self._schedules():
            if not schedule.enabled:
                continue
            state = stored.get(schedule.id)
            if state is None or state.fingerprint != fingerprint(schedule):
                stored[schedule.id] = await self._store.sync_schedule(
                    schedule.id, fingerprint(schedule), first_slot(schedule, now), now
                )
        return stored

    async def tick(self) -> float:
        """Fire or skip every slot due now; returns when the next one is due (inf: none is scheduled)."""
        now = self._clock.now()
        if self._started_at is None:
            self._started_at = now
        states = await self.sync()
        wake = math.inf
        for schedule in self._schedules():
            state = states.get(schedule.id)
            if not schedule.enabled or state is None or state.paused:
                continue
            due = due_slots(schedule, state.next_fire, now)
            if due is None:
                wake = min(wake, state.next_fire + jitter_offset(schedule, state.next_fire))
                continue
            following = await self._handle(schedule, due, now)
            wake = min(wake, following + jitter_offset(schedule, following))
        return wake

    async def _handle(self, schedule: ScheduleConfig, due: Due, now: float) -> float:
        assert self._started_at is not None
        down = due.latest + jitter_offset(schedule, due.latest) < self._started_at
        more = f" ({due.more} more fires before)" if due.more else ""
        if down and schedule.catch_up == "skip":
            detail = "missed: no daemon was running"
            fires = [(slot, "missed", detail) for slot in due.older] + [(due.latest, "missed", detail + more)]
            if await self._skip(schedule, due.stored, due.following, fires, now):
                self._event("ScheduleSkipped", schedule, due.latest, None, detail, now)
            return due.following
        stored = due.stored
        if due.older:
            # Slots before the latest due one never run: recorded as missed, then the latest fires.
            detail = "missed: no daemon was running" if down else "missed: superseded by a later due fire"
            fires = [(slot, "missed", detail) for slot in due.older]
            fires[-1] = (fires[-1][0], "missed", detail + more)
            if not await self._skip(schedule, stored, due.latest, fires, now):
                return due.following  # another process handles this schedule's slots
            stored = due.latest
        await self._fire(schedule, stored, due.following, now)
        return due.following

    async def _skip(
        self,
        schedule: ScheduleConfig,
        expected: float,
        following: float,
        fires: list[tuple[float, str, str]],
        now: float,
    ) -> bool:
        return await self._store.skip_schedule_slot(
            schedule.id, expected=expected, next_fire=following, fires=tuple(fires), at=now
        )

    async def _fire(self, schedule: ScheduleConfig, slot: float, following: float, now: float) -> None:
        if self.dispatch is not None:
            await self.dispatch(schedule, slot, following)
            return
        await self.fire_slot(schedule, slot, following)

    async def fire_slot(self, schedule: ScheduleConfig, slot: float, following: float) -> None:
        """Fire one slot: its run starts committed with the slot's claim, or the slot is found taken."""
        now = self._clock.now()
        run_id = new_run_id()
        claim = ScheduleClaim(
            schedule.id,
            run_id,
            now,
            slot=slot,
            next_fire=following,
            max_concurrent=schedule.max_concurrent,
            live_since=now - STALE_AFTER,
        )
        try:
            await self._start(schedule, run_id, schedule.input, claim)
        except FireTaken as exc:
            if not exc.overlap:
                return  # another process fired this slot
            detail = f"the previous run is still going (max_concurrent: {schedule.max_concurrent})"
            if await self._skip(schedule, slot, following, [(slot, "skipped", detail)], now):
                log.info("schedule %s: fire skipped, %s", schedule.id, detail)
                self._event("ScheduleSkipped", schedule, slot, None, detail, now)
            return
        except UsageError as exc:
            # The target cannot run (its workflow has no entry agent...): record it, move on to the next slot.
            detail = f"could not start: {exc}"
            log.error("schedule %s: %s", schedule.id, detail)
            if await self._skip(schedule, slot, following, [(slot, "failed", detail)], now):
                self._event("ScheduleSkipped", schedule, slot, None, detail, now)
            return
        log.info("schedule %s fired run %s", schedule.id, run_id)
        self._event("ScheduleFired", schedule, slot, run_id, None, now)

    async def run_now(self, schedule_id: str) -> tuple[str, asyncio.Task[RunRecord]]:
        """`schedules run ID`: a run now, outside the slots (the next fire stays as it is)."""
        schedule = self.schedule(schedule_id)
        now = self._clock.now()
        await self.sync()
        run_id = new_run_id()
        started = await self._start(schedule, run_id, schedule.input, ScheduleClaim(schedule.id, run_id, now))
        self._event("ScheduleFired", schedule, None, run_id, "run now", now)
        return started

    async def set_paused(self, schedule_id: str, paused: bool) -> ScheduleView:
        """Pause or resume; a resumed schedule next fires at its first slot from now (paused slots never run)."""
        schedule = self.schedule(schedule_id)
        if not schedule.enabled:
            raise UsageError(
                f"schedule '{schedule_id}' is disabled in the config",
                hint=f"set schedules[{schedule_id}].enabled: true (pause/resume is for enabled schedules)",
            )
        await self.sync()
        now = self._clock.now()
        await self._store.pause_schedule(
            schedule_id, paused, next_fire=None if paused else first_slot(schedule, now), now=now
        )
        self.poke()
        return (await self.views([schedule_id]))[0]

    async def views(self, only: list[str] | None = None) -> list[ScheduleView]:
        states = await self._store.schedule_states()
        views = []
        for schedule in self._schedules():
            if only is not None and schedule.id not in only:
                continue
            fires = await self._store.schedule_fires(schedule.id, limit=1)
            last = fires[0] if fires else None
            status = None
            if last is not None and last.run_id is not None:
                run = await self._store.get_run(last.run_id)
                status = run.status if run is not None else None
            views.append(ScheduleView(schedule, states.get(schedule.id), last, status))
        return views

    def _event(
        self,
        kind: str,
        schedule: ScheduleConfig,
        slot: float | None,
        run_id: str | None,
        detail: str | None,
        now: float,
    ) -> None:
        payload = {"schedule_id": schedule.id, "slot": slot, "run_id": run_id, "detail": detail}
        producer = schedule_trigger(schedule.id)
        self._bus.publish(RuntimeEvent(kind, now, run_id=run_id, produced_by=producer, payload=payload))
