"""`axocoatl memory blocks|search|log|consolidate`.

blocks, search and log read an agent's memory from the store without starting agents;
consolidate runs a consolidation pass now, in the daemon when one owns the data dir.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from axocoatl.cli.common import (
    Globals,
    check_text,
    command_group,
    console,
    fail,
    globals_of,
    input_limit,
    load,
    print_json,
    run,
)
from axocoatl.cli.completion import complete_agents
from axocoatl.core.errors import NotFound, UsageError

if TYPE_CHECKING:
    from axocoatl.config.schema import AgentConfig, AxocoatlConfig
    from axocoatl.store import SQLiteStore

app = command_group(help="Agents' memory: core blocks, semantic search, daily log, consolidation.")

T = TypeVar("T")


def _agent(ctx: typer.Context, agent_id: str) -> tuple[AxocoatlConfig, AgentConfig]:
    config = load(ctx).config
    agent = config.agent(agent_id)
    if agent is None:
        from axocoatl.core.suggest import did_you_mean

        known = [a.id for a in config.agents]
        hint = did_you_mean(
            agent_id, known, noun="agent", known=True, none="no agents are configured (add them under `agents:`)"
        )
        fail(NotFound(f"unknown agent '{agent_id}'", hint=hint), debug=globals_of(ctx).debug)
    return config, agent


def _read(g: Globals, config: AxocoatlConfig, fn: Callable[[SQLiteStore], Awaitable[T]]) -> T | None:
    """Run ``fn`` against the store; None when there is no database yet (nothing is created)."""
    from axocoatl.store import create_store

    store = create_store(config.store, g.resolved_data_dir())
    if not store.exists():
        return None

    async def go() -> T:
        await store.open()
        try:
            return await fn(store)
        finally:
            await store.close()

    return run(go(), debug=g.debug)


@app.command("blocks")
def blocks(
    ctx: typer.Context,
    agent_id: str = typer.Argument(..., metavar="AGENT", help="Agent id.", autocompletion=complete_agents),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show an agent's core-memory blocks (local, then shared) as the agent sees them."""
    from axocoatl.store import SHARED_SCOPE

    g = globals_of(ctx)
    config, agent = _agent(ctx, agent_id)
    specs = agent.memory.core.blocks
    rows = _read(g, config, lambda s: s.load_core_blocks([agent_id, SHARED_SCOPE])) or []
    stored = {(r.scope, r.label): r for r in rows}
    data: list[dict[str, Any]] = []
    for spec in sorted(specs, key=lambda s: s.shared):
        record = stored.get((SHARED_SCOPE if spec.shared else agent_id, spec.label))
        value = record.value if record is not None else spec.value
        data.append(
            {
                "label": spec.label,
                "value": value,
                "chars": len(value),
                "limit": spec.limit,
                "shared": spec.shared,
                "description": spec.description,
                "updated_at": _iso(record.updated_at) if record is not None else None,
            }
        )
    if as_json:
        print_json(data)
        return
    if not data:
        console().print(f"agent '{agent_id}' has no core-memory blocks (memory.core.blocks is empty)", markup=False)
        return
    from rich.markup import escape

    out = console()
    for block in data:
        limit = f"{block['chars']}/{block['limit']} chars" if block["limit"] else f"{block['chars']} chars"
        shared = " · shared" if block["shared"] else ""
        out.print(f"[bold]{escape(block['label'])}[/] ({limit}{shared})")
        empty = f"[dim](empty — {escape(block['description'] or '')})[/]"
        out.print(escape(block["value"]) if block["value"] else empty)
        out.print()


