"""`axocoatl webhooks deliveries|redeliver`: the outbox, through the daemon when one owns the data dir."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import typer

from axocoatl.cli.common import command_group, console, load, print_json

if TYPE_CHECKING:
    from axocoatl.runtime.runtime import Runtime

app = command_group(help="Outbound webhooks: the deliveries (pending, delivered, dead letters); send one again.")


def _call(
    ctx: typer.Context,
    method: str,
    path: str,
    local: Callable[[Runtime], Awaitable[Any]],
    without_store: Callable[[], Any] | None = None,
    **params: Any,
) -> Any:
    from axocoatl.cli.execution import daemon_or_local

    config = load(ctx).config
    return daemon_or_local(ctx, method, path, local, config=config, params=params or None, without_store=without_store)


@app.command("deliveries")
def deliveries(
    ctx: typer.Context,
    failed: bool = typer.Option(False, "--failed", help="Only the dead letters (retries ran out, or refused)."),
    limit: int = typer.Option(50, "--limit", "-n", min=1, max=1000, help="Most deliveries shown (newest first)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List webhook deliveries, newest first: status, attempts, the last answer."""

    async def local(rt: Runtime) -> list[dict[str, Any]]:
        return [d.to_json() for d in await rt.webhooks.deliveries(failed=failed, limit=limit)]

    rows: list[dict[str, Any]] = _call(
        ctx, "GET", "/api/webhooks/deliveries", local, without_store=list, failed=str(failed).lower(), limit=limit
    )
    if as_json:
        print_json(rows)
        return
    if not rows:
        what = "no failed deliveries" if failed else "no deliveries yet"
        console().print(f"{what} (webhooks are configured under `webhooks:`)")
        return
    from rich.markup import escape
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for column in ("id", "webhook", "event", "status", "attempts", "last answer", "when"):
        table.add_column(column, no_wrap=column not in ("last answer",), overflow="fold")
    for row in rows:
        answer = row["last_error"] or (f"HTTP {row['last_status']}" if row["last_status"] else "-")
        when = row["next_attempt_at"] if row["status"] == "pending" else row["finished_at"]
        cells = (row["id"], row["webhook"], row["event_type"], row["status"], str(row["attempts"]), answer, when or "-")
        table.add_row(*map(escape, cells))
    console().print(table)


@app.command("redeliver")
def redeliver(
    ctx: typer.Context,
    delivery_id: str = typer.Argument(
        ..., metavar="DELIVERY_ID", help="Delivery id, or a unique prefix (see `webhooks deliveries`)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Queue a delivery again from its first attempt, to its webhook's current URL."""

    async def local(rt: Runtime) -> dict[str, Any]:
        row = (await rt.webhooks.redeliver(delivery_id)).to_json()
        rt.deliver_webhooks()  # no daemon: this process attempts it before it exits
        return row

    row = _call(ctx, "POST", f"/api/webhooks/deliveries/{quote(delivery_id, safe='')}/redeliver", local)
    if as_json:
        print_json(row)
        return
    from rich.markup import escape

    console().print(f"delivery {escape(row['id'])} queued again (webhook {escape(row['webhook'])})")
