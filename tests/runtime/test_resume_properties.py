"""Property: a random DAG killed after any number of committed steps resumes to the uninterrupted result."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from axocoatl.config.schema import AxocoatlConfig
from axocoatl.core import events as ev
from axocoatl.core.events import RuntimeEvent
from axocoatl.runtime.runtime import Runtime
from axocoatl.store import RunRecord

from .support import build_config, mock_agent, steps
from .test_resume import dead_owner

SCRATCH = "/dev/shm" if os.path.isdir("/dev/shm") else None


@st.composite
def killed_dags(draw: st.DrawFn) -> tuple[dict[str, list[str]], dict[str, int], int]:
    size = draw(st.integers(2, 8))
    names = [f"n{i}" for i in range(size)]
    deps = {
        name: (draw(st.lists(st.sampled_from(names[:i]), unique=True, max_size=3)) if i else [])
        for i, name in enumerate(names)
    }
    latency = {name: draw(st.integers(5, 25)) for name in names}
    kill_after = draw(st.integers(0, size - 1))
    return deps, latency, kill_after


def config_of(deps: dict[str, list[str]], latency: dict[str, int]) -> AxocoatlConfig:
    agents = [mock_agent(a, d, options={"latency_ms": latency[a]}) for a, d in deps.items()]
    return build_config(agents, store={"synchronous": "normal"})


async def kill(config: AxocoatlConfig, data_dir: Path, completions: int) -> str:
    async with Runtime(config, data_dir=data_dir) as rt:
        seen = 0
        reached = asyncio.Event()

        def on_event(event: RuntimeEvent) -> None:
            nonlocal seen
            seen += event.type == ev.TASK_COMPLETED
            if seen >= completions:
                reached.set()

        rt.bus.subscribe(on_event)
        run_id, _ = await rt.start_workflow("wf", "property task")
        async with asyncio.timeout(30):
            await reached.wait()
        # Leaving the block cancels everything in flight: a crash, as far as the store can tell.
    return run_id


async def scenario(config: AxocoatlConfig, root: Path, completions: int, recording: Any) -> tuple[RunRecord, ...]:
    async with Runtime(config, data_dir=root / "reference") as rt:
        reference = await rt.run_workflow("wf", "property task")
    run_id = await kill(config, root / "crashed", completions)
    async with Runtime(config, data_dir=root / "crashed", providers={"mock": recording}) as rt:
        before = await rt.store.get_run(run_id)
        assert before is not None
        if before.status == "running":
            claimed = await rt.store.claim_run(
                run_id, owner=dead_owner(), expected_owner=before.owner, expected_status="running", now=time.time()
            )
            assert claimed
            assert (await rt.get_run(run_id)).status == "interrupted"
            after = await rt.resume_run(run_id)
        else:
            after = before  # everything had committed before the crash landed
    return reference, before, after


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(killed_dags())
def test_killed_run_resumes_to_the_uninterrupted_result(make_recording: Any, case: Any) -> None:
    deps, latency, completions = case
    recording = make_recording()
    with tempfile.TemporaryDirectory(dir=SCRATCH) as tmp:
        reference, before, after = asyncio.run(scenario(config_of(deps, latency), Path(tmp), completions, recording))
    assert reference.status == "completed"
    assert after.status == "completed", after.error
    old, new = steps(before), steps(after)
    assert sum(s.status == "completed" for s in before.steps) >= completions
    for agent in deps:
        assert new[agent].status == "completed"
        if old[agent].status == "completed":
            assert new[agent].attempts == 1
            assert new[agent].output == old[agent].output
            assert recording.calls(agent) == 0
        else:
            assert recording.calls(agent) == 1
            assert new[agent].attempts == old[agent].attempts + 1
    assert [s.output for s in after.steps] == [s.output for s in reference.steps]
    assert after.final_output == reference.final_output
