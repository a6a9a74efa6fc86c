"""Running a workflow, a resume or a skill from the CLI, with the live view.

When a live daemon owns the data dir the run goes to it (its HTTP API streams the run's
events, which feed the same live view); otherwise, or with ``--mock``, it runs on a Runtime
in this process. Either way the output, the ``--json`` document and the exit code are the
same: 0 only when the run completed.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import typer

from axocoatl.cli.common import console, err_console, fail, globals_of, load, prefix, print_json, run
from axocoatl.cli.daemon_client import DaemonClient, DaemonLost, daemon_error
from axocoatl.cli.live import RunView, print_run_summary
from axocoatl.config.loader import LoadedConfig
from axocoatl.config.schema import AxocoatlConfig
from axocoatl.core import events as ev
from axocoatl.core.errors import AxocoatlError
from axocoatl.core.events import RuntimeEvent
from axocoatl.runtime.runtime import Runtime
from axocoatl.store import RunRecord, StepRecord

T = TypeVar("T")
Starter = Callable[[Runtime], Awaitable[tuple[str, "asyncio.Task[RunRecord]"]]]


@dataclass(frozen=True)
class RunRequest:
    """One way to start a run, twice: ``local`` on a Runtime of ours, or POST ``path`` to the daemon."""

    local: Starter
    path: str
    body: dict[str, Any] | None = None


def execute_run(ctx: typer.Context, request: RunRequest, *, as_json: bool) -> None:
    """Start the run, show it live (or print it as JSON), exit non-zero unless it completed."""
    g = globals_of(ctx)
    data_dir = g.resolved_data_dir()
    loaded = load(ctx) if g.config_path.exists() else None
    daemon = DaemonClient.discover(data_dir, loaded.config if loaded else None)
    if daemon is not None and g.mock:
        err_console().print(
            f"[yellow]note:[/] --mock runs in this process, not in the daemon at {daemon.url}", markup=True
        )
        daemon = None
    if daemon is not None:
        _note_other_config(daemon, g.config_path)
    run_id_box: list[str] = []
    try:
        while True:
            if daemon is not None:
                data = asyncio.run(_remote(daemon, request, as_json, run_id_box))
            else:
                if loaded is None:
                    loaded = load(ctx)  # in-process needs a config: the error says how to get one
                data = asyncio.run(_local(loaded, data_dir, request.local, as_json, run_id_box)).to_json()
            answer = _ask(data) if data.get("status") == "waiting" and not as_json and _interactive() else None
            if answer is None:
                break
            request = answer_request(*answer)
            run_id_box.clear()
    except AxocoatlError as exc:
        fail(exc, debug=g.debug)
    except KeyboardInterrupt:
        err_console().print("\n[yellow]interrupted.[/]", markup=True)
        if daemon is None:
            if run_id_box:
                err_console().print(f"resume with: {g.cli_prefix()} runs resume {run_id_box[0]}", markup=False)
        elif run_id_box:
            err_console().print(
                f"run {run_id_box[0]} keeps running in the daemon at {daemon.url}; "
                f"follow it with: {g.cli_prefix()} runs show {run_id_box[0]}"
            )
        else:
            err_console().print(f"the daemon at {daemon.url} may have started the run; see: {g.cli_prefix()} runs list")
        raise typer.Exit(130) from None
    if as_json:
        print_json(data)
    else:
        print_run_summary(console(), run_from_json(data))
    if data.get("status") == "waiting":
        # Not a failure: the run is parked until someone answers (from anywhere, at any time).
        waiting = [s["agent_id"] for s in data.get("steps", []) if s.get("status") == "waiting"]
        err_console().print(
            f"run {data['run_id']} is waiting for an answer at {', '.join(waiting)}; answer with: "
            f"{g.cli_prefix()} runs answer {data['run_id']} {waiting[0] if waiting else 'STEP'} -m TEXT",
            markup=False,
        )
        return
    if data.get("status") != "completed":
        raise typer.Exit(1)


def _interactive() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def _ask(data: dict[str, Any]) -> tuple[str, str, str] | None:
    """On a terminal: show the first waiting step's question and read the answer (None: leave it waiting)."""
    step = next((s for s in data.get("steps", []) if s.get("status") == "waiting"), None)
    if step is None:
        return None
    out = console()
    if step.get("output"):
        out.print(f"[bold]{step['agent_id']}[/] answered:", markup=True)
        out.print(str(step["output"]), markup=False)
    out.print(f"[yellow]? {step['agent_id']}[/] asks: {step.get('question') or ''}", markup=True)
    try:
        text = input("answer (empty: leave the run waiting)> ").strip()
    except EOFError:
        return None
    return (str(data["run_id"]), str(step["agent_id"]), text) if text else None


