"""Running a workflow or a resume from the CLI, with the live view."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable

import typer

from axocoatl.cli.common import Globals, console, err_console, fail, print_json
from axocoatl.cli.live import RunView, print_run_summary
from axocoatl.config.loader import LoadedConfig
from axocoatl.core import events as ev
from axocoatl.core.errors import AxocoatlError
from axocoatl.core.events import RuntimeEvent
from axocoatl.runtime.runtime import Runtime
from axocoatl.store import RunRecord

Starter = Callable[[Runtime], Awaitable[tuple[str, "asyncio.Task[RunRecord]"]]]


def execute_run(g: Globals, loaded: LoadedConfig, start: Starter, *, order: list[str], as_json: bool) -> None:
    """Start a run with ``start``, show it live (or as JSON), exit non-zero unless it completed."""
    run_id_box: list[str] = []

    async def go() -> RunRecord:
        async with Runtime(loaded.config, data_dir=g.resolved_data_dir()) as rt:
            for run in await rt.interrupted_runs():
                err_console().print(
                    f"[yellow]note:[/] run {run.run_id} ({run.workflow_id}) was interrupted; "
                    f"resume it with `axocoatl runs resume {run.run_id}`",
                    markup=True,
                )
            if as_json:
                run_id, task = await start(rt)
                run_id_box.append(run_id)
                return await task
            return await _watch(rt, start, order, run_id_box)

    try:
        run = asyncio.run(go())
    except AxocoatlError as exc:
        fail(exc, debug=g.debug)
    except KeyboardInterrupt:
        err_console().print("\n[yellow]interrupted.[/]", markup=True)
        if run_id_box:
            err_console().print(f"resume with: axocoatl runs resume {run_id_box[0]}")
        raise typer.Exit(130) from None
    if as_json:
        print_json(run.to_json())
    else:
        print_run_summary(console(), run)
    if run.status != "completed":
        raise typer.Exit(1)


async def _watch(rt: Runtime, start: Starter, order: list[str], run_id_box: list[str]) -> RunRecord:
    view = RunView(order)
    out = console()
    tty = out.is_terminal and sys.stdout.isatty()

    def on_event(event: RuntimeEvent) -> None:
        if event.type in (ev.RUN_STARTED, ev.RUN_RESUMED) and event.run_id:
            out.print(f"[dim]run {event.run_id}{' (resumed)' if event.type == ev.RUN_RESUMED else ''}[/]")
        line = view.apply(event)
        if line and not tty:
            out.print(line, markup=False)

    unsubscribe = rt.bus.subscribe(on_event)
    try:
        run_id, task = await start(rt)
        run_id_box.append(run_id)
        view.run_id = run_id
        record = await rt.store.get_run(run_id)
        if record is not None:
            view.seed(record)
        if not tty:
            return await task
        from rich.live import Live

        with Live(view.render(), console=out, refresh_per_second=8, transient=False) as live:
            while not task.done():
                await asyncio.wait({task}, timeout=0.125)
                live.update(view.render())
            live.update(view.render())
        return task.result()
    finally:
        unsubscribe()
