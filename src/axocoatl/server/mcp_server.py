"""Our agents and workflows as an MCP server, on the official SDK's ``MCPServer``.

Each agent is a tool ``agent_{id}`` (input, optional thread: a conversation on that thread), each
workflow a tool ``workflow_{id}`` (input: one run). A workflow call reports progress per step and,
when the client cancels it, cancels the run (``cancelled``, resumable with `axocoatl runs resume`).
Recent runs are resources ``axocoatl://runs/{id}``. Served over stdio by `axocoatl mcp serve`
and over streamable HTTP at ``/mcp`` on the daemon (``MCPEndpoint``), behind the API's auth and its
Host/Origin checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types import Resource as MCPResource
from mcp_types import ToolAnnotations
from pydantic import Field
from starlette.types import Receive, Scope, Send

from axocoatl import __version__
from axocoatl.core import events as ev
from axocoatl.core.errors import AxocoatlError
from axocoatl.core.events import AgentStreamEvent, RuntimeEvent, ToolStarted
from axocoatl.memory.session import DEFAULT_THREAD
from axocoatl.runtime.runtime import Runtime
from axocoatl.server.middleware import reject

log = logging.getLogger(__name__)

RUN_URI = "axocoatl://runs/{run_id}"
STARTUP_WAIT_SECS = 5.0  # a request that arrives while the daemon is still starting the session manager
RECENT_RUNS = 50
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
_STEP_EVENTS = {ev.AGENT_ACTIVATED, ev.TASK_COMPLETED, ev.AGENT_FAILED, ev.STEP_SKIPPED}

Input = Annotated[str, Field(description="The task or message, as text.")]
Thread = Annotated[str | None, Field(description=f"The conversation thread to continue (default: {DEFAULT_THREAD}).")]


def tool_name(kind: str, ident: str) -> str:
    """``agent_{id}`` / ``workflow_{id}``; characters MCP tool names may not hold become ``_``."""
    return f"{kind}_{_UNSAFE.sub('_', ident)}"[:128]


class AxocoatlMCPServer(MCPServer):
    """The SDK server, with the runtime's recent runs listed as resources."""

    def __init__(self, runtime: Runtime) -> None:
        super().__init__(
            "axocoatl",
            version=__version__,
            instructions="Agents and workflows of an axocoatl project. agent_* tools talk to one agent; "
            "workflow_* tools run a workflow of several agents. Finished runs are resources axocoatl://runs/{id}.",
        )
        self.runtime = runtime
        for agent in runtime.config.agents:
            prompt = (agent.system_prompt or "").strip().splitlines()
            role = f" ({prompt[0][:200]})" if prompt else ""
            self.add_tool(
                _agent_tool(runtime, agent.id),
                name=tool_name("agent", agent.id),
                description=f"Talk to agent {agent.name or agent.id}{role}. Replies with its answer; "
                "calls on one thread continue one conversation.",
                annotations=ToolAnnotations(read_only_hint=False, open_world_hint=True),
            )
        for workflow in runtime.config.workflows:
            agents = ", ".join(workflow.agents)
            purpose = f": {workflow.description.strip()[:200]}" if workflow.description else ""
            self.add_tool(
                _workflow_tool(runtime, workflow.id),
                name=tool_name("workflow", workflow.id),
                description=f"Run workflow {workflow.name or workflow.id}{purpose} (agents: {agents}) on the input; "
                "reports progress per step and returns the run's final output.",
                annotations=ToolAnnotations(read_only_hint=False, open_world_hint=True),
            )

        @self.resource(RUN_URI, name="run", description="A workflow or agent run: status, steps, output.")
        async def read_run(run_id: str) -> str:
            run = await runtime.get_run(run_id)
            return json.dumps(run.to_json(), ensure_ascii=False, default=str)

    async def list_resources(self) -> list[MCPResource]:
        runs = await self.runtime.store.list_runs(limit=RECENT_RUNS)
        listed = await super().list_resources()
        for run in runs:
            listed.append(
                MCPResource(
                    uri=RUN_URI.format(run_id=run.run_id),
                    name=f"run {run.run_id}",
                    description=f"{run.kind} {run.workflow_id}: {self.runtime.with_liveness(run).status}",
                    mime_type="application/json",
                )
            )
        return listed