def run_path(run_id: str, action: str) -> str:
    """The daemon's endpoint for ``action`` (resume, fork, answer, cancel) on one run."""
    from urllib.parse import quote

    return f"/api/runs/{quote(run_id, safe='')}/{action}"


def answer_request(run_id: str, step: str | None, text: str) -> RunRequest:
    """Answer a waiting run: in this process, or through the daemon that owns the data dir."""
    body: dict[str, Any] = {"answer": text}
    if step is not None:
        body["step"] = step
    return RunRequest(local=lambda rt: rt.start_answer(run_id, text, step), path=run_path(run_id, "answer"), body=body)


def daemon_or_local(
    ctx: typer.Context,
    method: str,
    path: str,
    local: Callable[[Runtime], Awaitable[Any]],
    *,
    config: AxocoatlConfig,
    params: dict[str, Any] | None = None,
    without_store: Callable[[], Any] | None = None,
) -> Any:
    """One request that is not a run to follow: the daemon's answer to ``method path`` when a daemon owns
    the data dir (``config`` gives its API key), else ``local`` on a Runtime of ours (the project's config).
    A read-only command passes ``without_store``, its answer when no database exists yet: a Runtime would
    create one. An error prints and exits with its code, either way."""
    g = globals_of(ctx)
    data_dir = g.resolved_data_dir()
    try:
        daemon = DaemonClient.discover(data_dir, config)
        if daemon is not None:
            return daemon.request(method, path, params=params)
        if without_store is not None:
            from axocoatl.store import create_store

            if not create_store(config.store, data_dir).exists():
                return without_store()

        async def in_process() -> Any:
            async with Runtime(load(ctx).config, data_dir=data_dir) as rt:
                return await local(rt)

        return run(in_process(), debug=g.debug)
    except AxocoatlError as exc:
        fail(exc, debug=g.debug)


def _note_other_config(daemon: DaemonClient, config_path: Path) -> None:
    running = daemon.info.config
    if running and config_path.exists() and Path(running) != config_path.resolve():
        err_console().print(
            f"[yellow]note:[/] the daemon at {daemon.url} runs {running}, not {config_path}; the run uses its config",
            markup=True,
        )


# ------------------------------------------------------------------------------- in-process


async def _local(
    loaded: LoadedConfig, data_dir: Path, start: Starter, as_json: bool, run_id_box: list[str]
) -> RunRecord:
    from rich.markup import escape

    async with Runtime(loaded.config, data_dir=data_dir) as rt:
        for run in await rt.interrupted_runs():
            err_console().print(
                f"[yellow]note:[/] run {run.run_id} ({run.workflow_id}) was interrupted; "
                f"resume it with `{escape(prefix())} runs resume {run.run_id}`",
                markup=True,
            )
        if as_json:
            run_id, task = await start(rt)
            run_id_box.append(run_id)
            return await task
        progress = _Progress()
        unsubscribe = rt.bus.subscribe(progress.event, tokens=False)  # the progress shows no reply text
        try:
            run_id, task = await start(rt)
            run_id_box.append(run_id)
            progress.started(await rt.get_run(run_id))
            return await progress.follow(task)
        finally:
            unsubscribe()


# ----------------------------------------------------------------------------- the daemon


async def _remote(daemon: DaemonClient, request: RunRequest, as_json: bool, run_id_box: list[str]) -> dict[str, Any]:
    progress = None if as_json else _Progress()

    async def consume() -> dict[str, Any]:
        async with daemon.async_client() as http:
            try:
                async for name, data in daemon.stream(http, request.path, request.body):
                    if name == "started":
                        run_id_box.append(str(data["run_id"]))
                        if progress is not None:
                            progress.started(run_from_json(data))
                    elif name == "event":
                        if progress is not None:
                            progress.event(event_from_json(data))
                    elif name == "done":
                        return data
                    elif name == "error":
                        raise daemon_error(str(data.get("error")), hint=data.get("hint"), status=data.get("status"))
            except DaemonLost as exc:
                if not run_id_box:
                    raise
                raise DaemonLost(exc.message, hint=_follow_hint(run_id_box[0])) from None
        where = f" before run {run_id_box[0]} ended" if run_id_box else ""
        raise DaemonLost(
            f"the daemon at {daemon.url} closed the stream{where}",
            hint=_follow_hint(run_id_box[0]) if run_id_box else "check the daemon's log",
        )

    task = asyncio.create_task(consume())
    return await (progress.follow(task) if progress is not None else task)


