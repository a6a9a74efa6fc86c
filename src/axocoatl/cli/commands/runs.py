"""`axocoatl runs list|show|resume|diff`."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import typer

from axocoatl.cli.common import Globals, command_group, console, globals_of, load, print_json, run
from axocoatl.cli.completion import complete_runs
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


async def _with_store(g: Globals, config: AxocoatlConfig, fn: Callable[[SQLiteStore], Awaitable[T]]) -> T | None:
    """``fn`` on the store; None when there is no database yet: a read-only command creates nothing."""
    from axocoatl.store import create_store

    store = create_store(config.store, g.resolved_data_dir())
    if not store.path.exists():
        return None
    await store.open()
    try:
        return await fn(store)
    finally:
        await store.close()


PREFIX_CANDIDATES_SHOWN = 10


def resolve_run_id(ctx: typer.Context, text: str) -> str:
    """The run id that ``text`` names: the whole id, or a prefix of exactly one run's id.

    An ambiguous prefix is a usage error (exit 2) listing the candidates; no match is NotFound (exit 3).
    Read-only: the database is opened with mode=ro, so this works beside a daemon and creates nothing.
    """
    import sqlite3

    from axocoatl.core.errors import NotFound
    from axocoatl.core.suggest import closest
    from axocoatl.store import create_store

    g = globals_of(ctx)
    config = _config(ctx)
    if config.store.backend != "sqlite" or not text:
        return text
    path = create_store(config.store, g.data_dir_path()).path
    if not path.exists():
        from axocoatl.runtime.daemon import read_daemon_info

        if read_daemon_info(g.data_dir_path()) is not None:
            return text  # a daemon owns this data dir: it answers for its runs (or says it cannot)
        raise NotFound(f"no run '{text}': there are no runs in {path.parent} yet", hint=_NO_RUNS_HINT)
    try:
        db = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=5.0)
        try:
            if db.execute("SELECT 1 FROM runs WHERE run_id = ?", (text,)).fetchone():
                return text
            rows = db.execute(
                "SELECT run_id FROM runs WHERE substr(run_id, 1, ?) = ? ORDER BY started_at DESC LIMIT ?",
                (len(text), text, PREFIX_CANDIDATES_SHOWN + 1),
            ).fetchall()
            recent = (
                [] if rows else [r[0] for r in db.execute("SELECT run_id FROM runs ORDER BY started_at DESC LIMIT 500")]
            )
        finally:
            db.close()
    except sqlite3.Error:
        return text  # the command's own open names the database problem precisely
    matches = [str(r[0]) for r in rows]
    if len(matches) == 1:
        return matches[0]
    if matches:
        more = " (and more)" if len(matches) > PREFIX_CANDIDATES_SHOWN else ""
        shown = ", ".join(matches[:PREFIX_CANDIDATES_SHOWN])
        raise UsageError(
            f"run id prefix '{text}' matches {'several' if more else len(matches)} runs: {shown}{more}",
            hint="give more characters of the id",
        )
    close = closest(text, recent, cutoff=0.85)
    hint = f"did you mean '{close}'? (list runs with `axocoatl runs list`)" if close else _NO_RUNS_HINT
    raise NotFound(f"no run '{text}'", hint=hint)


_NO_RUNS_HINT = "list runs with `axocoatl runs list`; start one with `axocoatl workflow run ID -i TEXT`"


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
    found = run(_with_store(g, config, lambda s: s.list_runs(limit=limit, workflow_id=workflow)), debug=g.debug)
    runs = [_live(r) for r in found or []]
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
    run_id: str = typer.Argument(
        ..., help="Run id, or a unique prefix of one (see `axocoatl runs list`).", autocompletion=complete_runs
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the run as JSON."),
) -> None:
    """Show one run: status, each step's input, output, tokens and error."""
    from axocoatl.cli.common import fail
    from axocoatl.core.errors import AxocoatlError, NotFound

    g = globals_of(ctx)
    config = _config(ctx)
    try:
        run_id = resolve_run_id(ctx, run_id)
    except AxocoatlError as exc:
        fail(exc, debug=g.debug)
    found = run(_with_store(g, config, lambda store: store.get_run(run_id)), debug=g.debug)
    if found is None:
        fail(NotFound(f"no run '{run_id}'", hint=_NO_RUNS_HINT), debug=g.debug)
    record = _live(found)
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
    run_id: str = typer.Argument(
        ..., help="An interrupted or failed run (its id or a unique prefix).", autocompletion=complete_runs
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the finished run as JSON (no live view)."),
) -> None:
    """Resume an interrupted run (or retry a failed one): completed steps never run again.

    When a daemon owns the data dir, the daemon resumes it; with --mock it runs in this process.
    """
    from urllib.parse import quote

    from axocoatl.cli.common import fail
    from axocoatl.cli.execution import RunRequest, execute_run
    from axocoatl.core.errors import AxocoatlError

    try:
        run_id = resolve_run_id(ctx, run_id)
    except AxocoatlError as exc:
        fail(exc, debug=globals_of(ctx).debug)
    request = RunRequest(local=lambda rt: rt.start_resume(run_id), path=f"/api/runs/{quote(run_id, safe='')}/resume")
    execute_run(ctx, request, as_json=as_json)


