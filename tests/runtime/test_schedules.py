"""Schedules under a controllable clock: slots, cron in a time zone, overlap, catch-up, pause, two runtimes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from axocoatl.config.schema import AxocoatlConfig
from axocoatl.core.errors import UsageError
from axocoatl.providers.mock import MockProvider
from axocoatl.runtime.runtime import Runtime
from axocoatl.store import RunRecord

from .support import T0, FakeClock, build_config, mock_agent


class GatedProvider(MockProvider):
    """The mock provider, holding every call until ``gate`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()

    async def stream(self, request: Any) -> AsyncIterator[Any]:
        await self.gate.wait()
        async for event in super().stream(request):
            yield event


def scheduled(**schedule: Any) -> AxocoatlConfig:
    entry = {"id": "tick", "workflow": "wf", "input": "scheduled work", **schedule}
    return build_config([mock_agent("a")], schedules=[entry])


async def settle(rt: Runtime) -> list[RunRecord]:
    """Wait for this runtime's runs, then every run of the store, oldest first."""
    async with asyncio.timeout(30):
        await rt.wait_for_runs(30)
    return sorted(await rt.store.list_runs(limit=1000), key=lambda r: r.started_at)


async def outcomes(rt: Runtime) -> list[tuple[float | None, str]]:
    return [(f.slot, f.outcome) for f in reversed(await rt.store.schedule_fires("tick", limit=1000))]


async def test_every_fires_once_per_slot_with_the_schedule_as_trigger(tmp_path: Path) -> None:
    clock = FakeClock()
    async with Runtime(scheduled(every="1m"), data_dir=tmp_path / "d", clock=clock) as rt:
        assert await rt.scheduler.tick() == T0 + 60  # the first fire comes one interval after the first sight
        clock.advance(59)
        await rt.scheduler.tick()
        assert await settle(rt) == []
        for _ in range(3):
            clock.advance(60)
            await rt.scheduler.tick()
            await rt.scheduler.tick()  # a second look at the same moment fires nothing more
            await settle(rt)  # (a fire while the run still goes would be skipped: max_concurrent 1)
        runs = await settle(rt)
        [view] = await rt.scheduler.views()
        fires = await outcomes(rt)
    assert [r.trigger for r in runs] == ["schedule:tick"] * 3
    assert all(r.status == "completed" and r.input == "scheduled work" for r in runs)
    assert fires == [(T0 + 60, "started"), (T0 + 120, "started"), (T0 + 180, "started")]
    data = view.to_json()
    assert data["run_count"] == 3 and data["status"] == "active"
    assert data["last_outcome"] == "completed"
    assert data["next_fire"] == datetime.fromtimestamp(T0 + 240, ZoneInfo("UTC")).isoformat(
        timespec="milliseconds"
    ).replace("+00:00", "Z")


async def test_cron_is_read_in_its_time_zone(tmp_path: Path) -> None:
    paris = ZoneInfo("Europe/Paris")
    friday_six = datetime(2025, 3, 28, 6, 0, tzinfo=paris).timestamp()
    clock = FakeClock(friday_six)
    config = scheduled(cron="0 7 * * 1-5", timezone="Europe/Paris")
    async with Runtime(config, data_dir=tmp_path / "d", clock=clock) as rt:
        first = await rt.scheduler.tick()
        assert datetime.fromtimestamp(first, paris) == datetime(2025, 3, 28, 7, 0, tzinfo=paris)
        clock.at = first
        following = await rt.scheduler.tick()
        runs = await settle(rt)
    assert len(runs) == 1
    # Friday 07:00, then Monday 07:00 (the weekend skipped; the clocks went forward on Sunday).
    assert datetime.fromtimestamp(following, paris) == datetime(2025, 3, 31, 7, 0, tzinfo=paris)
    assert following - first == 3 * 86400 - 3600


async def test_a_fire_while_the_previous_run_goes_on_is_skipped_and_recorded(tmp_path: Path) -> None:
    clock = FakeClock()
    gated = GatedProvider()
    async with Runtime(scheduled(every="10s"), data_dir=tmp_path / "d", clock=clock, providers={"mock": gated}) as rt:
        await rt.scheduler.tick()
        clock.advance(10)
        await rt.scheduler.tick()  # starts run 1, which waits at the gate
        clock.advance(10)
        await rt.scheduler.tick()  # run 1 still going: skipped
        gated.gate.set()
        await settle(rt)
        clock.advance(10)
        await rt.scheduler.tick()
        runs = await settle(rt)
        fires = await rt.store.schedule_fires("tick")
        recorded = await outcomes(rt)
    assert len(runs) == 2
    assert recorded == [(T0 + 10, "started"), (T0 + 20, "skipped"), (T0 + 30, "started")]
    skipped = next(f for f in fires if f.outcome == "skipped")
    assert skipped.detail == "the previous run is still going (max_concurrent: 1)"


async def test_max_concurrent_lets_fires_overlap(tmp_path: Path) -> None:
    clock = FakeClock()
    gated = GatedProvider()
    config = scheduled(every="10s", max_concurrent=2)
    async with Runtime(config, data_dir=tmp_path / "d", clock=clock, providers={"mock": gated}) as rt:
        await rt.scheduler.tick()
        for _ in range(3):
            clock.advance(10)
            await rt.scheduler.tick()
        gated.gate.set()
        runs = await settle(rt)
        recorded = await outcomes(rt)
    assert len(runs) == 2
    assert [o for _, o in recorded] == ["started", "started", "skipped"]


@pytest.mark.parametrize("catch_up", ["skip", "once"])
async def test_fires_missed_while_nothing_ran_follow_catch_up(tmp_path: Path, catch_up: str) -> None:
    config = scheduled(every="1m", catch_up=catch_up)
    async with Runtime(config, data_dir=tmp_path / "d", clock=FakeClock()) as rt:
        await rt.scheduler.tick()  # next fire: T0 + 60
    later = FakeClock(T0 + 60 * 60 + 30)  # down for an hour: 60 slots came due
    async with Runtime(config, data_dir=tmp_path / "d", clock=later) as rt:
        wake = await rt.scheduler.tick()
        runs = await settle(rt)
        fires = await outcomes(rt)
    assert wake == T0 + 61 * 60
    assert len(fires) == 60
    assert [slot for slot, _ in fires] == [T0 + 60 * i for i in range(1, 61)]
    if catch_up == "skip":
        assert runs == []
        assert {o for _, o in fires} == {"missed"}
    else:
        assert len(runs) == 1
        assert fires[-1] == (T0 + 3600, "started")
        assert {o for _, o in fires[:-1]} == {"missed"}


async def test_two_runtimes_on_one_data_dir_fire_each_slot_once(tmp_path: Path) -> None:
    clock = FakeClock()
    config = scheduled(every="5s")
    async with (
        Runtime(config, data_dir=tmp_path / "d", clock=clock) as one,
        Runtime(config, data_dir=tmp_path / "d", clock=clock) as two,
    ):
        await asyncio.gather(one.scheduler.tick(), two.scheduler.tick())
        for _ in range(8):
            clock.advance(5)
            await asyncio.gather(one.scheduler.tick(), two.scheduler.tick(), one.scheduler.tick())
            await settle(one)
            await settle(two)
        await settle(one)
        runs = await settle(two)
        fires = await outcomes(one)
    assert [slot for slot, _ in fires] == [T0 + 5 * i for i in range(1, 9)]
    assert [o for _, o in fires] == ["started"] * 8
    assert len(runs) == 8


async def test_pause_resume_and_run_now(tmp_path: Path) -> None:
    clock = FakeClock()
    async with Runtime(scheduled(every="1m"), data_dir=tmp_path / "d", clock=clock) as rt:
        await rt.scheduler.tick()
        paused = await rt.scheduler.set_paused("tick", True)
        assert paused.to_json()["status"] == "paused" and paused.to_json()["next_fire"] is None
        clock.advance(600)
        await rt.scheduler.tick()
        assert await settle(rt) == []
        run_id, _ = await rt.scheduler.run_now("tick")  # runs even while paused: the user asked for it
        resumed = await rt.scheduler.set_paused("tick", False)
        assert resumed.to_json()["status"] == "active"
        assert await rt.scheduler.tick() == T0 + 660  # paused slots never run; the next one is from now
        runs = await settle(rt)
        with pytest.raises(UsageError) as unknown:
            await rt.scheduler.run_now("tock")
        recorded = await outcomes(rt)
    assert [r.run_id for r in runs] == [run_id]
    assert runs[0].trigger == "schedule:tick"
    assert recorded == [(None, "manual")]
    assert unknown.value.hint == "did you mean 'tick'?"


async def test_a_schedule_runs_one_agent_and_jitter_delays_each_slot(tmp_path: Path) -> None:
    clock = FakeClock()
    config = build_config(
        [mock_agent("a")], schedules=[{"id": "tick", "agent": "a", "every": "1h", "jitter": "10m", "input": "hi"}]
    )
    async with Runtime(config, data_dir=tmp_path / "d", clock=clock) as rt:
        due = await rt.scheduler.tick()
        assert T0 + 3600 < due <= T0 + 3600 + 600
        clock.at = T0 + 3600  # the slot, before its delay: not yet
        await rt.scheduler.tick()
        assert await settle(rt) == []
        clock.at = due
        await rt.scheduler.tick()
        [run] = await settle(rt)
    assert run.workflow_id == "agent:a" and run.kind == "agent"
    assert run.status == "completed" and run.steps[0].input == "hi"


async def test_a_retimed_schedule_gets_a_new_next_fire_and_a_disabled_one_never_fires(tmp_path: Path) -> None:
    clock = FakeClock()
    async with Runtime(scheduled(every="1m"), data_dir=tmp_path / "d", clock=clock) as rt:
        assert await rt.scheduler.tick() == T0 + 60
    clock.advance(10)
    async with Runtime(scheduled(every="5m"), data_dir=tmp_path / "d", clock=clock) as rt:
        assert await rt.scheduler.tick() == T0 + 10 + 300
    async with Runtime(scheduled(every="5m", enabled=False), data_dir=tmp_path / "d", clock=clock) as rt:
        clock.advance(3600)
        await rt.scheduler.tick()
        [view] = await rt.scheduler.views()
        assert await settle(rt) == []
        with pytest.raises(UsageError, match="disabled"):
            await rt.scheduler.set_paused("tick", True)
    assert view.to_json()["status"] == "disabled"
