"""The node's connection to the NATS cluster: connect to the configured urls, reconnect, report its state."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from typing import TYPE_CHECKING, Literal

from axocoatl.config.schema import ClusterConfig
from axocoatl.core.errors import ClusterError

if TYPE_CHECKING:
    from nats.aio.client import Client

log = logging.getLogger(__name__)

ConnectionState = Literal["disconnected", "connected", "reconnecting", "closed"]
CONNECT_TIMEOUT_SECS = 5.0
RECONNECT_WAIT_SECS = 0.5


def default_node_id() -> str:
    """A node's name when ``cluster.node_id`` and ``--node-id`` are unset: ``hostname:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def node_id_of(settings: ClusterConfig) -> str:
    return settings.node_id or default_node_id()


class NatsConnection:
    """One client connection to the NATS servers of ``cluster.nats``; it reconnects by itself for ever.

    ``connect`` fails with a ClusterError naming the urls when no server answers at start: a node
    that cannot reach NATS does not start, since it could neither share nor take work."""

    def __init__(self, settings: ClusterConfig, *, name: str) -> None:
        self.settings = settings
        self.name = name
        self.state: ConnectionState = "disconnected"
        self._client: Client | None = None

    @property
    def client(self) -> Client:
        if self._client is None:
            raise ClusterError("not connected to NATS", hint="call connect() first")
        return self._client

    @property
    def url(self) -> str | None:
        """The server this node talks to now (None while disconnected)."""
        if self._client is None or self.state != "connected":
            return None
        current = self.client.connected_url
        return current.geturl() if current is not None else None

    def servers(self) -> list[str]:
        """Every server the client knows: the configured urls and those the cluster announced."""
        if self._client is None:
            return list(self.settings.nats)
        return [u.geturl() for u in self.client.servers]

    async def connect(self) -> None:
        try:
            import nats
            import nats.errors
        except ImportError:
            raise ClusterError(
                "cluster.nats is set but the NATS client is not installed",
                hint="pip install 'axocoatl[nats]'",
            ) from None

        async def disconnected() -> None:
            if self.state == "connected":
                log.warning("lost the connection to NATS; reconnecting")
                self.state = "reconnecting"

        async def reconnected() -> None:
            self.state = "connected"
            log.info("reconnected to NATS at %s", self.url)

        async def closed() -> None:
            self.state = "closed"

        async def error(exc: Exception) -> None:
            log.debug("NATS client error: %s", exc)

        urls = ", ".join(self.settings.nats)
        try:
            # Reconnects are unbounded once connected; the first connection is not: nats-py would retry it
            # for ever as well, and a node that cannot reach NATS at start must say so.
            async with asyncio.timeout(CONNECT_TIMEOUT_SECS * 2):
                self._client = await nats.connect(
                    servers=list(self.settings.nats),
                    name=self.name,
                    connect_timeout=CONNECT_TIMEOUT_SECS,
                    reconnect_time_wait=RECONNECT_WAIT_SECS,
                    max_reconnect_attempts=-1,
                    allow_reconnect=True,
                    disconnected_cb=disconnected,
                    reconnected_cb=reconnected,
                    closed_cb=closed,
                    error_cb=error,
                )
        except (OSError, TimeoutError, nats.errors.Error) as exc:
            raise ClusterError(
                f"cannot connect to NATS at {urls}: {exc or type(exc).__name__}",
                hint="start the NATS servers (nats-server -js), or fix cluster.nats in axocoatl.yaml",
            ) from None
        self.state = "connected"

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            await client.close()
        except Exception:  # closing: a connection already gone has nothing to flush
            log.debug("closing the NATS connection failed", exc_info=True)
        self.state = "closed"