@app.command("diff")
def diff_run(
    ctx: typer.Context,
    run_id: str = typer.Argument(..., help="Run id (see `axocoatl runs list`)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON: each workspace with its baseline and diff."),
) -> None:
    """What the run's agents changed in their workspaces: a git diff from the commit each run started at."""
    g = globals_of(ctx)
    config = _config(ctx)
    from pathlib import Path

    from axocoatl.store import WorkspaceRecord

    async def fetch(store: SQLiteStore) -> list[WorkspaceRecord] | UsageError:
        if await store.get_run(run_id) is None:
            from axocoatl.runtime.runtime import unknown_run

            return await unknown_run(store, run_id)
        return await store.load_workspaces(run_id)

    from axocoatl.cli.common import fail
    from axocoatl.core.errors import NotFound

    run_id = resolve_run_id(ctx, run_id)
    found = run(_with_store(g, config, fetch), debug=g.debug)
    if found is None:
        fail(NotFound(f"no run '{run_id}'", hint=_NO_RUNS_HINT), debug=g.debug)
    if isinstance(found, UsageError):
        fail(found, debug=g.debug)
    places: dict[str, WorkspaceRecord] = {}
    for record in found:
        places.setdefault(record.path, record)
    if not places:
        fail(UsageError(f"run '{run_id}' recorded no workspace", hint="it was started before runs had workspaces"))
    from axocoatl.tools.workspace import git_diff

    results = []
    for path, record in places.items():
        agents = sorted(r.agent_id for r in found if r.path == path)
        item: dict[str, object] = {"path": path, "agents": agents, "baseline": record.baseline, "diff": None}
        if record.baseline is None:
            item["note"] = "not a git repository when the run started: no baseline to diff against"
        elif not Path(path).is_dir():
            item["note"] = "the directory no longer exists"
        else:
            try:
                item["diff"] = git_diff(Path(path), record.baseline)
            except Exception as exc:  # shown, not raised: the other workspaces still print
                item["note"] = str(exc)
        results.append(item)
    if as_json:
        print_json(results)
        return
    out = console()
    for item in results:
        base = str(item["baseline"])[:12] if item["baseline"] else "no baseline"
        out.print(f"# {item['path']} ({', '.join(item['agents'])}; since {base})", markup=False)  # type: ignore[arg-type]
        if item["diff"] is not None:
            out.print(str(item["diff"]) or "(no changes)", markup=False, highlight=False, end="")
        else:
            out.print(str(item["note"]), markup=False)
