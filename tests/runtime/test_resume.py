"""Durability: a run whose process died is ``interrupted``; resume finishes it without redoing committed steps.

A crash is simulated in-process: the mock answers only the steps meant to commit (any other call
stays in flight), and the runtime is closed abruptly once those steps have committed and the wanted
ones have started (its tasks are cancelled mid-step, nothing more is written). What was committed at
the kill is thus exact however slow the machine is. The dead process is faked by handing the run to
an owner whose pid does not exist.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from tests.conftest import RecordingProvider
from tests.threads import thread_messages

from axocoatl.config.schema import AxocoatlConfig
from axocoatl.core import events as ev
from axocoatl.core.errors import UsageError
from axocoatl.core.events import RuntimeEvent
from axocoatl.runtime.runtime import Runtime
from axocoatl.store import SQLiteStore, WriteBatch

from .support import build_config, mock_agent, steps

LATENCY = {"latency_ms": 50}


def dead_owner() -> str:
    """An owner id on this host whose pid cannot exist (above the kernel's pid_max)."""
    with open("/proc/sys/kernel/pid_max") as handle:
        pid = int(handle.read()) + 1000
    return f"{socket.gethostname()}:{pid}:dead00"


def chain_config(**overrides: dict[str, Any]) -> AxocoatlConfig:
    """a → b → c → d, plus e beside d (both depend on c); every agent takes some time."""
    agents = [
        mock_agent("a", options=LATENCY),
        mock_agent("b", ["a"], options=LATENCY),
        mock_agent("c", ["b"], options=LATENCY),
        mock_agent("d", ["c"], options=LATENCY),
        mock_agent("e", ["c"], options=LATENCY),
    ]
    for agent in agents:
        agent.update(overrides.get(agent["id"], {}))
    return build_config(agents)


class Answering(RecordingProvider):
    """The mock, answering only the agents in ``agents``: any other agent's call hangs, in flight, until
    the runtime is killed. Its step can then not commit before the kill, however long the kill takes."""

    def __init__(self, agents: Iterable[str]) -> None:
        super().__init__()
        self.agents = set(agents)

    async def stream(self, request: Any) -> AsyncIterator[Any]:
        if request.metadata.get("agent_id") not in self.agents:
            await asyncio.Event().wait()  # cancelled by the kill
        async for event in super().stream(request):
            yield event


@asynccontextmanager
async def crashed(
    make_runtime: Callable[..., Runtime],
    config: AxocoatlConfig,
    completed: Iterable[str],
    *,
    started: Iterable[str] = (),
    task: str = "resume me",
) -> AsyncIterator[tuple[Runtime, str]]:
    """A runtime running ``wf``, with the run's id: the block runs once every agent in ``completed`` has
    committed and every agent in ``started`` began executing; leaving it kills the runtime abruptly.
    Only the agents in ``completed`` get an answer from the mock, so no other step commits before the kill."""
    wanted = set(completed)
    seen: set[str] = set()
    reached = asyncio.Event()

    def on_event(event: RuntimeEvent) -> None:
        if event.type == ev.TASK_COMPLETED and event.agent_id:
            seen.add(event.agent_id)
        if wanted <= seen:
            reached.set()

    async with make_runtime(config, providers={"mock": Answering(wanted)}) as rt:
        rt.bus.subscribe(on_event)
        run_id, _ = await rt.start_workflow("wf", task)
        async with asyncio.timeout(30):
            await reached.wait()
            await wait_started(rt, run_id, started)
        yield rt, run_id
    # Leaving the runtime cancelled the run mid-step: like a kill, nothing more committed.


async def wait_started(rt: Runtime, run_id: str, agents: Iterable[str]) -> None:
    """Until each agent's step counts an attempt (its execution began; the held mock keeps it in flight)."""
    wanted = set(agents)
    while True:
        run = await rt.store.get_run(run_id)
        assert run is not None
        if all(steps(run)[a].attempts >= 1 for a in wanted):
            return
        await asyncio.sleep(0.002)


async def orphan(rt: Runtime, run_id: str) -> None:
    """Hand a crashed run to an owner process that does not exist."""
    run = await rt.store.get_run(run_id)
    assert run is not None and run.status == "running"
    taken = await rt.store.claim_run(
        run_id, owner=dead_owner(), expected_owner=run.owner, expected_status="running", now=time.time()
    )
    assert taken


async def uninterrupted_output(make_runtime: Callable[..., Runtime], config: AxocoatlConfig, task: str) -> str | None:
    async with make_runtime(config) as rt:
        run = await rt.run_workflow("wf", task)
    assert run.status == "completed"
    return run.final_output


@pytest.fixture
def other_runtime(tmp_path: Any) -> Callable[..., Runtime]:
    """Runtimes over a second data dir, for reference runs that must not share state."""

    def build(config: AxocoatlConfig, **kwargs: Any) -> Runtime:
        return Runtime(config, data_dir=tmp_path / "reference", **kwargs)

    return build


@pytest.mark.parametrize(
    ("committed", "in_flight"),
    [
        ((), ("a",)),  # killed right after the start
        (("a",), ("b",)),
        (("a", "b", "c"), ("d", "e")),  # d and e run side by side; killed as they run
    ],
)
async def test_interrupted_run_resumes_without_redoing_committed_steps(
    make_runtime: Callable[..., Runtime],
    make_recording: Any,
    other_runtime: Callable[..., Runtime],
    committed: tuple[str, ...],
    in_flight: tuple[str, ...],
) -> None:
    config = chain_config()
    async with crashed(make_runtime, config, committed, started=in_flight) as (rt, run_id):
        before = await rt.store.get_run(run_id)
    assert before is not None
    before_steps = steps(before)
    for agent in in_flight:
        assert before_steps[agent].status == "running"
        assert before_steps[agent].attempts == 1

    recording = make_recording()
    async with make_runtime(config, providers={"mock": recording}) as rt:
        # Same process, other runtime: the owner is alive, so the run still counts as running.
        assert (await rt.get_run(run_id)).status == "running"
        with pytest.raises(UsageError, match="being executed by another process"):
            await rt.resume_run(run_id)
        await orphan(rt, run_id)
        interrupted = await rt.get_run(run_id)
        assert interrupted.status == "interrupted"
        assert [r.run_id for r in await rt.interrupted_runs()] == [run_id]
        async with asyncio.timeout(30):
            resumed = await rt.resume_run(run_id)
        stored = await rt.get_run(run_id)

    assert resumed.status == "completed", resumed.error
    assert stored.to_json() == resumed.to_json()
    after = steps(resumed)
    for agent in "abcde":
        assert after[agent].status == "completed"
        if agent in committed:
            # Committed steps are never executed again: same output, one attempt, no model call.
            assert after[agent].attempts == 1
            assert after[agent].output == before_steps[agent].output
            assert after[agent].finished_at == before_steps[agent].finished_at
            assert recording.calls(agent) == 0
        else:
            # The step in flight at the kill runs again (a second attempt); the later ones run once.
            assert recording.calls(agent) == 1
            assert after[agent].attempts == (2 if agent in in_flight else 1)
    assert resumed.final_output == await uninterrupted_output(other_runtime, config, "resume me")


async def test_resume_rebuilds_upstream_context_from_committed_outputs(make_runtime: Callable[..., Runtime]) -> None:
    config = chain_config()
    async with crashed(make_runtime, config, ["a", "b"]) as (rt, run_id):
        before = await rt.store.get_run(run_id)
    assert before is not None
    async with make_runtime(config) as rt:
        await orphan(rt, run_id)
        resumed = await rt.resume_run(run_id)
    c = steps(resumed)["c"]
    assert c.input == steps(before)["c"].input
    assert f"[b]: {steps(before)['b'].output}" in (c.input or "")


async def test_resume_logs_a_resumed_event(make_runtime: Callable[..., Runtime]) -> None:
    config = chain_config()
    async with crashed(make_runtime, config, ["a"]) as (_, run_id):
        pass
    async with make_runtime(config) as rt:
        await orphan(rt, run_id)
        await rt.resume_run(run_id)
        events = await rt.store.recent_events(run_id=run_id)
    types = [(e.type, e.agent_id) for e in events]
    assert types.count((ev.TASK_COMPLETED, "a")) == 1
    assert types.count((ev.AGENT_ACTIVATED, "b")) == 2
    resumed_at = types.index((ev.RUN_RESUMED, None))
    assert types[resumed_at + 1] == (ev.AGENT_ACTIVATED, "b")
    assert types[-1] == (ev.WORKFLOW_COMPLETED, None)


async def test_auto_resume_finishes_interrupted_runs_on_start(make_runtime: Callable[..., Runtime]) -> None:
    config = chain_config()
    async with crashed(make_runtime, config, ["a", "b"], started=["c"]) as (rt, run_id):
        await orphan(rt, run_id)
    rt = make_runtime(config, auto_resume=True)
    finished = asyncio.Event()
    rt.bus.subscribe(lambda e: finished.set() if e.type == ev.WORKFLOW_COMPLETED and e.run_id == run_id else None)
    async with rt:
        async with asyncio.timeout(30):
            await finished.wait()
        run = await rt.get_run(run_id)
    assert run.status == "completed"
    assert [s.attempts for s in run.steps] == [1, 1, 2, 1, 1]


async def test_resume_after_the_workflow_timeout_has_elapsed_since_the_start(
    make_runtime: Callable[..., Runtime],
) -> None:
    """A run resumed the next morning gets its own time: it must not time out at once."""

    class Later:
        def now(self) -> float:
            return time.time() + 7200

        def monotonic(self) -> float:
            return time.monotonic() + 7200

    config = build_config(
        [mock_agent("a", options=LATENCY), mock_agent("b", ["a"], options=LATENCY)],
        workflow_fields={"timeout_secs": 600},
    )
    async with crashed(make_runtime, config, ["a"], started=["b"]) as (_, run_id):
        pass
    async with make_runtime(config, clock=Later()) as rt:
        await orphan(rt, run_id)
        resumed = await rt.resume_run(run_id)
    assert resumed.status == "completed", resumed.error
    assert steps(resumed)["b"].attempts == 2


async def test_failed_run_retry_reruns_failed_and_skipped_and_keeps_completed(
    make_runtime: Callable[..., Runtime], make_recording: Any
) -> None:
    failing = chain_config(c={"options": {"fail": True}})
    async with make_runtime(failing) as rt:
        failed = await rt.run_workflow("wf", "retry me")
    assert failed.status == "failed"
    assert [s.status for s in failed.steps] == ["completed", "completed", "failed", "skipped", "skipped"]

    # The user fixes the config and retries: the stored plan is kept, the agents are the new ones.
    recording = make_recording()
    async with make_runtime(chain_config(), providers={"mock": recording}) as rt:
        assert (await rt.get_run(failed.run_id)).status == "failed"
        retried = await rt.resume_run(failed.run_id)
    by_id = steps(retried)
    assert retried.status == "completed" and retried.error is None
    assert [s.status for s in retried.steps] == ["completed"] * 5
    assert {a: by_id[a].attempts for a in "abcde"} == {"a": 1, "b": 1, "c": 2, "d": 1, "e": 1}
    assert recording.calls("a") == recording.calls("b") == 0
    assert recording.calls("c") == recording.calls("d") == recording.calls("e") == 1
    assert by_id["a"].output == steps(failed)["a"].output


async def test_retry_of_a_still_failing_run_fails_again(make_runtime: Callable[..., Runtime]) -> None:
    failing = chain_config(b={"options": {"fail": True}})
    async with make_runtime(failing) as rt:
        failed = await rt.run_workflow("wf", "x")
        again = await rt.resume_run(failed.run_id)
    assert again.status == "failed"
    assert steps(again)["b"].attempts == 2
    assert steps(again)["a"].attempts == 1
    assert [s.status for s in again.steps] == ["completed", "failed", "skipped", "skipped", "skipped"]


async def test_resume_refuses_completed_unknown_and_active_runs(make_runtime: Callable[..., Runtime]) -> None:
    config = chain_config()
    async with make_runtime(config) as rt:
        done = await rt.run_workflow("wf", "x")
        with pytest.raises(UsageError, match="already completed; nothing to resume"):
            await rt.resume_run(done.run_id)
        with pytest.raises(UsageError, match="no run 'run-missing'"):
            await rt.resume_run("run-missing")
        run_id, task = await rt.start_workflow("wf", "y")
        with pytest.raises(UsageError, match="already running in this process"):
            await rt.resume_run(run_id)
        await task


async def test_crash_leaves_no_completed_step_without_its_memory_and_ledger(
    make_runtime: Callable[..., Runtime],
) -> None:
    config = chain_config()
    async with crashed(make_runtime, config, ["a", "b"], started=["c"]) as (_, run_id):
        pass
    store = SQLiteStore(make_runtime(config).store.path)  # type: ignore[attr-defined]
    await store.open()
    try:
        run = await store.get_run(run_id)
        assert run is not None
        usage = {row.agent_id: row for row in await store.token_report()}
        for step in run.steps:
            log, _ = await store.read_log(step.agent_id, entry_types=("conversation",))
            # A workflow step writes no conversation thread: its context was its own.
            assert (await thread_messages(store, step.agent_id))[0] == []
            if step.status == "completed":
                assert [(e.content["user"], e.content["assistant"]) for e in log] == [(step.input, step.output)]
                assert usage[step.agent_id].calls == 1
                assert (usage[step.agent_id].input, usage[step.agent_id].output) == (step.tokens_in, step.tokens_out)
            else:
                # The in-flight turn committed nothing: no half memory, no spend.
                assert log == []
                assert step.agent_id not in usage
        assert steps(run)["c"].status == "running" and steps(run)["c"].attempts == 1
    finally:
        await store.close()


class BreakingStore(SQLiteStore):
    """Fails the transaction that completes ``agent``, after its first statements ran."""

    def __init__(self, path: Any, agent: str) -> None:
        super().__init__(path)
        self.agent = agent
        self.broken = True

    async def write(self, batch: WriteBatch, *, durable: bool = True) -> None:
        completes = any(u.agent_id == self.agent and u.fields.get("status") == "completed" for u in batch.step_updates)
        if self.broken and completes:
            self.broken = False
            # A statement that fails inside the transaction, after the memory and ledger inserts.
            batch.step_updates.append(type(batch.step_updates[0])(batch.step_updates[0].run_id, "x", {"nope": 1}))
        await super().write(batch, durable=durable)


async def test_a_failed_step_commit_fails_the_step_keeps_its_spend_and_the_run_retries(
    make_runtime: Callable[..., Runtime], tmp_path: Any
) -> None:
    config = build_config([mock_agent("a"), mock_agent("b", ["a"]), mock_agent("c", ["b"])])
    store = BreakingStore(tmp_path / "data" / "axocoatl.db", "b")
    async with make_runtime(config, store=store) as rt:
        run = await rt.run_workflow("wf", "atomic")
        assert run.status == "failed"
        assert [s.status for s in run.steps] == ["completed", "failed", "skipped"]
        error = steps(run)["b"].error or ""
        assert "step 'b' could not commit its result" in error and "unknown steps column" in error
        log, _ = await rt.store.read_log("b", entry_types=("conversation",))
        assert log == []  # nothing of the refused batch
        # The tokens were spent at the provider: the ledger keeps them although the step did not commit.
        assert {r.agent_id: r.calls for r in await rt.store.token_report()} == {"a": 1, "b": 1}
        # The agent is usable at once: not stuck "running".
        assert rt.agent("b").status == "failed"
        assert (await rt.execute("b", "still there?")).content
        assert rt.agent("b").status == "idle"
        retried = await rt.resume_run(run.run_id)
    assert retried.status == "completed"
    assert [s.attempts for s in retried.steps] == [1, 2, 1]


async def test_resume_after_an_agent_was_removed_fails_that_step_clearly(make_runtime: Callable[..., Runtime]) -> None:
    async with crashed(make_runtime, chain_config(), ["a"]) as (_, run_id):
        pass
    without_b = build_config([mock_agent("a"), mock_agent("c", ["a"]), mock_agent("d", ["c"]), mock_agent("e", ["c"])])
    async with make_runtime(without_b) as rt:
        await orphan(rt, run_id)
        resumed = await rt.resume_run(run_id)
    by_id = steps(resumed)
    assert resumed.status == "failed"
    assert by_id["b"].status == "failed"
    assert "agent 'b' is not in the config any more" in (by_id["b"].error or "")
    assert "restore it in axocoatl.yaml" in (by_id["b"].error or "")
    assert [by_id[a].status for a in "cde"] == ["skipped"] * 3
    assert by_id["a"].attempts == 1


async def test_a_resumed_step_on_a_thread_sends_the_threads_history(
    make_runtime: Callable[..., Runtime], make_recording: Any
) -> None:
    """A run-scoped step replays its first context; a step on a shared thread sees the thread as it is."""
    config = chain_config(b={"thread": "shared"})
    async with make_runtime(config) as rt:
        await rt.run_workflow("wf", "earlier run")
    async with crashed(make_runtime, config, ["a"], started=["b"]) as (rt, run_id):
        await orphan(rt, run_id)
    recording = make_recording()
    async with make_runtime(config, providers={"mock": recording}) as rt:
        resumed = await rt.resume_run(run_id)
    assert resumed.status == "completed"
    (b_request,) = [r for r in recording.requests if r.metadata.get("agent_id") == "b"]
    users = [m.content for m in b_request.messages if m.role == "user"]
    assert len(users) == 2 and "Original task: earlier run" in users[0] and "Original task: resume me" in users[1]