@app.command("search")
def search(
    ctx: typer.Context,
    agent_id: str = typer.Argument(..., metavar="AGENT", help="Agent id.", autocompletion=complete_agents),
    query: str = typer.Argument(..., metavar="QUERY", help="What to look for."),
    k: int = typer.Option(5, "-k", min=1, max=100, help="How many results."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Search an agent's semantic memory by meaning (the same search recall_search does)."""
    g = globals_of(ctx)
    config, _ = _agent(ctx, agent_id)
    query = check_text(query, what="QUERY", limit=input_limit(config))

    async def find(store: SQLiteStore) -> list[dict[str, Any]]:
        from axocoatl.core.ids import SystemClock
        from axocoatl.memory.embedding import default_embedder
        from axocoatl.memory.semantic import SemanticMemory

        # persist=False: a read-only command never writes re-embedded vectors back.
        memory = SemanticMemory(agent_id, store, default_embedder(), SystemClock(), persist=False)
        found = await memory.search(query, k)
        return [{"text": r.text, "score": round(r.score, 4), "timestamp": _iso(r.ts)} for r in found]

    results = _read(g, config, find) or []
    if as_json:
        print_json({"agent_id": agent_id, "query": query, "count": len(results), "results": results})
        return
    if not results:
        console().print(f"no memories found for agent '{agent_id}'", markup=False)
        return
    from rich.markup import escape

    for item in results:
        console().print(f"[bold]{item['score']:.3f}[/]  [dim]{item['timestamp']}[/]\n{escape(item['text'])}\n")


@app.command("log")
def daily_log(
    ctx: typer.Context,
    agent_id: str = typer.Argument(..., metavar="AGENT", help="Agent id.", autocompletion=complete_agents),
    day: str | None = typer.Option(None, "--date", help="Day to show, YYYY-MM-DD (local time) [default: today]."),
    limit: int = typer.Option(200, "--limit", "-n", min=1, help="Most recent entries to show."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show an agent's daily activity log: conversations, tool calls, compaction archives."""
    g = globals_of(ctx)
    config, _ = _agent(ctx, agent_id)
    if day is None:
        day = date.today().isoformat()
    try:
        day = date.fromisoformat(day).isoformat()
    except ValueError:
        fail(UsageError(f"--date {day!r} is not a date", hint="use YYYY-MM-DD, e.g. --date 2026-11-25"))
    found = _read(g, config, lambda s: s.read_log(agent_id, first_day=day, last_day=day, limit=limit))
    entries, total = found if found is not None else ([], 0)
    if as_json:
        print_json(
            {
                "agent_id": agent_id,
                "date": day,
                "count": len(entries),
                "total": total,
                "entries": [e.to_json() for e in entries],
            }
        )
        return
    if not entries:
        console().print(f"no activity logged for agent '{agent_id}' on {day}", markup=False)
        return
    from rich.markup import escape

    from axocoatl.memory.daily_log import preview

    out = console()
    if total > len(entries):
        out.print(f"[dim]showing the last {len(entries)} of {total} entries (use --limit)[/]")
    for entry in entries:
        out.print(f"[bold]{_iso(entry.ts)}[/] [cyan]{escape(entry.entry_type)}[/]")
        out.print(escape(preview(entry, 2000)))
        out.print()


@app.command("consolidate")
def consolidate(
    ctx: typer.Context,
    agent_id: str | None = typer.Option(None, "--agent", "-a", metavar="AGENT", help="Only this agent."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (the shape of POST /api/memory/consolidate)."),
) -> None:
    """Run one consolidation pass now (ignoring interval and idle threshold); in the daemon when one runs.

    Exit 0 when every pass ran or had nothing to do, 1 when one failed (the others still ran).
    """
    from axocoatl.cli.daemon_client import DaemonClient, DaemonError

    g = globals_of(ctx)
    config = load(ctx).config if agent_id is None else _agent(ctx, agent_id)[0]
    daemon = DaemonClient.discover(g.resolved_data_dir(), config)
    data: dict[str, Any]
    if daemon is not None:
        try:
            data = daemon.request("POST", "/api/memory/consolidate", params={"agent": agent_id} if agent_id else None)
        except DaemonError as exc:
            fail(exc, debug=g.debug)
    else:
        data = run(_consolidate_here(config, g.resolved_data_dir(), agent_id), debug=g.debug)
    if as_json:
        print_json(data)
    else:
        _print_consolidation(data)
    raise typer.Exit(1 if data["failed"] else 0)


async def _consolidate_here(config: AxocoatlConfig, data_dir: Path, agent_id: str | None) -> dict[str, Any]:
    from axocoatl.runtime.runtime import Runtime
    from axocoatl.server.views import consolidation_json

    async with Runtime(config, data_dir=data_dir) as runtime:
        results = await runtime.consolidation.run_now(None if agent_id is None else [agent_id])
    return consolidation_json(results)


def _print_consolidation(data: dict[str, Any]) -> None:
    from rich.markup import escape

    out = console()
    if not data["agents"]:
        out.print("no agents configured")
    for entry in data["agents"]:
        status = entry["status"]
        if status == "done":
            tokens = entry["usage"]["total"]
            line = (
                f"[bold]{entry['agent_id']}[/]: promoted {entry['promoted']}, rewritten {entry['rewritten']}, "
                f"rejected {len(entry['rejected'])} ({tokens} tokens)"
            )
        else:
            color = "red" if status == "failed" else "dim"
            line = f"[bold]{entry['agent_id']}[/]: [{color}]{status}[/] — {escape(entry['reason'])}"
        out.print(line)
        for why in entry["rejected"]:
            out.print(f"  [dim]rejected: {escape(why)}[/]")


def _iso(ts: float) -> str | None:
    from axocoatl.core.ids import iso

    return iso(ts)
