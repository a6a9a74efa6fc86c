"""/api/runs: list, show (the stable run JSON) and resume runs; how every run-starting route answers.

A route that starts a run (workflow execute, run resume, skill fire) answers in one of
three ways: 202 ``{run_id, workflow_id, status}`` at once; with ``?wait=true`` 200 and
the run JSON once it ends; with ``Accept: text/event-stream`` a stream of the run's events
ending with the run JSON (what `axocoatl workflow run` shows live when a daemon runs).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse

from axocoatl.core.errors import AxocoatlError, NotFound, UsageError
from axocoatl.core.events import RuntimeEvent
from axocoatl.core.ids import new_id
from axocoatl.runtime.bus import EventBus
from axocoatl.runtime.forks import check_fork_step, checkpoints
from axocoatl.runtime.plans import RunPlan
from axocoatl.server.errors import ApiError, axocoatl_error_json, not_found, responses, status_for
from axocoatl.server.models import AnswerRequest, ForkRequest, RunHistory, RunInfo, RunStarted, RunSummary
from axocoatl.server.routes.agents import refuse_if_draining
from axocoatl.server.state import ServerState, state_of
from axocoatl.server.views import run_summary_json
from axocoatl.store import RunRecord
from axocoatl.tools.journal import run_tool_calls

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api/runs", tags=["runs"])

RunStarter = Callable[[], Awaitable[tuple[str, "asyncio.Task[RunRecord]"]]]
# Events of one run queued for a client that reads slowly; beyond this, progress events
# are dropped (the final `done` never is).
STREAM_BACKLOG = 10_000

RUN_START_DOC = """Returns `{run_id, workflow_id, status}` at once (202). With `?wait=true` the request
waits for the run to end and returns the run JSON (200, as GET /api/runs/{id}). With
`Accept: text/event-stream` the run streams as Server-Sent Events: `started` (the run JSON
as it starts), one `event` per runtime event of the run (`{id, type, ts, run_id,
workflow_id, agent_id, produced_by, payload}`), then `done` (the run JSON once it ended) or
`error` (`{error, hint, status}`). A client that gives up or disconnects does not stop the run."""

WAIT = Query(False, description="Wait for the run to end and return it.")


def run_start_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI responses of a run-starting route."""
    return {
        **responses(*codes),
        200: {
            "model": RunInfo,
            "description": "The finished run (?wait=true), or its events (Accept: text/event-stream)",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
    }


async def start_run(state: ServerState, request: Request, start: RunStarter, *, wait: bool) -> Any:
    """Start a run with ``start`` and answer as RUN_START_DOC says."""
    rt = state.runtime
    # Subscribed before the run starts: its first events are published while it starts.
    feed = _RunFeed(rt.bus) if "text/event-stream" in request.headers.get("accept", "") else None
    try:
        run_id, task = await start()
    except BaseException:
        if feed is not None:
            feed.close()
        raise
    if feed is not None:
        feed.follow(run_id, task)
        started = (await rt.get_run(run_id)).to_json()
        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(feed.frames(started, task), media_type="text/event-stream", headers=headers)
    if wait:
        # Shielded: the run belongs to the runtime, not to this request.
        run = await asyncio.shield(task)
        return JSONResponse(run.to_json(), status_code=200)
    record = await rt.get_run(run_id)
    return {"run_id": run_id, "workflow_id": record.workflow_id, "status": "running"}


def _sse(name: str, data: Any) -> str:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False, default=str)}\n\n"


