"""`axocoatl a2a card URL` and `axocoatl a2a send URL -m TEXT`: talk to any A2A agent, for debugging."""

from __future__ import annotations

import sys
from typing import Any
from urllib.parse import urlsplit

import typer

from axocoatl.cli.common import command_group, console, fail, globals_of, print_json, run
from axocoatl.core.errors import UsageError

app = command_group(help="Talk to A2A agents (docs/a2a.md).")

HEADER = typer.Option(
    [], "--header", "-H", help="An HTTP header 'Name: value' sent with every request (repeatable), e.g. auth."
)
API_KEY = typer.Option(
    None, "--api-key", envvar="AXOCOATL_A2A_API_KEY", help="Sent as x-api-key (env AXOCOATL_A2A_API_KEY)."
)


def _headers(pairs: list[str], api_key: str | None) -> dict[str, str]:
    headers: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition(":")
        if not sep or not name.strip():
            fail(UsageError(f"--header {pair!r} is not 'Name: value'", hint="for example -H 'x-api-key: KEY'"))
        headers[name.strip()] = value.strip()
    if api_key:
        headers["x-api-key"] = api_key
    return headers


def _remote(url: str, headers: dict[str, str], timeout: float) -> Any:
    from axocoatl.protocols.a2a.client import RemoteAgent

    if not url.startswith(("http://", "https://")):
        fail(UsageError(f"{url!r} is not an http(s) URL", hint="give the agent's URL or its card URL"))
    return RemoteAgent(
        urlsplit(url).netloc or url,
        url,
        headers=headers,
        timeout=timeout,
        retries=1,
        url_hint="check the URL given",
        timeout_hint="give a larger --timeout",
    )


@app.command("card")
def card(
    ctx: typer.Context,
    url: str = typer.Argument(
        ..., metavar="URL", help="The agent's URL (its card is at /.well-known/agent-card.json) or card URL."
    ),
    header: list[str] = HEADER,
    api_key: str | None = API_KEY,
    as_json: bool = typer.Option(False, "--json", help="Print the card as the agent serves it."),
) -> None:
    """Fetch and show an A2A agent card: name, interfaces (binding, version, URL), skills, auth."""
    g = globals_of(ctx)
    remote = _remote(url, _headers(header, api_key), 30.0)
    data: dict[str, Any] = run(remote.card_json(), debug=g.debug)
    if as_json:
        print_json(data)
        return
    lines = [f"{data.get('name', '?')} {data.get('version', '')}  {data.get('description', '')}"]
    for interface in data.get("supportedInterfaces") or []:
        binding, version = interface.get("protocolBinding"), interface.get("protocolVersion")
        lines.append(f"  interface  {binding:<10} {version:<6} {interface.get('url')}")
    if "url" in data:
        transport = data.get("preferredTransport", "JSONRPC")
        lines.append(f"  0.3 url    {transport:<10} {data.get('protocolVersion')} {data['url']}")
    lines.extend(f"  skill      {s.get('id')}: {s.get('description', '')}" for s in data.get("skills") or [])
    lines.extend(f"  auth       {name}" for name in data.get("securitySchemes") or {})
    out = console()
    for line in lines:
        out.print(line, markup=False, highlight=False)


@app.command("send")
def send(
    ctx: typer.Context,
    url: str = typer.Argument(..., metavar="URL", help="The agent's URL or card URL."),
    message: str = typer.Option(..., "--message", "-m", help="The text to send."),
    context_id: str | None = typer.Option(None, "--context", help="Continue this contextId (a conversation)."),
    header: list[str] = HEADER,
    api_key: str | None = API_KEY,
    timeout: float = typer.Option(300.0, "--timeout", min=1, help="Most seconds to wait for the reply."),
    as_json: bool = typer.Option(False, "--json", help="Print {text, task_id, context_id} at the end instead."),
) -> None:
    """Send one message to an A2A agent and print its reply as it streams (contextId and task on stderr)."""
    g = globals_of(ctx)
    remote = _remote(url, _headers(header, api_key), timeout)
    streamed: list[str] = []

    def show(chunk: str) -> None:
        streamed.append(chunk)
        if not as_json:
            sys.stdout.write(chunk)
            sys.stdout.flush()

    reply = run(remote.send(message, context_id=context_id, on_text=show), debug=g.debug)
    if as_json:
        from axocoatl.protocols.a2a.client import reply_json

        print_json(reply_json(reply))
        return
    if not streamed:
        sys.stdout.write(reply.text)
    sys.stdout.write("\n")
    task = f"  task {reply.task_id}" if reply.task_id else ""  # a plain message reply belongs to no task
    sys.stderr.write(f"context {reply.context_id}{task}\n")
