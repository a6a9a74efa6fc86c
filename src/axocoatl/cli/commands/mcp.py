"""`axocoatl mcp servers|tools|call|add|remove|restart`: the MCP servers agents use.

servers/tools ask the daemon when one owns the data dir (it holds the live connections), else connect
here; call always connects here (a debugging aid that runs no agent); add/remove edit axocoatl.yaml.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import typer

from axocoatl.cli.common import command_group, console, fail, globals_of, load, print_json, run
from axocoatl.core.errors import AxocoatlError, NotFound, ToolError, UsageError

if TYPE_CHECKING:
    from axocoatl.config.schema import MCPServerConfig
    from axocoatl.protocols.mcp.clients import MCPClients

app = command_group(help="MCP servers: their status and tools; call one tool; add or remove a server.")


def _clients(ctx: typer.Context, servers: list[MCPServerConfig] | None = None) -> MCPClients:
    from axocoatl.protocols.mcp.clients import MCPClients

    g = globals_of(ctx)
    configs = load(ctx).config.mcp_servers if servers is None else servers
    return MCPClients(configs, log_dir=g.resolved_data_dir() / "mcp")


def _ask(ctx: typer.Context, path: str, local: Callable[[MCPClients], Awaitable[Any]], **params: Any) -> Any:
    """The daemon's answer to GET ``path`` when one owns the data dir, else ``local`` on servers started here."""
    from axocoatl.cli.daemon_client import DaemonClient

    g = globals_of(ctx)
    loaded = load(ctx)
    daemon = DaemonClient.discover(g.resolved_data_dir(), loaded.config)
    try:
        if daemon is not None:
            return daemon.get(path, **params)

        async def here() -> Any:
            clients = _clients(ctx)
            try:
                await clients.start()
                return await local(clients)
            finally:
                await clients.aclose()

        return run(here(), debug=g.debug)
    except AxocoatlError as exc:
        fail(exc, debug=g.debug)


def _known(ctx: typer.Context, name: str) -> MCPServerConfig:
    from axocoatl.core.suggest import did_you_mean

    servers = load(ctx).config.mcp_servers
    found = next((s for s in servers if s.name == name), None)
    if found is None:
        names = [s.name for s in servers]
        hint = did_you_mean(name, names, noun="MCP server", known=True, none="add one with `axocoatl mcp add`")
        fail(NotFound(f"unknown MCP server '{name}'", hint=hint), debug=globals_of(ctx).debug)
    return found


