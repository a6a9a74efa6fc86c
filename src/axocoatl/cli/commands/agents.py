"""`axocoatl agents list|status|restart|threads` (status, restart and threads ask the running daemon)."""

from __future__ import annotations

from typing import Any

import typer

from axocoatl.cli.common import command_group, console, err_console, fail, globals_of, load, print_json
from axocoatl.cli.completion import complete_agents
from axocoatl.core.errors import NotFound

app = command_group(help="Inspect agents.")


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
                "tools": a.tool_names,
                "token_budget": budget.model_dump() if budget else None,
            }
        )
    if as_json:
        print_json(rows)
        return
    if not rows:
        console().print("no agents configured (add them under `agents:` in the config)")
        return
    from rich.markup import escape
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for column in ("id", "provider/model", "depends on", "tools", "budget/exec"):
        table.add_column(column)
    for a in config.agents:
        budget = a.token_budget
        table.add_row(
            escape(a.id),
            escape(f"{a.provider}/{a.model or 'default'}"),
            escape(", ".join(a.depends_on)),
            escape(", ".join(a.tool_names)),
            f"{budget.per_execution} ({budget.overflow_policy})" if budget else "unlimited",
        )
    console().print(table)


# ----------------------------------------------------------------------------- the running daemon


def _daemon(ctx: typer.Context) -> tuple[Any, Any]:
    from axocoatl.cli.daemon_client import DaemonClient

    g = globals_of(ctx)
    config = load(ctx).config if g.config_path.exists() else None
    return DaemonClient.discover(g.resolved_data_dir(), config), config


@app.command("status")
def status(
    ctx: typer.Context,
    agent_id: str | None = typer.Argument(
        None, metavar="AGENT", help="One agent (default: all).", autocompletion=complete_agents
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Live status of the daemon's agents: status, turns, tokens, supervision restarts and why."""
    from axocoatl.cli.daemon_client import NO_DAEMON, DaemonError

    g = globals_of(ctx)
    client, config = _daemon(ctx)
    if client is None:
        # Fall back to what the config says, so the command is still useful offline.
        if config is None:
            err_console().print(f"{NO_DAEMON}, and there is no config at {g.config_path}", markup=False)
            raise typer.Exit(1)
        ids = [a.id for a in config.agents]
        if agent_id is not None and agent_id not in ids:
            fail(NotFound(f"unknown agent '{agent_id}'", hint=f"known: {', '.join(ids) or 'none'}"), debug=g.debug)
        err_console().print(f"[yellow]{NO_DAEMON}; showing the config only[/]", markup=True)
        rows = [
            {"agent_id": a.id, "status": "offline", "provider": a.provider, "model": a.model}
            for a in config.agents
            if agent_id is None or a.id == agent_id
        ]
        if as_json:
            print_json(rows[0] if agent_id else rows)
        else:
            for row in rows:
                line = f"{row['agent_id']}  offline  {row['provider']}/{row['model'] or 'default'}"
                console().print(line, markup=False)
        return
    try:
        ids = [agent_id] if agent_id else [a["id"] for a in client.get("/api/agents")]
        statuses = [client.get(f"/api/agents/{i}/status") for i in ids]
    except DaemonError as exc:
        fail(exc, debug=g.debug)
    if as_json:
        print_json(statuses[0] if agent_id else statuses)
        return
    from rich.markup import escape
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for column in ("id", "status", "turns", "tokens", "restarts", "last error / restart reason"):
        table.add_column(column)
    for s in statuses:
        sup = s.get("supervision") or {}
        restarts = str(sup.get("restarts", 0)) + (" (gave up)" if sup.get("gave_up") else "")
        why = s.get("last_error") or sup.get("last_reason") or ""
        cells = (s["agent_id"], s["status"], str(s["turns"]), str(s["usage"]["total"]), restarts, str(why))
        table.add_row(*map(escape, cells))
    console().print(table)


@app.command("restart")
def restart(
    ctx: typer.Context,
    agent_id: str = typer.Argument(..., metavar="AGENT", help="The agent to restart.", autocompletion=complete_agents),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (the answer of POST /api/agents/{id}/restart)."),
) -> None:
    """Restart an agent's actor in the running daemon, from its committed state."""
    from axocoatl.cli.daemon_client import NO_DAEMON, DaemonError

    g = globals_of(ctx)
    client, _ = _daemon(ctx)
    if client is None:
        err_console().print(f"[bold red]Error:[/] {NO_DAEMON}", markup=True)
        raise typer.Exit(1)
    try:
        result = client.post(f"/api/agents/{agent_id}/restart")
    except DaemonError as exc:
        fail(exc, debug=g.debug)
    if as_json:
        print_json(result)
        return
    console().print(f"restarted {result['agent_id']} (now {result['status']})", markup=False)


@app.command("threads")
def threads(
    ctx: typer.Context,
    agent_id: str = typer.Argument(..., metavar="AGENT", help="Agent id.", autocompletion=complete_agents),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (the shape of GET /api/agents/{id}/threads)."),
) -> None:
    """List an agent's conversation threads: messages since their reset, last activity."""
    from axocoatl.cli.daemon_client import DaemonError

    g = globals_of(ctx)
    client, _ = _daemon(ctx)
    data: dict[str, Any]
    if client is not None:
        try:
            data = client.get(f"/api/agents/{agent_id}/threads")
        except DaemonError as exc:
            fail(exc, debug=g.debug)
    else:
        data = _threads_from_store(ctx, agent_id)
    if as_json:
        print_json(data)
        return
    if not data["threads"]:
        console().print(
            f"agent '{agent_id}' has no threads yet (`axocoatl chat -a {agent_id}` starts one)", markup=False
        )
        return
    from rich.markup import escape
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for column, justify in (("thread", "left"), ("messages", "right"), ("last active", "left")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for row in data["threads"]:
        table.add_row(escape(row["thread"]), str(row["messages"]), row["last_active"] or "")
    console().print(table)


def _threads_from_store(ctx: typer.Context, agent_id: str) -> dict[str, Any]:
    """No daemon: read the threads from the store (nothing is created when there is no database)."""
    from axocoatl.cli.commands.memory import _agent, _read
    from axocoatl.server.views import threads_json

    config, _ = _agent(ctx, agent_id)
    found = _read(globals_of(ctx), config, lambda store: store.list_threads(agent_id))
    return threads_json(agent_id, found or [])
