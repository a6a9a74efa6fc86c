"""A process that lost a run to another one (it was resumed elsewhere) stops writing its steps."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from tests.threads import thread_messages

from axocoatl.core import events as ev
from axocoatl.core.errors import OwnershipLost
from axocoatl.runtime.runtime import Runtime

CONFIG = """
agents:
  - id: a
    provider: mock
    options: {latency_ms: 300}
  - id: b
    provider: mock
    depends_on: [a]
workflows:
  - id: w
    agents: [a, b]
"""


async def test_a_taken_over_run_is_not_written_by_its_old_owner(make_runtime: Callable[..., Runtime]) -> None:
    async with make_runtime(CONFIG) as rt:
        started = asyncio.Event()
        rt.bus.subscribe(lambda e: started.set() if e.type == ev.AGENT_ACTIVATED else None)
        run_id, task = await rt.start_workflow("w", "task")
        await started.wait()
        # Another process takes the run over while step a is in flight.
        taken = await rt.store.claim_run(
            run_id, owner="elsewhere:1:abc", expected_owner=rt.owner, expected_status="running", now=rt.clock.now()
        )
        assert taken
        with pytest.raises(OwnershipLost, match="no longer owned by this process"):
            await task
        record = await rt.store.get_run(run_id)
        session, _ = await thread_messages(rt.store, "a")
    assert session == []  # the whole turn rolled back with the refused step
    assert record is not None
    assert record.owner == "elsewhere:1:abc"
    assert [(s.agent_id, s.status) for s in record.steps] == [("a", "running"), ("b", "pending")]
