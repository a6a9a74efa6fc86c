"""`axocoatl cluster status`: the nodes sharing this project's database, read from the database itself."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import typer

from axocoatl.cli.common import command_group, console, err_console, globals_of, load, print_json, run

if TYPE_CHECKING:
    from pathlib import Path

    from axocoatl.config.schema import AxocoatlConfig
    from axocoatl.runtime.nodes import ClusterStatus, NatsStatus

app = command_group(help="The nodes that share this project's database: their state, heartbeats and claims.")


@app.command("status")
def status(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Each node (live, stale or draining) with its heartbeat age, version and the runs it holds; with
    cluster.nats, the NATS servers and the work stream (depth, replicas and their health, items per kind).

    Reads the shared database (store.backend, store.dsn) and NATS directly, so it works from any machine
    with the project's config, and with no node running. Exit 1 when the database or NATS cannot be read."""
    from axocoatl.config.schema import AxocoatlConfig

    g = globals_of(ctx)
    config = load(ctx).config if g.config_path.exists() else AxocoatlConfig()
    found = run(_read(config, g.resolved_data_dir()), debug=g.debug)
    if as_json:
        print_json(found.to_json())
    else:
        _render(found)
    if found.nats is not None and found.nats.error is not None:
        raise typer.Exit(1)  # the nodes are shown; NATS, which carries their work, is not well


async def _read(config: AxocoatlConfig, data_dir: Path) -> ClusterStatus:
    import dataclasses

    from axocoatl.runtime.nodes import ClusterStatus, cluster_status, nats_status
    from axocoatl.store import create_store

    store = create_store(config.store, data_dir)
    where = str(getattr(store, "dsn", None) or store.path)
    nats = await nats_status(config.cluster) if config.cluster.nats else None
    if not store.exists():  # read-only: no database yet means no node ever ran here
        return ClusterStatus(store=where, nodes=[], nats=nats)
    await store.open()
    try:
        found = await cluster_status(store, where, time.time())
    finally:
        await store.close()
    return dataclasses.replace(found, nats=nats)


def _render(found: ClusterStatus) -> None:
    from rich.markup import escape
    from rich.table import Table

    out = console()
    out.print(f"store: {escape(found.store)}")
    if not found.nodes:
        out.print("no nodes: no daemon is running on this database (start one with `axocoatl serve`)")
    else:
        live = sum(1 for n in found.nodes if n.health == "live")
        out.print(f"nodes: {len(found.nodes)} ({live} live)")
        table = Table(box=None, header_style="bold")
        for column in ("node", "state", "heartbeat", "version", "host", "pid", "runs", "steps", "url"):
            table.add_column(column, no_wrap=True)
        style = {"live": "green", "stale": "red", "draining": "yellow"}
        for n in found.nodes:
            table.add_row(
                escape(n.node.node_id),
                f"[{style[n.health]}]{n.health}[/]",
                f"{n.heartbeat_age:.0f}s ago",
                escape(n.node.version),
                escape(n.node.host),
                str(n.node.pid),
                str(n.runs),
                str(n.steps),
                escape(n.node.url or "-"),
            )
        out.print(table)
        if any(n.health == "stale" for n in found.nodes):
            out.print("[dim]a stale node stopped beating: the live nodes adopt the runs it holds[/]")
    for owner, count in sorted(found.other_owners.items()):
        out.print(f"runs held by {escape(owner)} (not a node: a CLI process, or a node that left): {count}")
    if found.nats is not None:
        _render_nats(found.nats)


def _render_nats(nats: NatsStatus) -> None:
    from rich.markup import escape

    out = console()
    where = f"connected to {nats.url}" if nats.url else "not connected"
    out.print(f"nats: {escape(where)} (servers: {escape(', '.join(nats.servers))})")
    queue = nats.queue
    if queue is not None:
        peers = ", ".join(
            f"{p.name} {'offline' if p.offline else 'current' if p.current else f'behind by {p.lag}'}"
            for p in queue.peers
        )
        health = f"leader {queue.leader or 'none'}" + (f"; replicas {peers}" if peers else "")
        out.print(f"work stream {escape(queue.stream)}: {queue.depth} item(s), R{queue.replicas}, {escape(health)}")
        kinds = "; ".join(
            f"{kind}: {queue.pending.get(kind, 0)} waiting, {queue.claimed.get(kind, 0)} claimed"
            for kind in sorted(set(queue.pending) | set(queue.claimed))
        )
        if kinds:
            out.print(f"  {escape(kinds)}")
    if nats.error is not None:
        err_console().print(f"[bold red]Error:[/] {escape(nats.error)}", markup=True)
        if nats.hint:
            err_console().print(f"  [dim]hint:[/] {escape(nats.hint)}", markup=True)
