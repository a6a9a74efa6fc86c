"""`axocoatl schedules list|run|pause|resume`: through the daemon when one owns the data dir."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import typer

from axocoatl.cli.common import command_group, console, load, print_json

if TYPE_CHECKING:
    from axocoatl.config.schema import AxocoatlConfig
    from axocoatl.runtime.schedules import Scheduler

app = command_group(help="Schedules: when each fires next, its last outcome; run one now, pause, resume.")


def _call(
    ctx: typer.Context,
    method: str,
    path: str,
    local: Callable[[Scheduler], Awaitable[Any]],
    without_store: Callable[[], Any] | None = None,
) -> Any:
    """The daemon's answer to ``method path`` when a daemon owns the data dir, else ``local`` on our own runtime."""
    from axocoatl.cli.execution import daemon_or_local

    config = load(ctx).config
    return daemon_or_local(
        ctx, method, path, lambda rt: local(rt.scheduler), config=config, without_store=without_store
    )


def _never_started(config: AxocoatlConfig) -> list[dict[str, Any]]:
    """The schedules as listed before any process opened the database: none has state or fires yet."""
    from axocoatl.runtime.proactive import scheduled_entries
    from axocoatl.runtime.schedules import ScheduleView

    return [ScheduleView(s, None, None, None).to_json() for s in [*config.schedules, *scheduled_entries(config)]]


@app.command("list")
def list_schedules(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the schedules: next fire, last outcome, run count."""

    async def views(scheduler: Scheduler) -> list[dict[str, Any]]:
        return [v.to_json() for v in await scheduler.views()]

    rows: list[dict[str, Any]] = _call(
        ctx, "GET", "/api/schedules", views, without_store=lambda: _never_started(load(ctx).config)
    )
    if as_json:
        print_json(rows)
        return
    if not rows:
        console().print("no schedules configured (add them under `schedules:` in the config)")
        return
    from rich.markup import escape
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    table.add_column("id", no_wrap=True)
    table.add_column("runs", overflow="fold")
    for column in ("when", "status", "next fire", "last outcome", "fires"):
        table.add_column(column, no_wrap=column != "last outcome")
    for row in rows:
        target = f"workflow {row['workflow']}" if row["workflow"] else f"agent {row['agent']}"
        when = f"every {row['every']}" if row["every"] else f"{row['cron']} ({row['timezone']})"
        last = row["last_outcome"] or ""
        if row["last_fire"] and row["last_fire"]["run_id"]:
            last = f"{last} ({row['last_fire']['run_id']})"
        elif row["last_fire"] and row["last_fire"]["detail"]:
            last = f"{last}: {row['last_fire']['detail']}"
        table.add_row(
            *map(escape, (row["id"], target, when, row["status"], row["next_fire"] or "-", last, str(row["run_count"])))
        )
    console().print(table)


@app.command("run")
def run_schedule(
    ctx: typer.Context,
    schedule_id: str = typer.Argument(..., metavar="SCHEDULE_ID", help="Schedule id (see `axocoatl schedules list`)."),
    as_json: bool = typer.Option(False, "--json", help="Print the finished run as JSON (no live view)."),
) -> None:
    """Run a schedule's workflow (or agent) now, with its input; its next fire stays as it is."""
    from axocoatl.cli.execution import RunRequest, execute_run

    request = RunRequest(
        local=lambda rt: rt.scheduler.run_now(schedule_id),
        path=f"/api/schedules/{quote(schedule_id, safe='')}/run",
    )
    execute_run(ctx, request, as_json=as_json)


def _toggle(ctx: typer.Context, schedule_id: str, paused: bool, as_json: bool) -> None:
    action = "pause" if paused else "resume"

    async def toggle(scheduler: Scheduler) -> dict[str, Any]:
        return (await scheduler.set_paused(schedule_id, paused)).to_json()

    row = _call(ctx, "POST", f"/api/schedules/{quote(schedule_id, safe='')}/{action}", toggle)
    if as_json:
        print_json(row)
        return
    from rich.markup import escape

    if paused:
        console().print(f"schedule {escape(row['id'])} paused (in every process of this project)")
    else:
        console().print(f"schedule {escape(row['id'])} resumed; next fire {escape(str(row['next_fire']))}")


@app.command("pause")
def pause_schedule(
    ctx: typer.Context,
    schedule_id: str = typer.Argument(..., metavar="SCHEDULE_ID", help="Schedule id."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Pause a schedule until `schedules resume` (the slots meanwhile never run)."""
    _toggle(ctx, schedule_id, True, as_json)


@app.command("resume")
def resume_schedule(
    ctx: typer.Context,
    schedule_id: str = typer.Argument(..., metavar="SCHEDULE_ID", help="Schedule id."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Resume a paused schedule: it next fires at its first slot from now."""
    _toggle(ctx, schedule_id, False, as_json)
