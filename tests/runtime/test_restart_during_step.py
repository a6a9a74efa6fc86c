"""Restarting an agent while it runs a workflow step re-runs the step on the new actor."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from axocoatl.core import events as ev
from axocoatl.runtime.runtime import Runtime

CONFIG = """
agents:
  - id: a
    provider: mock
    options: {latency_ms: 400}
  - id: b
    provider: mock
    depends_on: [a]
workflows:
  - id: w
    agents: [a, b]
"""


async def test_restart_mid_step_reruns_the_step_and_the_run_completes(make_runtime: Callable[..., Runtime]) -> None:
    async with make_runtime(CONFIG) as rt:
        activated = asyncio.Event()
        rt.bus.subscribe(lambda e: activated.set() if e.type == ev.LLM_CALL_FINISHED or e.agent_id == "a" else None)
        _, task = await rt.start_workflow("w", "task")
        await activated.wait()
        old = rt.agents["a"]
        new = await rt.restart_agent("a")
        run = await asyncio.wait_for(task, 10)
    assert new is not old
    assert old.status == "stopped"
    assert run.status == "completed", run.to_json()
    assert [(s.agent_id, s.status) for s in run.steps] == [("a", "completed"), ("b", "completed")]
    assert new.statistics().turns == 1  # the replacement ran the step; the stopped actor never committed it