class _RunFeed:
    """The bus events of one run, queued for its event stream."""

    def __init__(self, bus: EventBus) -> None:
        self.run_id: str | None = None
        self._held: list[RuntimeEvent] = []  # events published before the run's id was known
        self._queue: asyncio.Queue[RuntimeEvent | None] = asyncio.Queue()
        self.dropped = 0
        self._unsubscribe = bus.subscribe(self._on_event)

    def _on_event(self, event: RuntimeEvent) -> None:
        if self.run_id is None:
            if len(self._held) < STREAM_BACKLOG:
                self._held.append(event)
        elif event.run_id == self.run_id:
            self._put(event)

    def _put(self, event: RuntimeEvent) -> None:
        if self._queue.qsize() >= STREAM_BACKLOG:
            self.dropped += 1
            return
        self._queue.put_nowait(event)

    def follow(self, run_id: str, task: asyncio.Task[RunRecord]) -> None:
        self.run_id = run_id
        held, self._held = self._held, []
        for event in held:
            if event.run_id == run_id:
                self._put(event)

        def ended(_: object) -> None:
            # Also unsubscribes a stream whose client left before reading it.
            self.close()
            self._queue.put_nowait(None)

        task.add_done_callback(ended)

    def close(self) -> None:
        self._unsubscribe()

    async def frames(self, started: dict[str, Any], task: asyncio.Task[RunRecord]) -> AsyncIterator[str]:
        try:
            yield ": stream open\n\n"  # flushes the headers at once
            yield _sse("started", started)
            while (event := await self._queue.get()) is not None:
                yield _sse("event", event.to_json())
            if self.dropped:
                log.warning("run %s: a slow client missed %d progress events", self.run_id, self.dropped)
            yield _final(task, self.run_id or "")
        finally:
            self.close()


def _final(task: asyncio.Task[RunRecord], run_id: str) -> str:
    if task.cancelled():
        error = {
            "error": f"the daemon stopped before run '{run_id}' ended",
            "hint": f"it resumes when the daemon starts again; follow it with `axocoatl runs show {run_id}`",
            "status": 503,
        }
        return _sse("error", error)
    exc = task.exception()
    if isinstance(exc, AxocoatlError):
        return _sse("error", {**axocoatl_error_json(exc), "status": status_for(exc)})
    if exc is not None:
        error_id = new_id("err")
        log.error("internal error %s in run %s", error_id, run_id, exc_info=exc)
        hint = f"the daemon log has the details (error id {error_id})"
        return _sse("error", {"error": "internal server error", "hint": hint, "status": 500})
    return _sse("done", task.result().to_json())


# ----------------------------------------------------------------------------------- routes


@router.get("", response_model=list[RunSummary], summary="Recent runs, newest first")
async def list_runs(
    request: Request,
    limit: int = Query(20, ge=1, le=1000, description="How many runs."),
    workflow: str | None = Query(None, max_length=200, description="Only runs of this workflow."),
    status: str | None = Query(
        None,
        pattern="^(running|completed|failed|interrupted|waiting|cancelled)$",
        description="Only runs with this status.",
    ),
) -> list[dict[str, Any]]:
    rt = state_of(request).runtime
    # Interrupted runs are stored as running: filter after computing liveness.
    stored = "running" if status == "interrupted" else status
    runs = [rt.with_liveness(r) for r in await rt.store.list_runs(limit=limit, workflow_id=workflow, status=stored)]
    if status is not None:
        runs = [r for r in runs if r.status == status]
    return [run_summary_json(r) for r in runs]


async def find_run(state: ServerState, run_id: str) -> RunRecord:
    rt = state.runtime
    record = await rt.store.get_run(run_id)
    if record is None:
        recent = [r.run_id for r in await rt.store.list_runs(limit=200)]
        raise not_found("run", run_id, recent, "GET /api/runs lists recent runs")
    return rt.with_liveness(record)


@router.get(
    "/{run_id}",
    response_model=RunInfo,
    response_model_exclude_unset=True,  # `plan` only where there is one, as in RunRecord.to_json()
    summary="One run with its steps (the JSON of `axocoatl runs show --json`)",
    responses=responses(404),
)
async def get_run(run_id: str, request: Request) -> dict[str, Any]:
    return (await find_run(state_of(request), run_id)).to_json()


@router.get(
    "/{run_id}/tool-calls",
    summary="A run's tool calls from its journal (and those waiting for approval), as `axocoatl runs show` lists them",
    description="Each call: `{agent_id, execution, round, index, call_id, name, arguments, effect, status, is_error, "
    "result, started_at, finished_at, approval_id}`; status is started, done, interrupted or awaiting_approval.",
    responses=responses(404),
)
async def get_tool_calls(run_id: str, request: Request) -> list[dict[str, Any]]:
    state = state_of(request)
    await find_run(state, run_id)
    return await run_tool_calls(state.runtime.store, run_id)


