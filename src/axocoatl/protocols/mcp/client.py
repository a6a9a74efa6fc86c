"""An MCP client connection: one per configured server, kept alive for the runtime's life (clients.py holds them).

A connection starts its server (or connects to it), lists its tools, resources and prompts, and
then watches it: the server ending its side, a failed ping, or ``tools/list_changed`` (the listing
is fetched again). A lost or failed server is retried with exponential backoff, without end, and
its status and last error are kept for `axocoatl mcp servers`; one server's trouble never holds up
another, nor the runtime's start beyond that server's ``startup_timeout_secs``.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

import anyio
import mcp_types as types
from mcp import Client
from mcp.client.session import ElicitationFnT, SamplingFnT
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError

from axocoatl.config.schema import MCPServerConfig
from axocoatl.core.errors import ToolError
from axocoatl.protocols.mcp.state import (
    Caller,
    NoticeSink,
    RemotePrompt,
    RemoteResource,
    RemoteTool,
    ServerState,
    Status,
)
from axocoatl.protocols.mcp.transport import describe, log_size, open_transport, stderr_log, tail, watched

log = logging.getLogger(__name__)


class _StrayOutput(logging.Filter):
    """The SDK logs each non-JSON line a stdio server prints with a traceback; a chatty server would
    flood the log. Kept at debug, without the traceback (the connection reports what failed)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage().startswith("Failed to parse JSONRPC message"):
            record.exc_info = None
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


logging.getLogger("mcp.client.stdio").addFilter(_StrayOutput())

PING_SECS = 15.0
PING_TIMEOUT_SECS = 10.0
BACKOFF_FIRST_SECS = 0.5
BACKOFF_MAX_SECS = 30.0
# How long a call waits for a restarting server to come back before it reports the server down.
RECONNECT_WAIT_SECS = 15.0
# Listings are paged; a server whose pages never end is cut here.
MAX_PAGES = 20
_CLIENT_INFO = types.Implementation(name="axocoatl", version="0.1.0")


class _Lost(Exception):
    """The connection ended (the server's side closed, or a ping failed)."""


@dataclass
class _Flags:
    lost: bool = False
    tools_changed: bool = False
    lists_changed: bool = False
    restart: bool = False
    wake: anyio.Event = field(default_factory=anyio.Event)

    def poke(self) -> None:
        self.wake.set()


