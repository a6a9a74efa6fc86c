"""`axocoatl approvals list|allow|deny`: tool calls waiting for a decision (through the daemon when one runs)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import typer

from axocoatl.cli.common import command_group, console, fail, globals_of, load, print_json, run
from axocoatl.core.errors import AxocoatlError

if TYPE_CHECKING:
    from axocoatl.tools.approval import ApprovalGate

app = command_group(help="Tool calls waiting for approval: list them, allow or deny one.")

SCOPES_HELP = (
    "Also decide later identical calls: once (only this call), agent_tool (this agent, this tool), "
    "agent_source (this agent, every tool of its source), source (every agent, every tool of the source)."
)


def _call(
    ctx: typer.Context,
    method: str,
    path: str,
    local: Callable[[ApprovalGate], Awaitable[Any]],
    body: dict[str, Any] | None = None,
) -> Any:
    """The daemon's answer when a daemon owns the data dir, else ``local`` on the project's database."""
    from axocoatl.cli.daemon_client import DaemonClient
    from axocoatl.config.schema import AxocoatlConfig

    g = globals_of(ctx)
    config = load(ctx).config if g.config_path.exists() else AxocoatlConfig()
    data_dir = g.resolved_data_dir()
    daemon = DaemonClient.discover(data_dir, config)
    try:
        if daemon is not None:
            return daemon.request(method, path, json_body=body)

        async def in_process() -> Any:
            from axocoatl.core.ids import SystemClock
            from axocoatl.store import create_store
            from axocoatl.tools.approval import ApprovalGate

            store = create_store(config.store, data_dir)
            if not store.exists():
                return None
            await store.open()
            try:
                return await local(ApprovalGate(store, SystemClock(), lambda: config.approval))
            finally:
                await store.close()

        return run(in_process(), debug=g.debug)
    except AxocoatlError as exc:
        fail(exc, debug=g.debug)


@app.command("list")
def list_approvals(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    show_all: bool = typer.Option(False, "--all", "-a", help="Decided requests too (newest first)."),
) -> None:
    """List the calls waiting for approval (with --all, the decided ones too)."""
    status = None if show_all else "pending"

    async def local(gate: ApprovalGate) -> list[dict[str, Any]]:
        return [r.to_json() for r in await gate.list(status=status)]

    path = "/api/approvals" if show_all else "/api/approvals?status=pending"
    rows: list[dict[str, Any]] = _call(ctx, "GET", path, local) or []
    if as_json:
        print_json(rows)
        return
    if not rows:
        console().print("no call is waiting for approval" if not show_all else "no approval requests yet")
        return
    from rich.markup import escape
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    table.add_column("id", no_wrap=True)
    for column in ("status", "agent", "tool", "arguments", "run", "expires"):
        table.add_column(column, overflow="fold")
    for row in rows:
        status_text = row["status"] if row["status"] == "pending" else f"{row['status']} ({row['decided_by']})"
        arguments = _short(row["arguments"])
        table.add_row(
            *map(
                escape,
                (
                    row["approval_id"],
                    status_text,
                    row["agent_id"],
                    f"{row['tool']} ({row['source']})",
                    arguments,
                    row["run_id"] or row["thread"] or "",
                    row["expires_at"] if row["status"] == "pending" else "",
                ),
            )
        )
    console().print(table)
    if any(row["status"] == "pending" for row in rows):
        console().print("answer with: axocoatl approvals allow ID  |  axocoatl approvals deny ID --reason TEXT")


def _short(arguments: Any, limit: int = 120) -> str:
    import json

    text = json.dumps(arguments, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _decide(ctx: typer.Context, approval_id: str, allow: bool, scope: str, reason: str | None, as_json: bool) -> None:
    from axocoatl.core.errors import UsageError
    from axocoatl.store import APPROVAL_SCOPES

    if scope not in APPROVAL_SCOPES:
        fail(UsageError(f"unknown scope '{scope}'", hint=f"use one of: {', '.join(APPROVAL_SCOPES)}"))

    async def local(gate: ApprovalGate) -> dict[str, Any]:
        return (await gate.decide(approval_id, allow=allow, scope=scope, reason=reason)).to_json()

    body = {"decision": "allow" if allow else "deny", "scope": scope, "reason": reason}
    row = _call(ctx, "POST", f"/api/approvals/{quote(approval_id, safe='')}", local, body)
    if row is None:
        from axocoatl.core.errors import NotFound

        fail(NotFound(f"no approval request '{approval_id}'", hint="list them with `axocoatl approvals list`"))
    if as_json:
        print_json(row)
        return
    from rich.markup import escape

    saved = "" if scope == "once" else f"; saved for later calls ({scope})"
    console().print(f"{escape(row['approval_id'])}: {escape(row['tool'])} {escape(row['status'])}{escape(saved)}")


@app.command("allow")
def allow(
    ctx: typer.Context,
    approval_id: str = typer.Argument(
        ..., metavar="APPROVAL_ID", help="The request's id (see `axocoatl approvals list`)."
    ),
    scope: str = typer.Option("once", "--scope", "-s", help=SCOPES_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the decided request as JSON."),
) -> None:
    """Allow a waiting call: it runs, and the agent goes on."""
    _decide(ctx, approval_id, True, scope, None, as_json)


@app.command("deny")
def deny(
    ctx: typer.Context,
    approval_id: str = typer.Argument(
        ..., metavar="APPROVAL_ID", help="The request's id (see `axocoatl approvals list`)."
    ),
    reason: str | None = typer.Option(None, "--reason", "-r", help="Why; the model sees it."),
    scope: str = typer.Option("once", "--scope", "-s", help=SCOPES_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the decided request as JSON."),
) -> None:
    """Deny a waiting call: the model gets a tool error with the reason."""
    _decide(ctx, approval_id, False, scope, reason, as_json)