@router.post(
    "/{run_id}/cancel",
    response_model=RunInfo,
    response_model_exclude_unset=True,
    summary="Cancel a run: its running steps stop, committed steps stay; resumable with /resume",
    description="Returns the run (200) once it is `cancelled`, wherever it ran (this daemon or another process). "
    "A waiting or interrupted run is cancelled at once; its pending approvals are denied (reason `run cancelled`). "
    "409 when the run already ended (completed, failed or cancelled).",
    responses=responses(404, 409),
)
async def cancel_run(run_id: str, request: Request) -> dict[str, Any]:
    state = state_of(request)
    await find_run(state, run_id)
    try:
        run = await state.runtime.cancel_run(run_id)
    except UsageError as exc:
        raise ApiError(409, exc.message, exc.hint) from None
    return run.to_json()


@router.post(
    "/{run_id}/resume",
    status_code=202,
    response_model=RunStarted,
    summary="Finish an interrupted run or retry a failed one (completed steps never run again)",
    description=RUN_START_DOC,
    responses=run_start_responses(404, 409, 503),
)
async def resume_run(run_id: str, request: Request, wait: bool = WAIT) -> Any:
    state = state_of(request)
    run = await find_run(state, run_id)
    refuse_if_draining(state)

    async def start() -> tuple[str, asyncio.Task[RunRecord]]:
        try:
            return await state.runtime.start_resume(run_id)
        except UsageError as exc:
            raise ApiError(409, exc.message, exc.hint or f"the run is {run.status}") from None

    return await start_run(state, request, start, wait=wait)


@router.post(
    "/{run_id}/fork",
    status_code=202,
    response_model=RunStarted,
    summary="Fork a run at a step: a new run reuses the steps before it (no LLM call) and runs the rest again",
    description=RUN_START_DOC,
    responses=run_start_responses(400, 404, 409, 413, 415, 422, 503),
)
async def fork_run(run_id: str, body: ForkRequest, request: Request, wait: bool = WAIT) -> Any:
    state = state_of(request)
    run = await find_run(state, run_id)
    try:
        check_fork_step(RunPlan.from_json(run.spec), run, body.from_step)
    except NotFound as exc:
        raise ApiError(404, exc.message, exc.hint, field="from_step") from None
    refuse_if_draining(state)

    async def start() -> tuple[str, asyncio.Task[RunRecord]]:
        return await state.runtime.start_fork(run_id, body.from_step, body.input)

    return await start_run(state, request, start, wait=wait)


@router.get(
    "/{run_id}/history",
    response_model=RunHistory,
    summary="A run's checkpoints: its committed steps in commit order, with their outputs (to fork from)",
    responses=responses(404),
)
async def run_history(run_id: str, request: Request) -> dict[str, Any]:
    run = await find_run(state_of(request), run_id)
    rows = checkpoints(run, RunPlan.from_json(run.spec))
    return {"run_id": run.run_id, "parent_run_id": run.parent_run_id, "checkpoints": rows}


@router.post(
    "/{run_id}/answer",
    status_code=202,
    response_model=RunStarted,
    summary="Answer a run waiting for a human (interrupt); it goes on from the waiting step",
    description=RUN_START_DOC,
    responses=run_start_responses(400, 404, 409, 413, 415, 422, 503),
)
async def answer_run(run_id: str, body: AnswerRequest, request: Request, wait: bool = WAIT) -> Any:
    state = state_of(request)
    run = await find_run(state, run_id)
    refuse_if_draining(state)

    async def start() -> tuple[str, asyncio.Task[RunRecord]]:
        try:
            return await state.runtime.start_answer(run_id, body.answer, body.step)
        except NotFound as exc:  # a step that is not waiting
            raise ApiError(404, exc.message, exc.hint, field="step") from None
        except UsageError as exc:
            raise ApiError(409, exc.message, exc.hint or f"the run is {run.status}") from None

    return await start_run(state, request, start, wait=wait)
