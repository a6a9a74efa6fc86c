"""Human in the loop through the Runtime API: interrupts park the run durably until answered."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from axocoatl.core.errors import NotFound, UsageError
from axocoatl.core.ids import Clock
from axocoatl.runtime.runtime import Runtime

from .support import build_config, mock_agent, steps
from .test_conditions import issues

GUARD = 60


class ManualClock(Clock):
    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.t = start

    def now(self) -> float:
        return self.t


def review_flow(**interrupt: object) -> list[dict[str, object]]:
    return [
        mock_agent("draft", options={"reply": "draft of {input_head}"}),
        mock_agent("review", ["draft"], interrupt=interrupt or "before"),
        mock_agent("publish", ["review"]),
    ]


async def test_before_parks_the_run_survives_a_restart_and_resumes_with_the_answer(
    make_runtime: Callable[..., Runtime],
    recording,  # type: ignore[no-untyped-def]
) -> None:
    config = build_config(review_flow(when="before", question="Ship it?"))
    async with make_runtime(config, providers={"mock": recording}) as rt:
        async with asyncio.timeout(GUARD):
            parked = await rt.run_workflow("wf", "the post")
    assert parked.status == "waiting"
    review = steps(parked)["review"]
    assert (review.status, review.question, review.attempts) == ("waiting", "Ship it?", 0)
    assert recording.calls("review") == 0 and steps(parked)["publish"].status == "pending"
    # A new process (a restart) sees it waiting, does not resume it, and answers it.
    async with make_runtime(config, providers={"mock": recording}, auto_resume=True) as rt:
        assert (await rt.get_run(parked.run_id)).status == "waiting"
        assert await rt.interrupted_runs() == []
        with pytest.raises(UsageError, match="waiting for an answer"):
            await rt.start_resume(parked.run_id)
        _, task = await rt.start_answer(parked.run_id, "yes, but shorter")
        async with asyncio.timeout(GUARD):
            done = await task
    assert done.status == "completed", done.error
    by_id = steps(done)
    assert by_id["review"].answer == "yes, but shorter"
    assert (by_id["review"].input or "").endswith("Human answer: yes, but shorter")
    assert by_id["review"].attempts == 1 and by_id["draft"].attempts == 1
    assert recording.calls("draft") == 1 and recording.calls("review") == 1


async def test_after_shows_the_output_and_passes_the_answer_on(make_runtime: Callable[..., Runtime]) -> None:
    async with make_runtime(build_config(review_flow(when="after"))) as rt:
        parked = await rt.run_workflow("wf", "x")
        review = steps(parked)["review"]
        assert review.status == "waiting" and review.output and "answered (above)" in (review.question or "")
        assert parked.to_json()["steps"][1]["question"] == review.question
        _, task = await rt.start_answer(parked.run_id, "approved", "review")
        done = await task
    assert done.status == "completed"
    assert steps(done)["review"].output == f"{review.output}\n\nHuman answer: approved"
    assert f"[review]: {review.output}\n\nHuman answer: approved" in (steps(done)["publish"].input or "")


async def test_answer_errors_name_the_problem(make_runtime: Callable[..., Runtime]) -> None:
    agents = [
        mock_agent("a"),
        mock_agent("b", ["a"], interrupt="before"),
        mock_agent("c", ["a"], interrupt="before"),
    ]
    async with make_runtime(build_config(agents)) as rt:
        parked = await rt.run_workflow("wf", "x")
        assert [s.status for s in parked.steps] == ["completed", "waiting", "waiting"]
        with pytest.raises(UsageError, match="waits for answers at 2 steps: b, c"):
            await rt.start_answer(parked.run_id, "ok")
        with pytest.raises(NotFound, match=r"step 'a' .* is not waiting"):
            await rt.start_answer(parked.run_id, "ok", "a")
        _, task = await rt.start_answer(parked.run_id, "ok", "b")
        still = await task
        assert still.status == "waiting"  # c still waits
        _, task = await rt.start_answer(parked.run_id, "ok", "c")
        done = await task
        assert done.status == "completed"
        with pytest.raises(UsageError, match="not waiting for an answer"):
            await rt.start_answer(parked.run_id, "again")


@pytest.mark.parametrize(("policy", "status"), [("fail", "failed"), ("answer", "completed")])
async def test_timeout_policy(make_runtime: Callable[..., Runtime], policy: str, status: str) -> None:
    clock = ManualClock()
    interrupt: dict[str, object] = {"when": "before", "timeout_secs": 60, "on_timeout": policy}
    if policy == "answer":
        interrupt["default_answer"] = "go ahead"
    async with make_runtime(build_config(review_flow(**interrupt)), clock=clock) as rt:
        parked = await rt.run_workflow("wf", "x")
        assert steps(parked)["review"].wait_until == clock.t + 60
        assert await rt.expire_waits() == []  # not yet
        clock.t += 61
        assert await rt.expire_waits() == [parked.run_id]
        for _ in range(200):
            if (await rt.get_run(parked.run_id)).status == status:
                break
            await asyncio.sleep(0.01)
        run = await rt.get_run(parked.run_id)
    assert run.status == status
    review = steps(run)["review"]
    if policy == "fail":
        assert review.error == "no answer within 60 s to: " + (review.question or "")
        assert steps(run)["publish"].status == "skipped"
    else:
        assert review.answer == "go ahead"


def test_interrupt_validation() -> None:
    assert any(
        "on_timeout: answer needs a default_answer" in i
        for i in issues(review_flow(when="before", timeout_secs=5, on_timeout="answer"))
    )
    assert any("'before' or 'after'" in i for i in issues([mock_agent("a", interrupt="sometimes")]))
    assert issues(review_flow()) == []
