"""`axocoatl tokens report`: token spend from the ledger in the store."""

from __future__ import annotations

from datetime import UTC, datetime

import typer

from axocoatl.cli.common import command_group, console, fail, globals_of, print_json, run
from axocoatl.core.errors import UsageError

app = command_group(help="Token spend.")


def _parse_since(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        fail(UsageError(f"--since {text!r} is not a date", hint="use YYYY-MM-DD or an ISO timestamp"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


@app.command("report")
def report(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    since: str | None = typer.Option(None, "--since", help="Only spend from this date on (YYYY-MM-DD, UTC)."),
    agent: str | None = typer.Option(None, "--agent", "-a", help="Only this agent."),
) -> None:
    """Tokens spent per agent, from the durable ledger (survives restarts)."""
    from axocoatl.cli.commands.runs import _config, _with_store

    g = globals_of(ctx)
    config = _config(ctx)
    since_ts = _parse_since(since)
    rows = run(_with_store(g, config, lambda s: s.token_report(since=since_ts, agent_id=agent)), debug=g.debug)
    data = {
        "per_agent": [
            {
                "agent_id": r.agent_id,
                "input_tokens": r.input,
                "output_tokens": r.output,
                "total_tokens": r.total,
                "calls": r.calls,
            }
            for r in rows
        ],
        "total_input": sum(r.input for r in rows),
        "total_output": sum(r.output for r in rows),
        "total": sum(r.total for r in rows),
    }
    if as_json:
        print_json(data)
        return
    if not rows:
        console().print("no token spend recorded yet")
        return
    from rich.markup import escape
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for column, justify in (
        ("agent", "left"),
        ("input", "right"),
        ("output", "right"),
        ("total", "right"),
        ("calls", "right"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for r in rows:
        table.add_row(escape(r.agent_id), str(r.input), str(r.output), str(r.total), str(r.calls))
    table.add_row("[bold]total[/]", str(data["total_input"]), str(data["total_output"]), str(data["total"]), "")
    console().print(table)