def _follow_hint(run_id: str) -> str:
    return (
        f"if the daemon stopped, the run resumes when it starts again; follow it with `{prefix()} runs show {run_id}`"
    )


def event_from_json(data: dict[str, Any]) -> RuntimeEvent:
    """A runtime event as the daemon streams it (``RuntimeEvent.to_json()``)."""
    return RuntimeEvent(
        type=str(data.get("type", "")),
        ts=float(data.get("ts") or 0.0),
        run_id=data.get("run_id"),
        workflow_id=data.get("workflow_id"),
        agent_id=data.get("agent_id"),
        produced_by=str(data.get("produced_by", "")),
        payload=dict(data.get("payload") or {}),
        event_id=str(data.get("id", "")),
    )


def run_from_json(data: dict[str, Any]) -> RunRecord:
    """A run from its JSON (``RunRecord.to_json()``), for the live view and the summary."""
    run_id = str(data["run_id"])
    steps = [
        StepRecord(
            run_id=run_id,
            agent_id=str(step["agent_id"]),
            position=position,
            status=step["status"],
            attempts=int(step.get("attempts", 0)),
            input=step.get("input"),
            output=step.get("output"),
            error=step.get("error"),
            tokens_in=int((step.get("tokens") or {}).get("input", 0)),
            tokens_out=int((step.get("tokens") or {}).get("output", 0)),
            started_at=_seconds(step.get("started_at")),
            finished_at=_seconds(step.get("finished_at")),
            question=step.get("question"),
            answer=step.get("answer"),
            wait_until=_seconds(step.get("wait_until")),
            reused_from=step.get("reused_from"),
        )
        for position, step in enumerate(data.get("steps", []))
    ]
    return RunRecord(
        run_id=run_id,
        workflow_id=str(data["workflow_id"]),
        status=data["status"],
        input=str(data.get("input", "")),
        spec={},
        started_at=_seconds(data.get("started_at")) or 0.0,
        final_output=data.get("final_output"),
        error=data.get("error"),
        finished_at=_seconds(data.get("finished_at")),
        steps=steps,
        parent_run_id=data.get("parent_run_id"),
        parent_step=data.get("parent_step"),
        relation=data.get("relation"),
        plan=data.get("plan"),
    )


def _seconds(text: str | None) -> float | None:
    return datetime.fromisoformat(text).timestamp() if text else None


# ------------------------------------------------------------------------------- live view


class _Progress:
    """The live view of one run, fed with its runtime events (from our bus or the daemon's stream).

    Events that arrive before the run is known (its first ones are published while it
    starts) wait until ``started`` builds the view from the run's steps.
    """

    def __init__(self) -> None:
        self.out = console()
        self.tty = self.out.is_terminal and sys.stdout.isatty()
        self.view: RunView | None = None
        self._early: list[RuntimeEvent] = []

    def started(self, run: RunRecord) -> None:
        self.view = RunView([], run_id=run.run_id)
        self.view.seed(run)
        self.view.seed_plan(run.plan)
        tasks = (run.plan or {}).get("tasks", [])
        if run.plan and any(t["attempts"] for t in tasks) and not self.tty:  # a resumed pass
            done = sum(1 for t in tasks if t["status"] == "completed")
            self.out.print(
                f"▤ plan ({run.plan.get('source')}, committed): {done}/{len(tasks)} subtask(s) done", markup=False
            )
        early, self._early = self._early, []
        for event in early:
            self.event(event)

    def event(self, event: RuntimeEvent) -> None:
        view = self.view
        if view is None:
            self._early.append(event)
            return
        if event.run_id != view.run_id:
            return
        if event.type in (ev.RUN_STARTED, ev.RUN_RESUMED):
            self.out.print(f"[dim]run {event.run_id}{' (resumed)' if event.type == ev.RUN_RESUMED else ''}[/]")
        line = view.apply(event)
        # A call waiting for approval is said on a terminal too (above the live table): someone must answer.
        if line and (not self.tty or event.type == ev.APPROVAL_REQUESTED):
            self.out.print(line, markup=False)

    async def follow(self, task: asyncio.Future[T]) -> T:
        """Wait for ``task``; on a terminal, redraw the table meanwhile."""
        if not self.tty:
            return await task
        from rich.live import Live
        from rich.text import Text

        def render() -> Any:
            return self.view.render() if self.view is not None else Text("starting…", style="dim")

        with Live(render(), console=self.out, refresh_per_second=8, transient=False) as live:
            while not task.done():
                await asyncio.wait({task}, timeout=0.125)
                live.update(render())
            live.update(render())
        return task.result()