class MCPConnection:
    """One server: call ``run()`` in a task; it returns once ``stop()`` is called (or the task is cancelled)."""

    def __init__(
        self,
        config: MCPServerConfig,
        *,
        log_dir: Path | None = None,
        on_change: Callable[[MCPConnection], None] | None = None,
        on_notice: NoticeSink | None = None,
        elicitation: ElicitationFnT | None = None,
        sampling: SamplingFnT | None = None,
    ) -> None:
        self.config = config
        self.name = config.name
        # Answer a server's elicitation and sampling requests; without them the SDK says they are not supported.
        self.elicitation = elicitation
        self.sampling = sampling
        self._log_path = log_dir / f"{config.name}.log" if log_dir is not None and config.transport == "stdio" else None
        self._log_dir = log_dir
        self._on_change = on_change
        self._on_notice = on_notice
        self.state = ServerState(config.name, config.transport, describe(config), "starting")
        self._client: Client | None = None
        self._callers: dict[int, Caller] = {}  # calls in flight: who made them (an elicitation asks for them)
        self._call_ids = itertools.count()
        self._log_start = 0
        self._flags = _Flags()
        self._ready = anyio.Event()  # the first attempt has ended, either way
        self._settled = 0  # attempts that ended their start, connected or failed
        self._connected = anyio.Event()
        self._scope: anyio.CancelScope | None = None
        self._stopping = False

    # ------------------------------------------------------------------ lifecycle

    async def run(self) -> None:
        # stop() cancels this scope: an anyio cancel, which the SDK's shielded transport shutdown (it stops
        # the server process) holds off until it is done. A native task.cancel() does not wait for it, and
        # its stdio reader then never ends (a server that never answered the handshake hung the close).
        with anyio.CancelScope() as self._scope:
            if self._stopping:  # stopped before it ran
                self._scope.cancel()
            await self._run()

    def stop(self) -> None:
        """End ``run()``: the server is stopped (or the connection closed), then ``run()`` returns."""
        self._stopping = True
        if self._scope is not None:
            self._scope.cancel()

    async def _run(self) -> None:
        failures = 0
        try:
            while True:
                errlog = stderr_log(self._log_dir if self._log_path else None, self.name)
                try:
                    await self._session(errlog)
                    failures = 0  # a deliberate restart: at once
                except Exception as exc:
                    task = asyncio.current_task()
                    if self._stopping or (task is not None and task.cancelling()):
                        # Cancelled (the runtime stopping) while the transport was failing: its error took the
                        # place of the CancelledError. Going on would retry forever and the close never return.
                        raise asyncio.CancelledError from exc
                    failures += 1
                    self._settled += 1
                    message = _describe(exc)
                    if self.config.transport in ("http", "streamable_http") and _refused_streamable_http(exc):
                        message += "; if the server has only the legacy HTTP+SSE transport, set transport: sse"
                    extra = tail(self._log_path, self._log_start)
                    if extra and extra not in message:
                        message = f"{message}; stderr: {extra}"
                    was = self.state.status
                    status: Status = "reconnecting" if was in ("connected", "reconnecting") else "failed"
                    # Once per outage; the retries after it log at info.
                    level = logging.INFO if was == status else logging.WARNING
                    self._set(status=status, last_error=message, connected_since=None)
                    log.log(level, "MCP server %s: %s", self.name, message)
                finally:
                    self._client = None
                    if self._connected.is_set():  # callers waiting for the next connection keep their event
                        self._connected = anyio.Event()
                    self._ready.set()
                    errlog.close()
                if failures:
                    delay = min(BACKOFF_MAX_SECS, BACKOFF_FIRST_SECS * 2 ** (failures - 1))
                    with anyio.move_on_after(delay):
                        while not self._flags.restart:
                            await self._flags.wake.wait()
                            self._flags.wake = anyio.Event()
                self._set(restarts=self.state.restarts + 1)
        finally:
            self._set(status="stopped", connected_since=None)
            self._ready.set()

    async def _session(self, errlog: TextIO) -> None:
        flags = self._flags = _Flags()
        self._log_start = log_size(self._log_path)

        def lost() -> None:
            flags.lost = True
            self._client = None
            flags.poke()

        transport = watched(open_transport(self.config, errlog), lost)
        # legacy: the initialize handshake (2025-03-26 .. 2025-11-25), where list_changed arrives as a
        # notification; 2026-07-28 would need subscriptions/listen streams.
        client = Client(
            transport,
            mode="legacy",
            cache=None,
            client_info=_CLIENT_INFO,
            message_handler=self._handle,
            logging_callback=self._log_message,
            elicitation_callback=self.elicitation,
            sampling_callback=self.sampling,
        )
        # One scope around the whole session (cancel scopes must nest with the client's task groups):
        # its deadline is the startup timeout until the server has answered, then none.
        startup = self.config.startup_timeout_secs
        with anyio.CancelScope(deadline=anyio.current_time() + startup) as scope:
            async with client:
                listing = await self._list(client)
                scope.deadline = math.inf
                info = client.server_info
                self._client = client
                self._set(
                    status="connected",
                    last_error=None,
                    protocol_version=client.protocol_version,
                    server_name=info.name if info is not None else None,
                    connected_since=time.time(),
                    **listing,
                )
                self._connected.set()
                self._ready.set()
                self._settled += 1
                try:
                    await self._watch(client, flags)
                finally:
                    self._client = None
        if scope.cancelled_caught:
            raise TimeoutError(f"the server did not answer within {startup:g} s (startup_timeout_secs)")

    async def _watch(self, client: Client, flags: _Flags) -> None:
        while True:
            with anyio.move_on_after(PING_SECS) as idle:
                await flags.wake.wait()
            flags.wake = anyio.Event()
            if flags.restart:
                return
            if flags.lost:
                raise _Lost("the server closed the connection")
            if flags.tools_changed or flags.lists_changed:
                flags.tools_changed = flags.lists_changed = False
                self._set(**await self._list(client))
            if idle.cancelled_caught:
                try:
                    with anyio.fail_after(PING_TIMEOUT_SECS), warnings.catch_warnings():
                        # Deprecated for 2026-07-28 only; this connection speaks a handshake revision.
                        warnings.simplefilter("ignore", MCPDeprecationWarning)
                        await client.send_ping()
                except Exception as exc:
                    raise _Lost(f"ping failed: {_describe(exc)}") from exc

    def restart(self) -> None:
        """Stop the server and start it again now (a failed one: try again now)."""
        self._flags.restart = True
        self._flags.poke()

    async def restart_and_wait(self) -> ServerState:
        """Restart now and wait for the new attempt's outcome (at most the startup timeout)."""
        before = self._settled
        self.restart()
        with anyio.move_on_after(self.config.startup_timeout_secs + 1):
            while self._settled <= before:
                await anyio.sleep(0.05)
        return self.state

    async def wait_ready(self, timeout: float) -> bool:
        """Wait until the first attempt has ended (connected or failed); False on timeout."""
        with anyio.move_on_after(timeout):
            await self._ready.wait()
            return True
        return False

    # ------------------------------------------------------------------ listings and notices

    async def _list(self, client: Client) -> dict[str, Any]:
        caps = client.server_capabilities
        tools: list[RemoteTool] = []
        resources: list[RemoteResource] = []
        prompts: list[RemotePrompt] = []
        if caps.tools is not None:
            cursor: str | None = None
            for _ in range(MAX_PAGES):
                page = await client.list_tools(cursor=cursor)
                tools.extend(_tool(t) for t in page.tools)
                if not (cursor := page.next_cursor):
                    break
        if caps.resources is not None:
            cursor = None
            for _ in range(MAX_PAGES):
                rpage = await client.list_resources(cursor=cursor)
                resources.extend(
                    RemoteResource(r.uri, r.name, r.description or "", r.mime_type) for r in rpage.resources
                )
                if not (cursor := rpage.next_cursor):
                    break
        if caps.prompts is not None:
            cursor = None
            for _ in range(MAX_PAGES):
                ppage = await client.list_prompts(cursor=cursor)
                prompts.extend(_prompt(p) for p in ppage.prompts)
                if not (cursor := ppage.next_cursor):
                    break
        return {"tools": tuple(tools), "resources": tuple(resources), "prompts": tuple(prompts)}

    async def _handle(self, message: Any) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            self._flags.tools_changed = True
            self._flags.poke()
        elif isinstance(message, types.ResourceListChangedNotification | types.PromptListChangedNotification):
            self._flags.lists_changed = True
            self._flags.poke()
        elif isinstance(message, Exception):
            log.info("MCP server %s: transport error: %s", self.name, _describe(message))

    async def _log_message(self, params: types.LoggingMessageNotificationParams) -> None:
        if self._on_notice is not None:
            payload = {"level": params.level, "logger": params.logger, "data": params.data}
            self._on_notice(self.name, payload)

    def _set(self, **changes: Any) -> None:
        self.state = replace(self.state, **changes)
        if self._on_change is not None:
            try:
                self._on_change(self)
            except Exception:  # a listener's bug must not stop the connection
                log.exception("MCP server %s: change listener failed", self.name)

    # ------------------------------------------------------------------ calls

    async def _ready_client(self) -> Client:
        """The live client, waiting up to RECONNECT_WAIT_SECS for a restarting server to be back."""
        deadline = anyio.current_time() + RECONNECT_WAIT_SECS
        while (self._client is None or self._flags.lost) and anyio.current_time() < deadline:
            event = self._connected
            if event.is_set():  # the old connection is still being torn down
                await anyio.sleep(0.05)
                continue
            with anyio.move_on_after(deadline - anyio.current_time()):
                await event.wait()
        client = self._client
        if client is None or self._flags.lost:
            state = self.state
            why = f": {state.last_error}" if state.last_error else ""
            raise ToolError(
                f"MCP server '{self.name}' is not connected ({state.status}){why}",
                hint="it is retried with backoff; see `axocoatl mcp servers`",
            )
        return client

    async def call_tool(
        self,
        tool: str,
        arguments: dict[str, Any],
        *,
        read_only: bool = False,
        progress: Callable[[float, float | None, str | None], Any] | None = None,
        caller: Caller | None = None,
    ) -> types.CallToolResult:
        """Call ``tool``; a read-only call cut off by the server's death is made again once it is back."""
        key = next(self._call_ids)
        if caller is not None:
            self._callers[key] = caller
        try:
            return await self._call_tool(tool, arguments, read_only, progress)
        finally:
            self._callers.pop(key, None)

    def caller(self) -> Caller | None:
        """Who made the most recent call still in flight (a server's request during a call is on its behalf)."""
        return next(reversed(self._callers.values()), None)

    async def _call_tool(
        self,
        tool: str,
        arguments: dict[str, Any],
        read_only: bool,
        progress: Callable[[float, float | None, str | None], Any] | None,
    ) -> types.CallToolResult:
        for attempt in (1, 2):
            client = await self._ready_client()
            try:
                return await client.call_tool(tool, arguments, progress_callback=_progress(progress))
            except MCPError as exc:
                if exc.error.code != types.CONNECTION_CLOSED:
                    message = f"MCP server '{self.name}' refused the call to '{tool}': {exc.error.message}"
                    raise ToolError(message) from exc
                if read_only and attempt == 1:
                    self._flags.lost = True
                    self._flags.poke()
                    continue
                raise ToolError(
                    f"MCP server '{self.name}' went away during the call to '{tool}'; it is being restarted, "
                    "so the call may or may not have taken effect",
                    hint="check its effect before calling it again",
                ) from exc
        raise AssertionError("unreachable")

    async def read_resource(self, uri: str) -> types.ReadResourceResult:
        client = await self._ready_client()
        try:
            return await client.read_resource(uri)
        except MCPError as exc:
            raise ToolError(f"MCP server '{self.name}' could not read '{uri}': {exc.error.message}") from exc

    async def get_prompt(self, name: str, arguments: dict[str, str]) -> types.GetPromptResult:
        client = await self._ready_client()
        try:
            return await client.get_prompt(name, arguments)
        except MCPError as exc:
            raise ToolError(f"MCP server '{self.name}' could not get prompt '{name}': {exc.error.message}") from exc


