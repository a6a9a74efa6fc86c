"""`axocoatl skills list|fire`."""

from __future__ import annotations

import typer

from axocoatl.cli.common import command_group, console, globals_of, input_limit, load, print_json, read_input
from axocoatl.cli.completion import complete_skills

app = command_group(help="List and fire skills (events that activate the agents reacting to them).")


@app.command("list")
def list_skills(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the skills of the config."""
    config = load(ctx).config
    rows = [s.model_dump() for s in config.skills]
    if as_json:
        print_json(rows)
        return
    if not rows:
        console().print("no skills configured (add them under `skills:` in the config)")
        return
    from rich.markup import escape
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for column in ("id", "held by", "emits", "reacts to"):
        table.add_column(column)
    for s in config.skills:
        table.add_row(*map(escape, (s.id, ", ".join(s.agents), ", ".join(s.emits), ", ".join(s.reacts_to))))
    console().print(table)


@app.command("fire")
def fire_skill(
    ctx: typer.Context,
    skill_id: str = typer.Argument(
        ..., metavar="SKILL_ID", help="Skill id (see `axocoatl skills list`).", autocompletion=complete_skills
    ),
    task: str = typer.Option("", "-i", "--input", help="Text given to the agents that react; - reads stdin."),
    as_json: bool = typer.Option(False, "--json", help="Print the finished run as JSON (no live view)."),
) -> None:
    """Publish a skill's events and run every agent that reacts to them, through the lattice.

    When a daemon owns the data dir, the daemon runs it; with --mock it runs in this process.
    """
    from urllib.parse import quote

    from axocoatl.cli.execution import RunRequest, execute_run

    loaded = load(ctx) if globals_of(ctx).config_path.exists() else None
    task = read_input(task, limit=input_limit(loaded.config if loaded else None))
    request = RunRequest(
        local=lambda rt: rt.fire_skill(skill_id, task),
        path=f"/api/skills/{quote(skill_id, safe='')}/fire",
        body={"input": task},
    )
    execute_run(ctx, request, as_json=as_json)
