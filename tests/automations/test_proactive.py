"""Proactive entries under a controllable clock: fired by run.failed with the event in the input, a cooldown,
the loop guard, and two runtimes on one project firing each event once."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import yaml
from tests.runtime.support import FakeClock, mock_agent

from axocoatl.config.loader import parse_config_text
from axocoatl.config.schema import AxocoatlConfig
from axocoatl.core.events import RuntimeEvent
from axocoatl.runtime.runtime import Runtime
from axocoatl.store import RunRecord


def config(**entry: Any) -> AxocoatlConfig:
    proactive = {
        "id": "fix",
        "agent": "fixer",
        "trigger": {"type": "on_event", "event": "run.failed"},
        "input": "fix {{ event.workflow_id }} {{ event.run_id }}: {{ event.payload.error }}",
        "cooldown": "60s",
        **entry,
    }
    data = {
        "agents": [
            mock_agent("a", options={"reply": "fine"}),
            mock_agent("x", options={"fail": True}),
            mock_agent("fixer", options={"fail_when": "doomed"}),
        ],
        "workflows": [{"id": "ok", "agents": ["a"]}, {"id": "bad", "agents": ["x"]}],
        "proactive": [proactive],
    }
    return parse_config_text(yaml.safe_dump(data), file="test.yaml", env={}).config


async def proactive_runs(rt: Runtime) -> list[RunRecord]:
    async with asyncio.timeout(30):
        await rt.wait_for_runs(30)
    runs = [r for r in await rt.store.list_runs(limit=100) if r.trigger == "proactive:fix"]
    return sorted(runs, key=lambda r: r.started_at)


async def test_a_failed_run_fires_the_entry_with_the_event_then_the_cooldown_holds_it(tmp_path: Path) -> None:
    clock = FakeClock()
    async with Runtime(config(), data_dir=tmp_path, clock=clock) as rt:
        seen: list[RuntimeEvent] = []
        rt.bus.subscribe(lambda e: seen.append(e) if e.type.startswith("Proactive") else None)
        await rt.proactive.prime()
        await rt.run_workflow("ok", "all good")
        await rt.proactive.tick()
        assert await proactive_runs(rt) == []  # a completed run is not run.failed
        failed = await rt.run_workflow("bad", "break")
        await rt.proactive.tick()
        [first] = await proactive_runs(rt)
        assert first.workflow_id == "agent:fixer" and first.status == "completed"
        assert first.input.startswith(f"fix bad {failed.run_id}: ")
        assert failed.error is not None and failed.error in first.input
        assert [e.type for e in seen] == ["ProactiveFired"] and seen[0].payload["run_id"] == first.run_id

        clock.advance(10)
        await rt.run_workflow("bad", "break again")  # within the cooldown: passed over
        await rt.proactive.tick()
        assert len(await proactive_runs(rt)) == 1
        assert seen[-1].type == "ProactiveSkipped" and seen[-1].payload["detail"] == "cooldown 60s"

        clock.advance(60)
        later = await rt.run_workflow("bad", "and again")
        await rt.proactive.tick()
        runs = await proactive_runs(rt)
        assert len(runs) == 2 and later.run_id in runs[1].input


async def test_the_loop_guard_its_own_failed_run_never_fires_it_again(tmp_path: Path) -> None:
    clock = FakeClock()
    # Its own run fails (the event's error contains "doomed"); no cooldown: only the guard stops a loop.
    entry = {"cooldown": "0s", "input": "doomed: {{ event.payload.error }}"}
    async with Runtime(config(**entry), data_dir=tmp_path, clock=clock) as rt:
        await rt.proactive.prime()
        await rt.run_workflow("bad", "break")
        for _ in range(5):
            clock.advance(1)
            await rt.proactive.tick()
            await proactive_runs(rt)
        [only] = await proactive_runs(rt)
        assert only.status == "failed"  # its WorkflowFailed is in the log, and fired nothing


async def test_two_runtimes_on_one_project_fire_each_event_once(tmp_path: Path) -> None:
    clock = FakeClock()
    async with (
        Runtime(config(cooldown="0s"), data_dir=tmp_path, clock=clock) as one,
        Runtime(config(cooldown="0s"), data_dir=tmp_path, clock=clock) as two,
    ):
        await one.proactive.prime()
        for n in range(4):
            clock.advance(1)
            await one.run_workflow("bad", f"break {n}")
        await asyncio.gather(*(rt.proactive.tick() for rt in (one, two, one, two)))
        await asyncio.gather(one.wait_for_runs(30), two.wait_for_runs(30))
        runs = [r for r in await one.store.list_runs(limit=100) if r.trigger == "proactive:fix"]
        failed = [r for r in await one.store.list_runs(limit=100) if r.workflow_id == "bad"]
    # The first pass fires on the first failure; each later failure is one more event, fired once.
    fired_for = sorted(next(f.run_id for f in failed if f.run_id in r.input) for r in runs)
    assert fired_for == sorted(f.run_id for f in failed)


async def test_an_entry_on_a_schedule_fires_through_the_scheduler_as_proactive(tmp_path: Path) -> None:
    clock = FakeClock()
    entry = {"trigger": {"type": "schedule", "every": "10s"}, "input": "look around {{ event.type }}"}
    async with Runtime(config(**entry), data_dir=tmp_path, clock=clock) as rt:
        await rt.scheduler.tick()
        clock.advance(10)
        await rt.scheduler.tick()
        [run] = await proactive_runs(rt)
        assert run.input == "look around " and run.workflow_id == "agent:fixer"
        [view] = [v.to_json() for v in await rt.scheduler.views()]
        assert view["id"] == "proactive:fix" and view["run_count"] == 1 and view["every"] == "10s"
        await rt.proactive.tick()  # an entry on a schedule reads no events
        assert len(await proactive_runs(rt)) == 1


async def test_a_skill_event_fires_an_entry_and_a_start_by_a_trigger_answers_to_its_name(tmp_path: Path) -> None:
    data = {
        "agents": [mock_agent("a", options={"reply": "reviewed"}), mock_agent("fixer")],
        "workflows": [{"id": "ok", "agents": ["a"]}],
        "skills": [{"id": "review", "agents": ["a"], "emits": ["code.reviewed"]}],
        "triggers": [{"name": "push", "workflow": "ok", "api_key": "k"}],
        "proactive": [
            {
                "id": "fix",
                "agent": "fixer",
                "trigger": {"type": "on_event", "event": "code.reviewed"},
                "input": "{{ event.payload.name }} by {{ event.agent_id }}",
                "cooldown": "0s",
            },
            {
                "id": "pushed",
                "agent": "fixer",
                "trigger": {"type": "on_event", "event": "webhook:push"},
                "input": "push: {{ event.payload.input }}",
                "cooldown": "0s",
            },
        ],
    }
    clock = FakeClock()
    async with Runtime(
        parse_config_text(yaml.safe_dump(data), file="t.yaml", env={}).config, data_dir=tmp_path, clock=clock
    ) as rt:
        await rt.proactive.prime()
        await rt.run_workflow("ok", "look")
        run_id, done = await rt.fire_trigger("push", b"hello", {"x-api-key": "k"})
        await done
        await rt.proactive.tick()
        await rt.wait_for_runs(30)
        runs = await rt.store.list_runs(limit=20)
    by = {t: [r for r in runs if r.trigger == t] for t in ("proactive:fix", "proactive:pushed", "webhook:push")}
    # Both runs of `ok` emitted the skill event (cooldown 0s): two fires; only the trigger's run started a push one.
    assert [r.input for r in by["proactive:fix"]] == ["code.reviewed by a"] * 2
    assert [r.input for r in by["proactive:pushed"]] == ["push: hello"]
    assert [r.run_id for r in by["webhook:push"]] == [run_id]
