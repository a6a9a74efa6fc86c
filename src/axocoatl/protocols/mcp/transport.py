"""How to reach one configured MCP server: its SDK transport (stdio, streamable HTTP, SSE), watched for its end.

The SDK's transports end their read stream when the server goes away (the process exits, the HTTP
stream breaks); ``watched`` turns that end into an event the connection waits on, so a dead server
is noticed at once rather than at the next call.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any, TextIO

import anyio
from mcp.client._transport import TransportStreams
from mcp.client.auth.extensions.client_credentials import ClientCredentialsOAuthProvider
from mcp.client.sse import sse_client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken
from mcp.shared.exceptions import MCPDeprecationWarning
from mcp.shared.message import SessionMessage

from axocoatl.config.schema import MCPServerConfig
from axocoatl.core.errors import UsageError

# The SDK's own defaults for MCP over HTTP: a server may hold a response stream open for minutes.
_CONNECT_SECS = 30.0
_READ_SECS = 300.0


def http_headers(config: MCPServerConfig, env: dict[str, str] | None = None) -> dict[str, str]:
    """The headers sent with every request: the configured ones, and the bearer token from the environment."""
    headers = {name: value.get_secret_value() for name, value in config.headers.items()}
    if config.bearer_token_env:
        environment = os.environ if env is None else env
        token = environment.get(config.bearer_token_env, "").strip()
        if not token:
            raise UsageError(
                f"mcp_servers[{config.name}]: the environment variable {config.bearer_token_env} "
                "(bearer_token_env) is not set",
                hint=f"export {config.bearer_token_env}=..., or put it in .env beside axocoatl.yaml",
            )
        headers["Authorization"] = f"Bearer {token}"
    return headers


class _MemoryTokens:
    """Where an OAuth token lives: this connection's memory (a restart fetches a new one)."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


def oauth(config: MCPServerConfig, env: dict[str, str] | None = None) -> ClientCredentialsOAuthProvider | None:
    """The OAuth client-credentials flow for ``config`` (None without ``oauth``), credentials from the env."""
    settings = config.oauth
    if settings is None:
        return None
    environment = os.environ if env is None else env
    values = {}
    for name in (settings.client_id_env, settings.client_secret_env):
        values[name] = environment.get(name, "").strip()
        if not values[name]:
            raise UsageError(
                f"mcp_servers[{config.name}].oauth: the environment variable {name} is not set",
                hint=f"export {name}=..., or put it in .env beside axocoatl.yaml",
            )
    with warnings.catch_warnings():
        # Without an issuer the SDK warns on every connection; validate warns once, at the config.
        warnings.simplefilter("ignore", MCPDeprecationWarning)
        return ClientCredentialsOAuthProvider(
            server_url=config.url or "",
            storage=_MemoryTokens(),
            client_id=values[settings.client_id_env],
            client_secret=values[settings.client_secret_env],
            token_endpoint_auth_method=settings.token_endpoint_auth_method,
            scope=settings.scope,
            issuer=settings.issuer,
        )


def describe(config: MCPServerConfig) -> str:
    """What the server is, for listings: the command line or the URL."""
    if config.transport == "stdio":
        return " ".join([config.command or "", *config.args]).strip()
    return config.url or ""


@asynccontextmanager
async def open_transport(config: MCPServerConfig, errlog: TextIO) -> AsyncIterator[TransportStreams]:
    """The SDK transport for ``config``; a stdio server's stderr goes to ``errlog`` (a real file)."""
    async with AsyncExitStack() as stack:
        inner: AbstractAsyncContextManager[Any]
        if config.transport == "stdio":
            params = StdioServerParameters(
                command=config.command or "", args=list(config.args), env=dict(config.env) or None, cwd=config.cwd
            )
            inner = stdio_client(params, errlog=errlog)
        elif config.transport == "sse":
            inner = sse_client(
                config.url or "", headers=http_headers(config), timeout=_CONNECT_SECS, auth=oauth(config)
            )
        else:
            import httpx2

            client = httpx2.AsyncClient(
                headers=http_headers(config),
                timeout=httpx2.Timeout(_CONNECT_SECS, read=_READ_SECS),
                auth=oauth(config),
            )
            await stack.enter_async_context(client)
            inner = streamable_http_client(config.url or "", http_client=client)
        streams = await stack.enter_async_context(inner)
        yield streams[0], streams[1]


@asynccontextmanager
async def watched(
    transport: AbstractAsyncContextManager[TransportStreams], on_lost: Callable[[], None]
) -> AsyncIterator[TransportStreams]:
    """``transport``'s streams; ``on_lost`` is called once the server's side has ended."""
    async with transport as (read, write):
        sender, receiver = anyio.create_memory_object_stream[SessionMessage | Exception](0)

        async def pump() -> None:
            async with sender:
                try:
                    async for item in read:
                        await sender.send(item)
                except (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream):
                    pass
            on_lost()

        async with anyio.create_task_group() as group:
            group.start_soon(pump)
            try:
                yield receiver, write
            finally:
                group.cancel_scope.cancel()


def stderr_log(directory: Path | None, name: str) -> TextIO:
    """Where a stdio server's stderr goes: ``<data dir>/mcp/<name>.log`` (appended), else nowhere."""
    if directory is None:
        return open(os.devnull, "w")
    directory.mkdir(parents=True, exist_ok=True)
    return open(directory / f"{name}.log", "a", encoding="utf-8")


def log_size(path: Path | None) -> int:
    """How long a stderr log is now: an attempt's own lines start there."""
    try:
        return path.stat().st_size if path is not None else 0
    except OSError:
        return 0


def tail(path: Path | None, start: int = 0, lines: int = 5, limit: int = 800) -> str:
    """The last lines a server wrote to stderr after ``start``, for its error message ("" when none)."""
    if path is None:
        return ""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(start, handle.tell() - 8192))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    kept = [line for line in text.splitlines() if line.strip()][-lines:]
    return "\n".join(kept)[-limit:]
