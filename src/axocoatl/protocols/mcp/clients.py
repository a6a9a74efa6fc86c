"""Every configured MCP server's connection, run from ``start`` to ``aclose``.

The MCP SDK is loaded only when a connection is made (``reconfigure`` with at least one server), so a
runtime with no MCP server configured never pays for importing it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from axocoatl.config.schema import MCPServerConfig
from axocoatl.protocols.mcp.state import NoticeSink, ServerState

if TYPE_CHECKING:
    from mcp.client.session import ElicitationFnT, SamplingFnT

    from axocoatl.protocols.mcp.client import MCPConnection


class MCPClients:
    """Every configured server's connection, each run in its own task from ``start`` to ``aclose``."""

    def __init__(
        self,
        configs: Sequence[MCPServerConfig],
        *,
        log_dir: Path | None = None,
        on_change: Callable[[MCPConnection], None] | None = None,
        on_notice: NoticeSink | None = None,
        elicitation: Callable[[MCPConnection], ElicitationFnT] | None = None,
        sampling: Callable[[MCPConnection], SamplingFnT] | None = None,
    ) -> None:
        self._log_dir = log_dir
        self._on_change = on_change
        self._on_notice = on_notice
        self._elicitation = elicitation
        self._sampling = sampling
        self.connections: dict[str, MCPConnection] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._pending = list(configs)

    def get(self, name: str) -> MCPConnection | None:
        return self.connections.get(name)

    def states(self) -> list[ServerState]:
        return [c.state for c in self.connections.values()]

    async def start(self) -> None:
        """Start every server and wait for each one's first attempt (at most its startup timeout)."""
        await self.reconfigure(self._pending)

    async def reconfigure(self, configs: Sequence[MCPServerConfig]) -> list[str]:
        """Stop servers no longer configured (or configured differently), start new ones; returns what changed."""
        wanted = {c.name: c for c in configs}
        changed = [n for n, c in self.connections.items() if wanted.get(n) != c.config]
        for name in changed:
            await self._stop(name)
        started = [c for n, c in wanted.items() if n not in self.connections]
        if started:
            from axocoatl.protocols.mcp.client import MCPConnection  # the MCP SDK: only once a server is configured
        for config in started:
            connection = MCPConnection(
                config, log_dir=self._log_dir, on_change=self._on_change, on_notice=self._on_notice
            )
            if self._elicitation is not None:
                connection.elicitation = self._elicitation(connection)
            if self._sampling is not None:
                connection.sampling = self._sampling(connection)
            self.connections[config.name] = connection
            self._tasks[config.name] = asyncio.create_task(connection.run(), name=f"mcp:{config.name}")
        await asyncio.gather(*(self.connections[c.name].wait_ready(c.startup_timeout_secs + 1) for c in started))
        # Keep the configured order for listings.
        self.connections = {n: self.connections[n] for n in wanted if n in self.connections}
        return sorted({*changed, *(c.name for c in started)})

    async def _stop(self, name: str) -> None:
        task = self._tasks.pop(name, None)
        connection = self.connections.pop(name, None)
        if task is not None:  # its last change (stopped) reaches on_change once it is no longer listed
            if connection is not None:
                connection.stop()
            else:
                task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        elif connection is not None and self._on_change is not None:
            self._on_change(connection)

    async def aclose(self) -> None:
        for name in list(self.connections):
            await self._stop(name)
