"""`axocoatl agents list`."""

from __future__ import annotations

import typer

from axocoatl.cli.common import console, load, print_json

app = typer.Typer(help="Inspect agents.", no_args_is_help=True)


@app.command("list")
def list_agents(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the agents of the config."""
    config = load(ctx).config
    rows = []
    for a in config.agents:
        budget = a.token_budget
        rows.append(
            {
                "id": a.id,
                "name": a.display_name,
                "provider": a.provider,
                "model": a.model,
                "role": a.role,
                "depends_on": a.depends_on,
                "tools": a.tools,
                "token_budget": budget.model_dump() if budget else None,
            }
        )
    if as_json:
        print_json(rows)
        return
    if not rows:
        console().print("no agents configured (add them under `agents:` in the config)")
        return
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for column in ("id", "provider/model", "depends on", "tools", "budget/exec"):
        table.add_column(column)
    for a in config.agents:
        budget = a.token_budget
        table.add_row(
            a.id,
            f"{a.provider}/{a.model or 'default'}",
            ", ".join(a.depends_on),
            ", ".join(a.tools),
            f"{budget.per_execution} ({budget.overflow_policy})" if budget else "unlimited",
        )
    console().print(table)
