"""What the routes share: the runtime, supervision, live settings and the WebSocket hub."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar, cast

from fastapi import FastAPI
from starlette.requests import HTTPConnection

from axocoatl import __version__
from axocoatl.config.schema import ServerConfig
from axocoatl.core.errors import AxocoatlError
from axocoatl.core.events import StreamSink
from axocoatl.core.messages import AgentInput, AgentOutput
from axocoatl.memory.session import DEFAULT_THREAD
from axocoatl.runtime.cluster import NatsConnection
from axocoatl.runtime.runtime import Runtime
from axocoatl.runtime.supervision import Supervisor
from axocoatl.server.auth import Credentials
from axocoatl.server.browser import HostPolicy
from axocoatl.server.middleware import RateLimitSettings
from axocoatl.server.sessions import Sessions
from axocoatl.server.stream import StreamHub
from axocoatl.server.views import agent_status_json

if TYPE_CHECKING:
    from axocoatl.server.mcp_server import MCPEndpoint

T = TypeVar("T")


@dataclass
class LiveSettings:
    """Server settings a config reload applies at once (the socket and CORS need a restart)."""

    credentials: Credentials
    hosts: HostPolicy
    rate_limit: RateLimitSettings
    max_body_bytes: int

    @classmethod
    def from_config(cls, server: ServerConfig) -> LiveSettings:
        limit = server.rate_limit
        return cls(
            credentials=Credentials.from_config(server.auth),
            hosts=HostPolicy.from_config(server),
            rate_limit=RateLimitSettings(limit.enabled, limit.max_requests, limit.window_secs),
            max_body_bytes=server.max_body_bytes,
        )


@dataclass
class ServerState:
    runtime: Runtime
    settings: LiveSettings
    supervisor: Supervisor | None = None
    mode: str = "serve"
    version: str = __version__
    started_at: float = field(default_factory=time.time)
    draining: bool = False
    mcp_endpoint: MCPEndpoint | None = None  # /mcp, set by create_app
    nats: NatsConnection | None = None  # this node's NATS connection (cluster.nats); /health/ready checks it
    sessions: Sessions = field(default_factory=Sessions)  # the dashboard's logins
    hub: StreamHub = field(init=False)
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set, init=False)

    def __post_init__(self) -> None:
        self.hub = StreamHub(self.agent_status)

    def agent_status(self, agent_id: str) -> dict[str, Any] | None:
        agent = self.runtime.agents.get(agent_id)
        return None if agent is None else agent_status_json(agent, self.supervisor)

    async def execute(
        self, agent_id: str, agent_input: AgentInput, sink: StreamSink | None = None, *, thread: str = DEFAULT_THREAD
    ) -> AgentOutput:
        """Runtime.execute; unexpected errors are reported to supervision."""
        try:
            return await self.runtime.execute(agent_id, agent_input, thread=thread, sink=sink)
        except AxocoatlError:
            raise
        except Exception as exc:
            if self.supervisor is not None:
                self.supervisor.observe_failure(agent_id, exc)
            raise

    def detach(self, coro: Coroutine[Any, Any, T], name: str) -> asyncio.Task[T]:
        """Run work that must not die with the request that started it (a turn commits even if the client left)."""
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def wait_detached(self, timeout: float) -> None:
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)

    async def cancel_detached(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task


def state_of(conn: HTTPConnection | FastAPI) -> ServerState:
    app = conn if isinstance(conn, FastAPI) else conn.app
    return cast(ServerState, app.state.axocoatl)
