"""Runtime.cancel_run through the Python API: pending approvals denied, sub-workflow children cancelled too,
and a cancelled run resumed without running a committed step again."""

from __future__ import annotations

import asyncio
import json
import textwrap
from pathlib import Path

import pytest
import yaml

from axocoatl.config.schema import AxocoatlConfig
from axocoatl.core.errors import NotFound, UsageError
from axocoatl.runtime.runtime import Runtime

GUARD = 60


def parse(text: str) -> AxocoatlConfig:
    return AxocoatlConfig.model_validate(yaml.safe_load(textwrap.dedent(text)))


async def test_cancel_denies_the_runs_pending_approvals(tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    calls = json.dumps([{"name": "write_file", "arguments": {"path": "out.txt", "content": "hi"}}])
    config = parse(
        f"""
        agents:
          - id: worker
            provider: mock
            tools: [{{name: write_file, requires_approval: true}}]
            options: {{tool_calls: {calls}, reply: "saw {{tool_result}}"}}
        workflows:
          - id: job
            agents: [worker]
            workspace: {work}
        """
    )
    async with Runtime(config, data_dir=tmp_path / "data") as rt:
        run_id, task = await rt.start_workflow("job", "go")
        async with asyncio.timeout(GUARD):
            while not await rt.approvals.list(status="pending"):
                await asyncio.sleep(0.01)
            run = await rt.cancel_run(run_id)
        assert task.done() and run.status == "cancelled"
        assert run.steps[0].status == "cancelled"
        [request] = await rt.approvals.list(run_id=run_id)
        assert (request.status, request.reason, request.decided_by) == ("denied", "run cancelled", "runtime")
        assert not (work / "out.txt").exists()
        with pytest.raises(UsageError, match="already ended \\(cancelled\\)"):
            await rt.cancel_run(run_id)
        with pytest.raises(NotFound):
            await rt.cancel_run("run-nope")


NESTED = """
agents:
  - id: plan
    provider: mock
  - id: research
    workflow: inner
    depends_on: [plan]
  - id: dig
    provider: mock
    options: {{latency_ms: {latency}}}
workflows:
  - id: outer
    agents: [plan, research]
  - id: inner
    agents: [dig]
"""


async def test_cancelling_a_parent_cancels_its_child_run_and_resume_takes_both_up(tmp_path: Path) -> None:
    data = tmp_path / "data"
    async with Runtime(parse(NESTED.format(latency=600_000)), data_dir=data) as rt:
        run_id, _ = await rt.start_workflow("outer", "topic")
        async with asyncio.timeout(GUARD):
            child = None
            while child is None:
                await asyncio.sleep(0.02)
                child = await rt.store.child_run(run_id, "research")
            parent = await rt.cancel_run(run_id)
        assert parent.status == "cancelled"
        assert {s.agent_id: s.status for s in parent.steps} == {"plan": "completed", "research": "cancelled"}
        child = await rt.get_run(child.run_id)
        assert child.status == "cancelled" and child.steps[0].status == "cancelled"
    async with Runtime(parse(NESTED.format(latency=10)), data_dir=data) as rt:
        async with asyncio.timeout(GUARD):
            resumed = await rt.resume_run(run_id)
        assert resumed.status == "completed", resumed.error
        steps = {s.agent_id: s for s in resumed.steps}
        assert steps["plan"].attempts == 1
        assert (await rt.get_run(child.run_id)).status == "completed"
