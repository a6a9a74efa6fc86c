"""Supervision in-process: crashed actors restart from their committed state, with backoff and a cap."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from axocoatl.core.errors import MockFailure
from axocoatl.providers.base import ChatRequest, StreamEvent
from axocoatl.providers.mock import MockProvider
from axocoatl.runtime.runtime import Runtime
from axocoatl.runtime.supervision import Supervisor, unexpected_error_text

CONFIG = """
agents:
  - id: worker
    provider: mock
  - id: flaky
    provider: mock
    options: {fail_when: "provider-fail"}
workflows:
  - id: job
    agents: [worker]
"""


class CrashingProvider(MockProvider):
    """The mock provider, except that "crash" in the message raises a bug-like RuntimeError."""

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        if any("crash" in m.content for m in request.messages if m.role == "user"):
            raise RuntimeError("boom: a bug in a provider adapter")
        async for event in super().stream(request):
            yield event


@pytest.fixture
def runtime(make_runtime: Callable[..., Runtime]) -> Runtime:
    return make_runtime(CONFIG, providers={"mock": CrashingProvider()})


@pytest.mark.parametrize(
    ("text", "unexpected"),
    [
        ("RuntimeError: boom", True),
        ("KeyError: 'x'", True),
        ("json.decoder.JSONDecodeError: Expecting value", True),
        ("MyLibraryException: nope", True),
        ("rate limited: try later", False),
        ("agent 'a' timed out after 300 s", False),
        ("BudgetExceeded: over", False),  # axocoatl's own error names are never crashes
        ("", False),
        (None, False),
    ],
)
def test_unexpected_error_text(text: str | None, unexpected: bool) -> None:
    assert unexpected_error_text(text) is unexpected


async def test_a_step_that_crashes_restarts_its_agent(runtime: Runtime) -> None:
    async with runtime as rt:
        supervisor = Supervisor(rt, backoff_base=30.0)  # the loop waits; this test drives check()
        supervisor.start()
        try:
            old = rt.agents["worker"]
            run = await rt.run_workflow("job", "please crash")
            assert run.status == "failed"
            assert "RuntimeError: boom" in (run.steps[0].error or "")
            state = supervisor.state("worker")
            assert state.crashed and state.last_reason and "RuntimeError" in state.last_reason
            assert await supervisor.check() == []  # backing off
            state.next_restart_at = rt.clock.now()
            restarted = await supervisor.check()
        finally:
            await supervisor.aclose()
        assert restarted == ["worker"]
        assert rt.agents["worker"] is not old
        assert rt.agents["worker"].statistics().status == "idle"
        info = supervisor.state("worker").to_json()
        assert info["restarts"] == 1 and info["consecutive"] == 1 and "RuntimeError" in info["last_reason"]
        # The new actor works, from the committed state.
        assert (await rt.execute("worker", "hello")).content == "[worker] hello"


async def test_provider_errors_are_not_crashes(runtime: Runtime) -> None:
    async with runtime as rt:
        supervisor = Supervisor(rt, backoff_base=0.0)
        supervisor.start()
        try:
            with pytest.raises(MockFailure):
                await rt.execute("flaky", "provider-fail")
            supervisor.observe_failure("flaky", MockFailure("x"))
            assert rt.agents["flaky"].statistics().status == "failed"
            assert await supervisor.check() == []
        finally:
            await supervisor.aclose()
        assert supervisor.state("flaky").restarts == 0


async def test_a_stopped_actor_is_restarted(runtime: Runtime) -> None:
    async with runtime as rt:
        supervisor = Supervisor(rt, backoff_base=0.0)
        await rt.agents["worker"].stop()  # its worker is gone, nobody replaced it
        assert await supervisor.check() == ["worker"]
        assert rt.agents["worker"].statistics().status == "idle"
        assert supervisor.state("worker").last_reason == "the actor stopped unexpectedly"


async def test_backoff_grows_and_the_cap_gives_up_until_reset(runtime: Runtime) -> None:
    async with runtime as rt:
        supervisor = Supervisor(rt, backoff_base=10.0, backoff_max=25.0, max_restarts=2)
        now = rt.clock.now()
        supervisor.crash("worker", "ValueError: one")
        first = supervisor.state("worker").next_restart_at
        assert first is not None and 9.0 < first - now <= 10.5
        assert await supervisor.check() == []  # not due yet
        supervisor.state("worker").next_restart_at = now  # time passes
        assert await supervisor.check() == ["worker"]
        supervisor.crash("worker", "ValueError: two")
        second = supervisor.state("worker").next_restart_at
        assert second is not None and 19.0 < second - now <= 21.0  # doubled
        supervisor.state("worker").next_restart_at = now
        assert await supervisor.check() == ["worker"]
        supervisor.crash("worker", "ValueError: three")
        state = supervisor.state("worker")
        assert state.gave_up and state.next_restart_at is None
        assert await supervisor.check() == []
        supervisor.reset()  # a config reload gives it another chance
        assert await supervisor.check() == ["worker"]
        assert supervisor.state("worker").restarts == 3


async def test_no_restart_while_the_agent_has_work(make_runtime: Callable[..., Runtime]) -> None:
    config = CONFIG.replace(
        "    provider: mock\n  - id: flaky", "    provider: mock\n    options: {latency_ms: 300}\n  - id: flaky"
    )
    async with make_runtime(config, providers={"mock": CrashingProvider()}) as rt:
        supervisor = Supervisor(rt, backoff_base=0.0)
        supervisor.crash("worker", "ValueError: earlier")
        turn = asyncio.create_task(rt.execute("worker", "slow"))
        await asyncio.sleep(0.05)
        assert await supervisor.check() == []  # busy: the turn must not be cancelled
        assert (await turn).content == "[worker] slow"
        assert await supervisor.check() == ["worker"]


async def test_the_loop_restarts_on_its_own(runtime: Runtime) -> None:
    async with runtime as rt:
        supervisor = Supervisor(rt, poll_secs=0.05, backoff_base=0.01)
        supervisor.start()
        try:
            supervisor.observe_failure("worker", ZeroDivisionError("division by zero"))
            for _ in range(100):
                if supervisor.state("worker").restarts:
                    break
                await asyncio.sleep(0.02)
        finally:
            await supervisor.aclose()
        assert supervisor.state("worker").restarts == 1
        assert supervisor.state("worker").last_reason == "ZeroDivisionError: division by zero"
