"""`axocoatl tokens report`: token spend from the ledger in the store."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

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
    as_json: bool = typer.Option(False, "--json", help="Print JSON (the shape of GET /api/tokens/report)."),
    since: str | None = typer.Option(None, "--since", help="Only spend from this date on (YYYY-MM-DD, UTC)."),
    agent: str | None = typer.Option(None, "--agent", "-a", help="Only this agent."),
) -> None:
    """Tokens spent per agent, from the durable ledger (survives restarts); asks the daemon when one runs."""
    from axocoatl.cli.commands.runs import _config, _with_store
    from axocoatl.cli.daemon_client import DaemonClient, DaemonError

    g = globals_of(ctx)
    config = _config(ctx)
    since_ts = _parse_since(since)
    daemon = DaemonClient.discover(g.resolved_data_dir(), config if g.config_path.exists() else None)
    data: dict[str, Any]
    if daemon is not None:
        try:
            data = daemon.get("/api/tokens/report", since=since_ts, agent=agent)
        except DaemonError as exc:
            fail(exc, debug=g.debug)
    else:
        from axocoatl.tokens.report import token_report_json

        rows = run(_with_store(g, config, lambda s: s.token_report(since=since_ts, agent_id=agent)), debug=g.debug)
        data = token_report_json(rows or [], since=since_ts, agent=agent)
    if as_json:
        print_json(data)
        return
    if not data["agents"]:
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
    for row in data["agents"]:
        table.add_row(escape(str(row["agent_id"])), *(str(row[key]) for key in ("input", "output", "total", "calls")))
    totals = data["totals"]
    table.add_row("[bold]total[/]", *(str(totals[key]) for key in ("input", "output", "total", "calls")))
    console().print(table)
