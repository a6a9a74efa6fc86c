"""Sub-workflows: a step that runs another workflow as a child run, linked to its parent.

The child is a run of its own (``parent_run_id``/``parent_step``, relation ``child``, ``depth`` one
more than its parent's), started with the step's input; its final output is the step's output and
its failure the step's. A child waiting for a human makes the step, and so the parent run, wait;
answering the parent passes the answer on to the child. When the step runs again (a resume after a
crash, a retry, an answer) it takes up the same child run instead of starting another: a finished
child gives its result at once, an interrupted or failed one is resumed. Runs nest at most
``MAX_DEPTH`` deep.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from axocoatl.core.errors import NotFound, UsageError
from axocoatl.runtime.plans import plan_workflow
from axocoatl.runtime.workflows import ChildOutcome, RunDriver
from axocoatl.store import RunRecord

if TYPE_CHECKING:
    from axocoatl.runtime.runtime import Runtime

MAX_DEPTH = 8
"""How deep child runs nest (the original's limit on subgraph recursion)."""


class ChildRuns:
    """Starts, takes up and waits for the child runs of one Runtime's sub-workflow steps."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime

    async def __call__(self, driver: RunDriver, step_key: str) -> ChildOutcome:
        rt = self._runtime
        parent = driver.state.run
        step = driver.state.steps[step_key]
        workflow_id = driver.plan.subflows[step_key]
        depth = parent.depth + 1
        if depth > MAX_DEPTH:
            return ChildOutcome(
                "failed",
                f"sub-workflow '{workflow_id}' would nest {depth} runs deep; the limit is {MAX_DEPTH} "
                "(does a workflow run itself?)",
            )
        child = await rt.store.child_run(parent.run_id, step_key)
        if child is None:
            workflow = rt.config.workflow(workflow_id)
            if workflow is None:
                raise NotFound(
                    f"step '{step_key}' runs workflow '{workflow_id}', which is not in the config any more",
                    hint="restore it in axocoatl.yaml, then resume the run",
                )
            link = (parent.run_id, step_key, depth)
            _, task = await rt.start_child(plan_workflow(rt.config, workflow), step.input or "", link)
            return _outcome(await asyncio.shield(task))  # the child outlives a cancelled parent step
        taken = await self._take_up(driver, step_key, rt.with_liveness(child))
        if taken is None:
            return _outcome(await rt.get_run(child.run_id))
        return _outcome(await asyncio.shield(taken))

    async def _take_up(self, driver: RunDriver, step_key: str, child: RunRecord) -> asyncio.Task[RunRecord] | None:
        """The task that finishes an existing child, or None when it has nothing left to do now."""
        rt = self._runtime
        running = rt.run_task(child.run_id)
        if running is not None:
            return running
        if child.status in ("interrupted", "failed", "cancelled"):
            _, task = await rt.start_resume(child.run_id)
            return task
        answer = driver.state.steps[step_key].answer
        if child.status == "waiting" and answer is not None:
            try:
                _, task = await rt.start_answer(child.run_id, answer)
            except UsageError:
                # It waits at several steps: the answer goes to the first one asked.
                first = next(s.agent_id for s in child.steps if s.status == "waiting")
                _, task = await rt.start_answer(child.run_id, answer, first)
            state = driver.state
            await driver.commit(lambda now: state.forwarded(step_key, now))
            return task
        return None  # completed, or waiting with no answer yet


def _outcome(child: RunRecord) -> ChildOutcome:
    usage = child.usage()
    if child.status == "completed":
        return ChildOutcome("completed", child.final_output or "", usage)
    if child.status == "waiting":
        waiting = next((s for s in child.steps if s.status == "waiting"), None)
        where = f" at {waiting.agent_id}" if waiting is not None else ""
        question = waiting.question if waiting is not None else ""
        return ChildOutcome("waiting", f"child run {child.run_id} ({child.workflow_id}) asks{where}: {question}")
    return ChildOutcome("failed", f"child run {child.run_id} ({child.workflow_id}) {child.status}: {child.error}")