@app.command("servers")
def servers(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the MCP servers: transport, status, tool count, last error."""

    async def states(clients: MCPClients) -> list[dict[str, Any]]:
        return [s.to_json() for s in clients.states()]

    rows: list[dict[str, Any]] = _ask(ctx, "/api/mcp/servers", states)
    if as_json:
        print_json(rows)
        return
    if not rows:
        console().print("no MCP servers configured (add one with `axocoatl mcp add NAME -- COMMAND ARGS...`)")
        return
    from rich.markup import escape
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for column in ("name", "transport", "status", "tools", "last error"):
        table.add_column(column, overflow="fold", no_wrap=column != "last error")
    for row in rows:
        table.add_row(
            *map(
                escape,
                (row["name"], row["transport"], row["status"], str(row["tool_count"]), row["last_error"] or ""),
            )
        )
    console().print(table)


@app.command("tools")
def tools(
    ctx: typer.Context,
    server: str | None = typer.Option(None, "--server", "-s", help="Only this server's tools."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (with each tool's input schema)."),
) -> None:
    """List the tools the MCP servers offer, by the name agents call them (mcp__SERVER__TOOL)."""
    if server is not None:
        _known(ctx, server)

    async def listing(clients: MCPClients) -> list[dict[str, Any]]:
        return [t for s in clients.states() if server in (None, s.name) for t in s.tools_json()]

    rows: list[dict[str, Any]] = _ask(ctx, "/api/mcp/tools", listing, server=server)
    if as_json:
        print_json(rows)
        return
    if not rows:
        console().print("no MCP tools (see `axocoatl mcp servers` for each server's status)")
        return
    from rich.markup import escape
    from rich.table import Table

    table = Table(box=None, header_style="bold")
    for column in ("name", "effect", "description"):
        table.add_column(column, overflow="fold", no_wrap=column == "name")
    for row in rows:
        description = (row["description"] or "").strip().splitlines()
        table.add_row(escape(row["name"]), row["effect"], escape(description[0] if description else ""))
    console().print(table)


def _argument(pair: str) -> tuple[str, Any]:
    key, sep, value = pair.partition("=")
    if not sep or not key:
        raise UsageError(f"argument {pair!r} is not KEY=VALUE", hint="for example: a=1 text=hello 'list=[1, 2]'")
    try:
        return key, json.loads(value)  # numbers, booleans, lists, objects
    except ValueError:
        return key, value


@app.command("call")
def call(
    ctx: typer.Context,
    server: str = typer.Argument(..., metavar="SERVER", help="The MCP server (see `axocoatl mcp servers`)."),
    tool: str = typer.Argument(
        ..., metavar="TOOL", help="The tool's name on that server (see `axocoatl mcp tools -s SERVER`)."
    ),
    arguments: list[str] = typer.Argument(
        None, metavar="ARGUMENTS", help="KEY=VALUE arguments; a VALUE that is JSON is parsed."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON: {result} or {error}."),
) -> None:
    """Call one tool of one server with the given arguments, and print its result (for debugging)."""
    g = globals_of(ctx)
    config = _known(ctx, server)
    try:
        parsed = dict(_argument(a) for a in arguments or [])
    except UsageError as exc:
        fail(exc, debug=g.debug)

    async def once() -> Any:
        from axocoatl.tools.mcp import render_result

        clients = _clients(ctx, [config])
        try:
            await clients.start()
            connection = clients.connections[server]
            state = connection.state
            if state.status != "connected":
                raise UsageError(f"MCP server '{server}' is not connected ({state.status}): {state.last_error}")
            if tool not in {t.name for t in state.tools}:
                from axocoatl.core.suggest import did_you_mean

                hint = did_you_mean(tool, [t.name for t in state.tools], noun="tool", known=True)
                raise NotFound(f"MCP server '{server}' has no tool '{tool}'", hint=hint)
            result = await connection.call_tool(tool, parsed)
            try:
                return render_result(result, server, tool)
            except ToolError as exc:  # the tool ran and failed: its error is the output
                return exc
        finally:
            await clients.aclose()

    result = run(once(), debug=g.debug)
    if isinstance(result, ToolError):
        if as_json:
            print_json({"error": str(result)})
            raise typer.Exit(1)
        fail(result, debug=g.debug)
    if as_json:
        print_json({"result": result})
    elif isinstance(result, str):
        typer.echo(result)
    else:
        typer.echo(json.dumps(result, indent=2, ensure_ascii=False))


def _pairs(values: list[str] | None, option: str, sep: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for value in values or []:
        key, ok, rest = value.partition(sep)
        if not ok or not key.strip():
            raise UsageError(f"{option} {value!r} is not KEY{sep}VALUE", hint=f"for example: {option} 'KEY{sep}value'")
        found[key.strip()] = rest.strip() if sep == ":" else rest
    return found


@app.command("add")
def add(
    ctx: typer.Context,
    name: str = typer.Argument(..., metavar="NAME", help="The server's name (its tools become mcp__NAME__TOOL)."),
    command: list[str] = typer.Argument(
        None, metavar="COMMAND", help="After --: the command that starts a stdio server, and its args."
    ),
    url: str | None = typer.Option(None, "--url", help="A streamable HTTP server's endpoint instead of a command."),
    transport: str | None = typer.Option(None, "--transport", help="streamable_http (default for --url) or sse."),
    env: list[str] = typer.Option(None, "--env", "-e", help="KEY=VALUE for a stdio server's environment."),
    header: list[str] = typer.Option(None, "--header", "-H", help="'Name: value' sent to an HTTP server."),
    bearer_env: str | None = typer.Option(None, "--bearer-env", help="Env variable holding an HTTP bearer token."),
) -> None:
    """Add an MCP server to axocoatl.yaml (comments and order kept):

    axocoatl mcp add fs -- npx -y @modelcontextprotocol/server-filesystem .
    axocoatl mcp add remote --url https://example.com/mcp --bearer-env REMOTE_TOKEN
    """
    g = globals_of(ctx)
    try:
        entry: dict[str, Any] = {"name": name}
        if url is not None:
            if command:
                raise UsageError("give either --url or a command after --, not both")
            entry["transport"] = transport or "streamable_http"
            entry["url"] = url
            if header:
                entry["headers"] = _pairs(header, "--header", ":")
            if bearer_env:
                entry["bearer_token_env"] = bearer_env
        else:
            if not command:
                raise UsageError(
                    "give the command that starts the server after --, or --url for an HTTP server",
                    hint="for example: axocoatl mcp add fs -- npx -y @modelcontextprotocol/server-filesystem .",
                )
            if transport not in (None, "stdio"):
                raise UsageError(f"--transport {transport} needs --url")
            entry["command"] = command[0]
            if command[1:]:
                entry["args"] = list(command[1:])
            if env:
                entry["env"] = _pairs(env, "--env", "=")
        _edit(g.config_path, lambda text: _add(text, entry))
    except AxocoatlError as exc:
        fail(exc, debug=g.debug)
    console().print(f"added MCP server {name} to {g.config_path}; check it with `axocoatl mcp servers`")


def _add(text: str, entry: dict[str, Any]) -> str:
    from pydantic import ValidationError

    from axocoatl.config.edit import add_mcp_server
    from axocoatl.config.schema import MCPServerConfig

    try:
        MCPServerConfig.model_validate(entry)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or f"MCP server '{entry.get('name')}'"
        # A validator's own message, without pydantic's "Value error, " in front of it.
        message = first.get("ctx", {}).get("error", first["msg"]) if first["type"] == "value_error" else first["msg"]
        raise UsageError(f"{where}: {message}", hint="see `axocoatl mcp add --help`") from None
    return add_mcp_server(text, entry)


@app.command("remove")
def remove(ctx: typer.Context, name: str = typer.Argument(..., metavar="NAME", help="The server's name.")) -> None:
    """Remove an MCP server from axocoatl.yaml (with the comment lines right above it)."""
    from axocoatl.config.edit import remove_mcp_server

    g = globals_of(ctx)
    try:
        _edit(g.config_path, lambda text: remove_mcp_server(text, name))
    except AxocoatlError as exc:
        fail(exc, debug=g.debug)
    console().print(f"removed MCP server {name} from {g.config_path}")


def _edit(path: Path, change: Callable[[str], str]) -> None:
    """Apply ``change`` to the config file's text, and write it only if the result still loads."""
    import os

    from axocoatl.config.loader import parse_config_text

    try:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    edited = change(text)
    parse_config_text(edited, file=str(path))  # raises ConfigError: nothing is written
    temporary = path.with_name(f".{path.name}.mcp-edit")
    temporary.write_text(edited, encoding="utf-8")
    os.replace(temporary, path)


@app.command("restart")
def restart(
    ctx: typer.Context,
    name: str = typer.Argument(..., metavar="NAME", help="The server's name."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Restart an MCP server in the running daemon (a failed one: try again now)."""
    from axocoatl.cli.daemon_client import DaemonClient

    g = globals_of(ctx)
    _known(ctx, name)
    daemon = DaemonClient.discover(g.resolved_data_dir(), load(ctx).config)
    if daemon is None:
        fail(
            UsageError("no daemon is running for this project", hint="servers start with `axocoatl dev` / `serve`"),
            debug=g.debug,
        )
    try:
        row = daemon.post(f"/api/mcp/servers/{quote(name, safe='')}/restart")
    except AxocoatlError as exc:
        fail(exc, debug=g.debug)
    if as_json:
        print_json(row)
        return
    from rich.markup import escape

    error = f": {row['last_error']}" if row["last_error"] else ""
    console().print(f"MCP server {escape(name)} restarted: {escape(row['status'] + error)}")


@app.command("serve")
def serve(
    ctx: typer.Context,
    http: str | None = typer.Option(
        None, "--http", metavar="HOST:PORT", help="Serve streamable HTTP at http://HOST:PORT/mcp (loopback only)."
    ),
    conformance: bool = typer.Option(
        False,
        "--conformance",
        help="Serve the fixture tools, resources and prompts the official MCP conformance suite calls (a test aid).",
    ),
) -> None:
    """Serve this project's agents (tools agent_ID) and workflows (workflow_ID) to an MCP client over stdio.

    For Claude Desktop, an IDE or the MCP Inspector: the client starts this command (see docs/mcp.md).
    Logs go to stderr; stdout carries only the protocol. The daemon serves the same at /mcp, with its auth.
    """
    g = globals_of(ctx)
    address = _loopback_address(http, debug=g.debug) if http is not None else None
    loaded = None if conformance else load(ctx)

    async def main() -> None:
        from mcp.server.mcpserver import MCPServer

        async def serve_with(server: MCPServer) -> None:
            if address is None:
                await server.run_stdio_async()
            else:
                await server.run_streamable_http_async(host=address[0], port=address[1])

        if loaded is None:
            from axocoatl.server.mcp_conformance import build_conformance_server

            await serve_with(build_conformance_server())
            return
        from axocoatl.runtime.runtime import Runtime
        from axocoatl.server.mcp_server import AxocoatlMCPServer

        async with Runtime(loaded.config, data_dir=g.resolved_data_dir()) as rt:
            await serve_with(AxocoatlMCPServer(rt))

    run(main(), debug=g.debug)


def _loopback_address(text: str, *, debug: bool) -> tuple[str, int]:
    from axocoatl.server.browser import LOOPBACK_NAMES

    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        fail(UsageError(f"--http {text!r} is not HOST:PORT", hint="for example: --http 127.0.0.1:8765"), debug=debug)
    if host not in LOOPBACK_NAMES:
        fail(
            UsageError(
                f"--http {host} is not a loopback address: mcp serve has no authentication",
                hint="bind 127.0.0.1, or serve beyond this machine through the daemon's /mcp (server.auth keys)",
            ),
            debug=debug,
        )
    return host, int(port)


@app.command("conformance-client")
def conformance_client(
    url: str = typer.Argument(..., metavar="URL", help="The scenario server's URL (the suite appends it)."),
    scenario: str | None = typer.Option(
        None, "--scenario", envvar="MCP_CONFORMANCE_SCENARIO", help="The scenario (the suite sets the variable)."
    ),
) -> None:
    """Drive our MCP client through one client scenario of the official conformance suite (a test aid).

    npx conformance client --command "axocoatl mcp conformance-client" --scenario tools_call
    """
    import os

    from axocoatl.protocols.mcp.conformance import run_scenario

    chosen = scenario or os.environ.get("MCP_CONFORMANCE_SCENARIO") or "initialize"
    try:
        context = json.loads(os.environ.get("MCP_CONFORMANCE_CONTEXT") or "{}")
    except ValueError:
        fail(UsageError("MCP_CONFORMANCE_CONTEXT is not JSON"))
    for line in run(run_scenario(url, chosen, context)):
        typer.echo(line)
