"""`axocoatl runs list|show|resume`."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import typer

from axocoatl.cli.common import Globals, command_group, console, globals_of, load, print_json, run
from axocoatl.core.errors import UsageError

if TYPE_CHECKING:
    # Imported lazily at run time: `axocoatl --help` must not pay for pydantic and the store.
    from axocoatl.config.schema import AxocoatlConfig
    from axocoatl.store import RunRecord, SQLiteStore

app = command_group(help="Inspect and resume workflow runs.")

T = TypeVar("T")


def _config(ctx: typer.Context) -> AxocoatlConfig:
    # Reading runs needs only the store settings: work without a config file too.
    from axocoatl.config.schema import AxocoatlConfig

    if globals_of(ctx).config_path.exists():
        return load(ctx).config
    return AxocoatlConfig()


async def _with_store(g: Globals, config: AxocoatlConfig, fn: Callable[[SQLiteStore], Awaitable[T]]) -> T:
    from axocoatl.store import create_store

    store = create_store(config.store, g.resolved_data_dir())
    await store.open()
    try:
        return await fn(store)
    finally:
        await store.close()


def _live(record: RunRecord) -> RunRecord:
    from axocoatl.runtime.ownership import owner_alive

    if record.status == "running" and not owner_alive(record.owner, record.heartbeat_at, time.time()):
        record.status = "interrupted"
    return record


@app.command("list")
def list_runs(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    limit: int = typer.Option(20, "--limit", "-n", min=1, help="How many runs, newest first."),
    workflow: str | None = typer.Option(None, "--workflow", "-w", help="Only runs of this workflow."),
) -> None:
    """List recent runs, newest first."""
    g = globals_of(ctx)
    config = _config(ctx)
    runs = run(_with_store(g, config, lambda s: s.list_runs(limit=limit, workflow_id=workflow)), debug=g.debug)
    runs = [_live(r) for r in runs]
    if as_json:
        print_json(
            [
                {key: value for key, value in r.to_json().items() if key != "steps"}
                | {"steps_completed": sum(1 for s in r.steps if s.status == "completed"), "steps_total": len(r.steps)}
                for r in runs
            ]
        )
        return
    if not runs:
        console().print("no runs yet; start one with `axocoatl workflow run ID -i TEXT`")
        return
    from rich.markup import escape
    from rich.table import Table

    from axocoatl.core.ids import iso

    table = Table(box=None, header_style="bold")
    # Ids and times are never cut (they are copied and grepped); the workflow name folds on a narrow screen.
    table.add_column("run id", no_wrap=True, min_width=max((len(r.run_id) for r in runs), default=6))
    table.add_column("workflow", overflow="fold")
    for column in ("status", "trigger", "started", "took", "steps"):
        table.add_column(column, no_wrap=True)
    for r in runs:
        took = f"{r.finished_at - r.started_at:.1f}s" if r.finished_at else ""
        done = sum(1 for s in r.steps if s.status == "completed")
        style = {"completed": "green", "failed": "red", "interrupted": "yellow"}.get(r.status, "cyan")
        table.add_row(
            escape(r.run_id),
            escape(r.workflow_id),
            f"[{style}]{escape(r.status)}[/]",
            escape(r.trigger),
            iso(r.started_at) or "",
            took,
            f"{done}/{len(r.steps)}",
        )
    console().print(table)


@app.command("show")
def show_run(
    ctx: typer.Context,
    run_id: str = typer.Argument(..., help="Run id (see `axocoatl runs list`)."),
    as_json: bool = typer.Option(False, "--json", help="Print the run as JSON."),
) -> None:
    """Show one run: status, each step's input, output, tokens and error."""
    g = globals_of(ctx)
    config = _config(ctx)

    async def fetch(store: SQLiteStore) -> RunRecord | UsageError:
        record = await store.get_run(run_id)
        if record is not None:
            return record
        from axocoatl.runtime.runtime import unknown_run

        return await unknown_run(store, run_id)

    record = run(_with_store(g, config, fetch), debug=g.debug)
    if isinstance(record, UsageError):
        from axocoatl.cli.common import fail

        fail(record)
    record = _live(record)
    if as_json:
        print_json(record.to_json())
        return
    from rich.markup import escape

    from axocoatl.cli.live import print_run_summary

    out = console()
    head = f"[bold]{escape(record.run_id)}[/] · workflow {escape(record.workflow_id)}"
    out.print(f"{head} · input: {escape(record.input[:200])}")
    for step in sorted(record.steps, key=lambda s: s.position):
        tokens = f"{step.tokens_in}/{step.tokens_out} tokens"
        out.print(f"\n[bold]{escape(step.agent_id)}[/] — {escape(step.status)}, attempts {step.attempts}, {tokens}")
        if step.output:
            out.print(escape(step.output[:2000]))
        if step.error:
            out.print(f"[red]{escape(step.error)}[/]")
    out.print()
    print_run_summary(out, record)


@app.command("resume")
def resume_run(
    ctx: typer.Context,
    run_id: str = typer.Argument(..., help="An interrupted or failed run."),
    as_json: bool = typer.Option(False, "--json", help="Print the finished run as JSON (no live view)."),
) -> None:
    """Resume an interrupted run (or retry a failed one): completed steps never run again.

    When a daemon owns the data dir, the daemon resumes it; with --mock it runs in this process.
    """
    from urllib.parse import quote

    from axocoatl.cli.execution import RunRequest, execute_run

    request = RunRequest(local=lambda rt: rt.start_resume(run_id), path=f"/api/runs/{quote(run_id, safe='')}/resume")
    execute_run(ctx, request, as_json=as_json)