def _progress(
    callback: Callable[[float, float | None, str | None], Any] | None,
) -> Any:
    if callback is None:
        return None

    async def report(progress: float, total: float | None, message: str | None) -> None:
        callback(progress, total, message)

    return report


def _tool(tool: types.Tool) -> RemoteTool:
    annotations = tool.annotations
    read_only = bool(annotations is not None and annotations.read_only_hint)
    schema = dict(tool.input_schema) if isinstance(tool.input_schema, dict) else {"type": "object"}
    return RemoteTool(tool.name, tool.description or tool.title or "", schema, read_only)


def _prompt(prompt: types.Prompt) -> RemotePrompt:
    arguments = prompt.arguments or []
    return RemotePrompt(
        prompt.name,
        prompt.description or "",
        tuple(a.name for a in arguments),
        tuple(a.name for a in arguments if a.required),
    )


# What the SDK makes of a 4xx answer to the first POST (streamable HTTP): 404, or another status. A server
# with only the legacy HTTP+SSE transport answers its SSE URL so (GET only) and its message URL so.
_REFUSED_POST = {(types.METHOD_NOT_FOUND, "Not Found"), (types.INTERNAL_ERROR, "Server returned an error response")}


def _refused_streamable_http(exc: BaseException) -> bool:
    if isinstance(exc, BaseExceptionGroup):
        return any(_refused_streamable_http(inner) for inner in exc.exceptions)
    return isinstance(exc, MCPError) and (exc.error.code, exc.error.message) in _REFUSED_POST


def _describe(exc: BaseException) -> str:
    """One line for an error, looking inside exception groups (the SDK's task groups raise them)."""
    leaves: list[BaseException] = []

    def walk(error: BaseException) -> None:
        if isinstance(error, BaseExceptionGroup):
            for inner in error.exceptions:
                walk(inner)
        else:
            leaves.append(error)

    walk(exc)
    parts: list[str] = []
    for leaf in leaves:
        if isinstance(leaf, TimeoutError):
            text = str(leaf) or "timed out"
        elif isinstance(leaf, MCPError):
            text = leaf.error.message
        elif isinstance(leaf, FileNotFoundError):
            text = f"command not found: {leaf.filename or leaf}"
        else:
            text = str(leaf) or type(leaf).__name__
        if text not in parts:
            parts.append(text)
    return "; ".join(parts) or type(exc).__name__
