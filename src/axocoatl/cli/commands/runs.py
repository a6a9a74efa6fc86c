"""`axocoatl runs list|show|resume|diff|fork|history|answer|cancel`."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from axocoatl.cli.common import Globals, command_group, console, globals_of, load, prefix, print_json, run
from axocoatl.cli.completion import complete_runs
from axocoatl.core.errors import UsageError

if TYPE_CHECKING:
    # Imported lazily at run time: `axocoatl --help` must not pay for pydantic and the store.
    from axocoatl.config.schema import AxocoatlConfig
    from axocoatl.runtime.runtime import Runtime
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
    if not store.exists():
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
    Asked of the store (the SQLite file or the shared PostgreSQL database); creates nothing.
    """
    from axocoatl.core.errors import NotFound
    from axocoatl.core.suggest import closest
    from axocoatl.store import create_store

    g = globals_of(ctx)
    config = _config(ctx)
    if not text:
        return text
    store = create_store(config.store, g.data_dir_path())
    if not store.exists():
        from axocoatl.runtime.daemon import read_daemon_info

        if read_daemon_info(g.data_dir_path()) is not None:
            return text  # a daemon owns this data dir: it answers for its runs (or says it cannot)
        raise NotFound(f"no run '{text}': there are no runs in {store.path.parent} yet", hint=_NO_RUNS_HINT)

    async def candidates(s: SQLiteStore) -> tuple[list[str], list[str]]:
        matches = await s.run_ids_starting(text, limit=PREFIX_CANDIDATES_SHOWN + 1)
        return matches, [] if matches else await s.recent_run_ids(limit=500)

    import asyncio

    matches, recent = asyncio.run(_with_store(g, config, candidates)) or ([], [])
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


def _run_id(ctx: typer.Context, text: str) -> str:
    """``resolve_run_id``, or its error printed with its exit code."""
    from axocoatl.cli.common import fail
    from axocoatl.core.errors import AxocoatlError

    try:
        return resolve_run_id(ctx, text)
    except AxocoatlError as exc:
        fail(exc, debug=globals_of(ctx).debug)


def _read(ctx: typer.Context, run_id: str, fn: Callable[[SQLiteStore], Awaitable[T | None]]) -> T:
    """``fn`` on the store; None from it (or no database yet) is run ``run_id`` not found (exit 3)."""
    from axocoatl.cli.common import fail
    from axocoatl.core.errors import NotFound

    g = globals_of(ctx)
    found = run(_with_store(g, _config(ctx), fn), debug=g.debug)
    if found is None:
        fail(NotFound(f"no run '{run_id}'", hint=_NO_RUNS_HINT), debug=g.debug)
    return found


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
        style = {
            "completed": "green",
            "failed": "red",
            "interrupted": "yellow",
            "waiting": "magenta",
            "cancelled": "yellow",
        }.get(r.status, "cyan")
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
        ...,
        metavar="RUN_ID",
        help="Run id, or a unique prefix of one (see `axocoatl runs list`).",
        autocompletion=complete_runs,
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the run as JSON."),
) -> None:
    """Show one run: status, each step's input, output, tokens and error."""
    run_id = _run_id(ctx, run_id)
    from axocoatl.tools.journal import run_tool_calls

    async def fetch(store: SQLiteStore) -> tuple[RunRecord, list[dict[str, Any]]] | None:
        record = await store.get_run(run_id)
        return None if record is None else (record, [] if as_json else await run_tool_calls(store, run_id))

    found = _read(ctx, run_id, fetch)
    record, calls = _live(found[0]), found[1]
    if as_json:
        print_json(record.to_json())
        return
    from rich.markup import escape

    from axocoatl.cli.live import print_plan, print_run_summary

    out = console()
    head = f"[bold]{escape(record.run_id)}[/] · workflow {escape(record.workflow_id)}"
    out.print(f"{head} · input: {escape(record.input[:200])}")
    if record.parent_run_id is not None:
        kind = {"fork": "a fork of", "child": "a child run of"}.get(record.relation or "", "started by")
        where = "from" if record.relation == "fork" else "at step"
        out.print(f"{kind} {escape(record.parent_run_id)} {where} {escape(record.parent_step or '?')}")
    for step in sorted(record.steps, key=lambda s: s.position):
        tokens = f"{step.tokens_in}/{step.tokens_out} tokens"
        reused = f" · reused from {escape(step.reused_from)}" if step.reused_from else ""
        line = f"[bold]{escape(step.agent_id)}[/] — {escape(step.status)}, attempts {step.attempts}, {tokens}{reused}"
        out.print(f"\n{line}")
        for call in (c for c in calls if c["agent_id"] == step.agent_id):
            out.print(f"  {_call_line(call)}", markup=False, highlight=False)
        if step.output:
            out.print(escape(step.output[:2000]))
        if step.error:
            out.print(f"[red]{escape(step.error)}[/]")
    if record.plan is not None:
        print_plan(out, record.plan)
        steps = {s.agent_id for s in record.steps}
        for worker in dict.fromkeys(c["agent_id"] for c in calls if c["agent_id"] not in steps):
            out.print(f"\n[bold]{escape(worker)}[/] (worker) tool calls")
            for call in (c for c in calls if c["agent_id"] == worker):
                out.print(f"  {_call_line(call)}", markup=False, highlight=False)
    out.print()
    print_run_summary(out, record)


