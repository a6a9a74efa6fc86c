"""`axocoatl workflow list|run`."""

from __future__ import annotations

from pathlib import Path

import typer

from axocoatl.cli.common import command_group, console, globals_of, input_limit, load, print_json, read_input
from axocoatl.cli.completion import complete_workflows

app = command_group(help="List and run workflows.")


@app.command("list")
def list_workflows(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the workflows of the config."""
    config = load(ctx).config
    rows = [
        {
            "id": w.id,
            "name": w.display_name,
            "agents": w.agents,
            "entry_point": w.entry_point,
            "timeout_secs": w.timeout_secs,
            "description": w.description,
        }
        for w in config.workflows
    ]
    if as_json:
        print_json(rows)
        return
    if not rows:
        console().print("no workflows configured (add one under `workflows:` in the config)")
        return
    from rich.markup import escape
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for column in ("id", "name", "agents", "entry"):
        table.add_column(column)
    for w in config.workflows:
        cells = (w.id, w.display_name, " → ".join(w.agents), w.entry_point or "(agents without deps)")
        table.add_row(*map(escape, cells))
    console().print(table)


@app.command("run")
def run_workflow(
    ctx: typer.Context,
    workflow_id: str = typer.Argument(
        ...,
        metavar="WORKFLOW_ID",
        help="Workflow id (see `axocoatl workflow list`).",
        autocompletion=complete_workflows,
    ),
    task: str = typer.Option(..., "-i", "--input", help="The task given to the entry agents; - reads stdin."),
    as_json: bool = typer.Option(False, "--json", help="Print the finished run as JSON (no live view)."),
    workspace: Path | None = typer.Option(
        None, "--workspace", "-W", help="Directory the agents work in (default: the workflow's, else a fresh one)."
    ),
) -> None:
    """Run a workflow, show its agents live, then print the final output.

    When a daemon (`axocoatl dev` / `serve`) owns the data dir, the run goes to it; with
    --mock it always runs in this process.
    """
    from urllib.parse import quote

    from axocoatl.cli.execution import RunRequest, execute_run

    loaded = load(ctx) if globals_of(ctx).config_path.exists() else None
    task = read_input(task, limit=input_limit(loaded.config if loaded else None))
    root = workspace.resolve() if workspace is not None else None
    request = RunRequest(
        local=lambda rt: rt.start_workflow(workflow_id, task, workspace=root),
        path=f"/api/workflows/{quote(workflow_id, safe='')}/execute",
        body={"input": task} if root is None else {"input": task, "workspace": str(root)},
    )
    execute_run(ctx, request, as_json=as_json)