def _agent_tool(runtime: Runtime, agent_id: str) -> Any:
    async def agent(input: Input, ctx: Context, thread: Thread = None) -> str:
        progress = _Progress(ctx)

        def sink(event: AgentStreamEvent) -> None:
            if isinstance(event, ToolStarted):
                progress.push(f"calling tool {event.call.name}")

        async with progress.running():
            out = await runtime.execute(agent_id, input, thread=thread or DEFAULT_THREAD, sink=sink)
        return out.content

    return agent


def _workflow_tool(runtime: Runtime, workflow_id: str) -> Any:
    async def workflow(input: Input, ctx: Context) -> dict[str, Any]:
        progress = _Progress(ctx)
        total = len(runtime.config.workflow(workflow_id).agents)  # type: ignore[union-attr]
        seen: list[RuntimeEvent] = []
        run_id: str | None = None
        done = 0

        def listen(event: RuntimeEvent) -> None:
            nonlocal done
            if event.workflow_id != workflow_id or event.type not in _STEP_EVENTS:
                return
            if run_id is None:  # published before start_workflow returned: kept for the filter
                seen.append(event)
            elif event.run_id == run_id:
                if event.type != ev.AGENT_ACTIVATED:
                    done += 1
                progress.push(f"{event.type} {event.agent_id}", done, total)

        unsubscribe = runtime.bus.subscribe(listen)
        try:
            async with progress.running():
                run_id, task = await runtime.start_workflow(workflow_id, input)
                for event in seen:
                    listen(event)
                try:
                    run = await asyncio.shield(task)
                except asyncio.CancelledError:
                    # The client cancelled: so is the run (its running steps stop); it stays resumable.
                    with contextlib.suppress(Exception):
                        await asyncio.shield(runtime.cancel_run(run_id))
                    log.info("MCP client cancelled run %s; resume it with `axocoatl runs resume %s`", run_id, run_id)
                    raise
        finally:
            unsubscribe()
        if run.status != "completed":
            raise AxocoatlError(f"run {run.run_id} {run.status}: {run.error or 'no reason given'}")
        return {"run_id": run.run_id, "status": run.status, "output": run.final_output or ""}

    return workflow


class _Progress:
    """Progress notifications from sync callbacks (the bus, a turn's stream), sent in order by one task."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.queue: asyncio.Queue[tuple[str, float | None, float | None] | None] = asyncio.Queue()
        self.count = 0

    def push(self, message: str, progress: float | None = None, total: float | None = None) -> None:
        self.queue.put_nowait((message, progress, total))

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        # Without a progress token in the request, report_progress sends nothing.
        sender = asyncio.create_task(self._send())
        try:
            yield
        except BaseException:
            sender.cancel()
            raise
        else:
            self.queue.put_nowait(None)  # what is queued goes out before the result
        finally:
            with contextlib.suppress(asyncio.CancelledError):
                await sender

    async def _send(self) -> None:
        while (item := await self.queue.get()) is not None:
            message, progress, total = item
            self.count += 1
            with contextlib.suppress(Exception):  # a client gone away must not fail the call
                await self.ctx.report_progress(progress if progress is not None else self.count, total, message)


class MCPEndpoint:
    """``/mcp`` on the daemon: the server over streamable HTTP. Host and Origin are checked by the
    daemon's own guard (server/browser.py) and the API key by its auth, before a request gets here."""

    def __init__(self, runtime: Runtime) -> None:
        self.server = AxocoatlMCPServer(runtime)
        self.manager = StreamableHTTPSessionManager(
            app=self.server._lowlevel_server,
            # Checked in front of every route already, with the daemon's allowed_hosts and cors_origins.
            security_settings=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        self.asgi = StreamableHTTPASGIApp(self.manager)
        self._started = anyio.Event()

    async def run(self) -> None:
        """Serve sessions until cancelled (a task of the daemon)."""
        async with self.manager.run():
            self._started.set()
            await anyio.sleep_forever()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        with anyio.move_on_after(STARTUP_WAIT_SECS):
            await self._started.wait()
        if not self._started.is_set():  # an app without the daemon's session task (or one still starting)
            await reject(scope, send, 503, "the MCP endpoint is not running", "it runs in `axocoatl dev` / `serve`")
            return
        await self.asgi(scope, receive, send)