def _call_line(call: dict[str, Any]) -> str:
    """One tool call of a step: what it called, and where it stands (the approval command when it waits)."""
    import json

    arguments = json.dumps(call["arguments"], ensure_ascii=False)
    if len(arguments) > 100:
        arguments = arguments[:99] + "…"
    status = call["status"]
    if status == "awaiting_approval":
        return f"⏸ {call['name']} {arguments} — awaiting approval: {prefix()} approvals allow {call['approval_id']}"
    mark = {"done": "✗" if call["is_error"] else "✓", "started": "…", "interrupted": "?"}.get(status, "·")
    where = f"[{call['execution']}.{call['round']}.{call['index']}]"
    outcome = "error" if call["is_error"] else status
    return f"{mark} {where} {call['name']} {arguments} — {outcome}"


@app.command("resume")
def resume_run(
    ctx: typer.Context,
    run_id: str = typer.Argument(
        ...,
        metavar="RUN_ID",
        help="An interrupted or failed run (its id or a unique prefix).",
        autocompletion=complete_runs,
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the finished run as JSON (no live view)."),
) -> None:
    """Resume an interrupted run (or retry a failed one): completed steps never run again.

    When a daemon owns the data dir, the daemon resumes it; with --mock it runs in this process.
    """
    from axocoatl.cli.execution import RunRequest, execute_run, run_path

    run_id = _run_id(ctx, run_id)
    execute_run(ctx, RunRequest(lambda rt: rt.start_resume(run_id), run_path(run_id, "resume")), as_json=as_json)


@app.command("diff")
def diff_run(
    ctx: typer.Context,
    run_id: str = typer.Argument(..., metavar="RUN_ID", help="Run id (see `axocoatl runs list`)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON: each workspace with its baseline and diff."),
) -> None:
    """What the run's agents changed in their workspaces: a git diff from the commit each run started at."""
    from pathlib import Path

    from axocoatl.store import WorkspaceRecord

    async def fetch(store: SQLiteStore) -> list[WorkspaceRecord]:
        if await store.get_run(run_id) is None:
            from axocoatl.runtime.runtime import unknown_run

            raise await unknown_run(store, run_id)  # with the id it may have meant
        return await store.load_workspaces(run_id)

    from axocoatl.cli.common import fail

    run_id = _run_id(ctx, run_id)
    found = _read(ctx, run_id, fetch)
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


@app.command("fork")
def fork_run(
    ctx: typer.Context,
    run_id: str = typer.Argument(
        ..., metavar="RUN_ID", help="The run to fork (its id or a unique prefix).", autocompletion=complete_runs
    ),
    from_step: str = typer.Option(..., "--from", help="The step to run again; the steps before it are reused."),
    task: str | None = typer.Option(
        None, "-i", "--input", help="A new input for the steps that run again (default: the run's); - reads stdin."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the finished fork as JSON (no live view)."),
) -> None:
    """Fork a run at a step: a new run reuses every committed step that STEP does not feed (no LLM call)
    and runs STEP and everything downstream of it again. See `runs history` for the checkpoints."""
    from axocoatl.cli.common import input_limit, read_input
    from axocoatl.cli.execution import RunRequest, execute_run, run_path

    run_id = _run_id(ctx, run_id)
    if task is not None:
        task = read_input(task, limit=input_limit(_config(ctx)))
    body: dict[str, object] = {"from_step": from_step}
    if task is not None:
        body["input"] = task
    request = RunRequest(lambda rt: rt.start_fork(run_id, from_step, task), run_path(run_id, "fork"), body)
    execute_run(ctx, request, as_json=as_json)


@app.command("history")
def run_history(
    ctx: typer.Context,
    run_id: str = typer.Argument(
        ..., metavar="RUN_ID", help="Run id, or a unique prefix of one.", autocompletion=complete_runs
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON: each checkpoint with its output."),
) -> None:
    """The checkpoints of a run: its committed steps in commit order, with their outputs, to fork from."""
    from axocoatl.runtime.forks import checkpoints
    from axocoatl.runtime.plans import RunPlan

    g = globals_of(ctx)
    run_id = _run_id(ctx, run_id)
    found = _read(ctx, run_id, lambda store: store.get_run(run_id))
    rows = checkpoints(found, RunPlan.from_json(found.spec))
    if as_json:
        print_json({"run_id": found.run_id, "parent_run_id": found.parent_run_id, "checkpoints": rows})
        return
    from rich.markup import escape

    out = console()
    if found.parent_run_id:
        relation = escape(found.relation or "child")
        out.print(f"[dim]{relation} of {escape(found.parent_run_id)} at {escape(found.parent_step or '')}[/]")
    if not rows:
        out.print(f"run {escape(run_id)} has no committed step yet")
        return
    for row in rows:
        text = str(row["output"] if row["status"] == "completed" else row["error"] or "")
        shown = text if len(text) <= 300 else text[:300] + "…"
        reused = f" (reused from {row['reused_from']})" if row["reused_from"] else ""
        out.print(f"[bold]#{row['seq']} {escape(str(row['step']))}[/] {row['status']}{escape(reused)}")
        out.print(escape(shown))
    out.print(f"\n[dim]fork from a step: {g.cli_prefix()} runs fork {escape(run_id)} --from STEP [-i NEW_INPUT][/]")


@app.command("answer")
def answer_run(
    ctx: typer.Context,
    run_id: str = typer.Argument(
        ..., metavar="RUN_ID", help="A waiting run (its id or a unique prefix).", autocompletion=complete_runs
    ),
    step: str | None = typer.Argument(None, metavar="STEP", help="The waiting step (needed when several wait)."),
    message: str = typer.Option(..., "-m", "--message", help="The answer; - reads stdin."),
    as_json: bool = typer.Option(False, "--json", help="Print the run as JSON once it ends or waits again."),
) -> None:
    """Answer a run waiting for a human (an interrupt): it goes on from the waiting step.

    The run then runs in this process (or in the daemon that owns the data dir) until it ends or waits again."""
    from axocoatl.cli.common import input_limit, read_input
    from axocoatl.cli.execution import answer_request, execute_run

    run_id = _run_id(ctx, run_id)
    text = read_input(message, limit=input_limit(_config(ctx)), option="-m")
    execute_run(ctx, answer_request(run_id, step, text), as_json=as_json)


@app.command("cancel")
def cancel_run(
    ctx: typer.Context,
    run_id: str = typer.Argument(
        ...,
        metavar="RUN_ID",
        help="A running, waiting or interrupted run (its id or a unique prefix).",
        autocompletion=complete_runs,
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the cancelled run as JSON."),
) -> None:
    """Cancel a run: its running steps stop, committed steps stay; `runs resume` continues it later.

    Through the daemon when one owns the data dir; a run another process drives (a foreground
    `workflow run`) is asked to stop, and this waits until it did. Exit 0 once it is cancelled,
    3 for an unknown run, 2 for a run that already ended."""
    from axocoatl.cli.execution import daemon_or_local, run_from_json, run_path

    async def local(rt: Runtime) -> dict[str, Any]:
        return (await rt.cancel_run(run_id)).to_json()

    run_id = _run_id(ctx, run_id)
    # A 409 from the daemon (the run already ended) exits 2, as in-process.
    data = daemon_or_local(ctx, "POST", run_path(run_id, "cancel"), local, config=_config(ctx))
    if as_json:
        print_json(data)
        return
    from axocoatl.cli.live import print_run_summary

    print_run_summary(console(), run_from_json(data))
