"""The Runtime owns everything: store, providers, tools, agents, the bus and the runs.

async with Runtime(config, data_dir=Path(".axocoatl")) as rt:
    run = await rt.run_workflow("research", "What is WAL mode?")
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from axocoatl.agents.actor import Agent
from axocoatl.config.schema import AgentConfig, AxocoatlConfig, ProactiveConfig, ScheduleConfig
from axocoatl.core import events as ev
from axocoatl.core.errors import AxocoatlError, NotFound, UsageError
from axocoatl.core.events import MCP_LOG, MCP_PROGRESS, MCP_SERVER_STATUS, RuntimeEvent, StreamSink
from axocoatl.core.ids import Clock, SystemClock, new_run_id
from axocoatl.core.messages import AgentInput, AgentOutput
from axocoatl.core.suggest import closest, did_you_mean
from axocoatl.memory.agent_memory import MemoryServices
from axocoatl.memory.embedding import Embedder
from axocoatl.memory.session import DEFAULT_THREAD
from axocoatl.protocols.mcp.clients import MCPClients
from axocoatl.providers.base import ConcurrencyCapped, Provider
from axocoatl.providers.registry import build_provider
from axocoatl.runtime.bus import EventBus
from axocoatl.runtime.cluster.node import ClusterNode
from axocoatl.runtime.consolidation import ConsolidationLoop
from axocoatl.runtime.data_dir import prepare_data_dir
from axocoatl.runtime.forks import fork_state
from axocoatl.runtime.mcp_sampling import sampling_via
from axocoatl.runtime.nodes import NodePresence
from axocoatl.runtime.ownership import HEARTBEAT_INTERVAL, owner_alive, process_owner
from axocoatl.runtime.plans import RunPlan, plan_agent, plan_skill, plan_workflow
from axocoatl.runtime.proactive import ProactiveRunner
from axocoatl.runtime.schedules import Scheduler
from axocoatl.runtime.subflows import ChildRuns
from axocoatl.runtime.transitions import Outcome, RunState, new_run_record
from axocoatl.runtime.triggers import InboundTriggers
from axocoatl.runtime.webhooks import WebhookDispatcher
from axocoatl.runtime.workflows import RunDriver
from axocoatl.store import (
    ApprovalRecord,
    CursorClaim,
    RunRecord,
    ScheduleClaim,
    Store,
    WorkspaceRecord,
    WriteBatch,
    create_store,
    schedule_trigger,
)
from axocoatl.tokens.counter import TokenCounter, default_counter
from axocoatl.tools.a2a import a2a_tools
from axocoatl.tools.approval import ApprovalGate
from axocoatl.tools.builtins import BUILTIN_TOOLS
from axocoatl.tools.context import ToolContext
from axocoatl.tools.hooks import ConfiguredHooks
from axocoatl.tools.mcp import MCPToolSource, elicitation_via
from axocoatl.tools.pipeline import ToolServices
from axocoatl.tools.python_tools import load_python_tools
from axocoatl.tools.registry import ToolRegistry
from axocoatl.tools.sandbox import agent_runners, log_choices
from axocoatl.tools.workspace import git_baseline

if TYPE_CHECKING:
    from axocoatl.protocols.mcp.client import MCPConnection

log = logging.getLogger(__name__)

CANCEL_POLL_SECS = 1.0  # how often a runtime looks for cancel requests of the runs it drives (`runs cancel`)
CANCEL_REASON = "run cancelled"
CANCEL_WAIT_SECS = 30.0  # how long `runs cancel` waits for another process to stop a run it drives
WAIT_CHECK_SECS = 1.0  # how often a long-running runtime applies the timeout policy of unanswered questions


class Runtime:
    """One process's runtime. Use as an async context manager."""

    def __init__(
        self,
        config: AxocoatlConfig,
        *,
        data_dir: Path,
        clock: Clock | None = None,
        providers: Mapping[str, Provider] | None = None,
        store: Store | None = None,
        auto_resume: bool = False,
        counter: TokenCounter | None = None,
        background: bool = False,
        embedder: Embedder | None = None,
    ) -> None:
        self.config = config
        self.data_dir = Path(data_dir)
        self.clock = clock or SystemClock()
        self.counter = counter or default_counter()
        self.store: Store = store or create_store(config.store, self.data_dir)
        self.bus = EventBus()
        self.tools = ToolRegistry(BUILTIN_TOOLS)
        self.tools.add_source(load_python_tools(config.tools.python, Path.cwd()))  # paths: absolute once loaded
        self.tools.add_source(a2a_tools(config.a2a_agents))
        # Reads the live config: a reload changes what needs approval and the timeout of new requests.
        self.approvals = ApprovalGate(self.store, self.clock, lambda: self.config.approval, notify=self._approval_event)
        self.tool_services = ToolServices(
            settings=config.tools,
            web_search=config.web_search,
            hooks=(ConfiguredHooks(lambda: self.config.hooks),),
            approval=self.approvals,
        )
        self.mcp = MCPClients(
            config.mcp_servers,
            log_dir=self.data_dir / "mcp",
            on_change=self._mcp_changed,
            on_notice=self._mcp_notice,
            elicitation=lambda connection: elicitation_via(self.approvals, connection),
            sampling=lambda connection: sampling_via(self, connection),
        )
        self._mcp_tools = MCPToolSource(self.tools, self.mcp, on_progress=self._mcp_progress)
        self._mcp_status: dict[str, str] = {}
        self.owner = process_owner()
        self.auto_resume = auto_resume
        self._adopting = True  # off while draining: a node shutting down takes no other node's runs
        self._driverless: set[str] = set()  # this node's running runs without a driver, at the last beat
        self.presence: NodePresence | None = None  # a daemon's row in the nodes table, beaten with its runs
        # Long-running (the daemon): starts background loops such as sleep-time consolidation.
        self.background = background
        self.memory = MemoryServices(self.store, self.clock, self.counter, embedder)
        self.consolidation = ConsolidationLoop(lambda: self.agents.values(), config.consolidation, self.clock)
        self._providers: dict[str, Provider] = dict(providers or {})
        self._injected = set(self._providers)
        self.agents: dict[str, Agent] = {}
        self._tasks: set[asyncio.Task[object]] = set()
        self._active_runs: dict[str, asyncio.Task[RunRecord]] = {}
        self._run_workflows: dict[str, str] = {}  # of the active runs
        self._drivers: dict[str, RunDriver] = {}  # of the active runs
        self._started = False
        self._children = ChildRuns(self)
        self.proactive = ProactiveRunner(lambda: self.config, self.store, self.clock, self.bus, self._start_proactive)
        self.scheduler = Scheduler(
            lambda: [*self.config.schedules, *self.proactive.schedules()],
            self.store,
            self.clock,
            self.bus,
            self._start_scheduled,
        )
        self.webhooks = WebhookDispatcher(lambda: self.config, self.store, self.clock, self.bus, self.owner)
        self.triggers = InboundTriggers(lambda: self.config, self.store, self.clock)
        # The webhook loop, when this process runs it (the daemon always; a CLI process once it logs events).
        self._delivering: asyncio.Task[object] | None = None
        # Cluster mode (cluster.nats, the daemon only): work shared with the other nodes over NATS.
        self.cluster: ClusterNode | None = None

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> Runtime:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def start(self) -> None:
        if self._started:
            return
        _tune_gc()
        prepare_data_dir(self.data_dir)
        # The sandbox tier of each agent that runs commands: one that cannot run here stops the start.
        runners, choices = agent_runners(self.config)
        log_choices(choices)
        self.tool_services.runners = runners
        await self.store.open()
        try:
            for agent_config in self.config.agents:
                self.agents[agent_config.id] = self._build_agent(agent_config.id)
            for agent in self.agents.values():  # checkpoints: turns, usage, last activity (one small read each)
                await agent.restore()
            self._started = True
            if self.background and self.config.cluster.nats:
                self.cluster = ClusterNode(
                    self.config.cluster,
                    store=self.store,
                    clock=self.clock,
                    agents=self.agents.get,
                    scheduler=self.scheduler,
                    webhooks=self.webhooks,
                    bus=self.bus,  # the turns it runs for other nodes' runs stream here (and fan out)
                )
                await self.cluster.start()
                self.scheduler.dispatch = self.cluster.fires.publish
                self.webhooks.dispatch = self.cluster.deliveries.publish
                self._spawn(self.cluster.run(), "cluster work")
            await self.mcp.start()  # each server at most its startup_timeout_secs, all at once
            self._spawn(self._heartbeat(), "heartbeat")
            self._spawn(self._cancel_watch(), "cancel requests")
            if self.background and self.config.consolidation.enabled:
                self._spawn(self.consolidation.run(), "consolidation")
            await self.webhooks.prime()  # before this process logs an event: its webhooks get every one
            if self.background:
                await self.proactive.prime()
                self._spawn(self.scheduler.run(), "scheduler")
                self._spawn(self._expire_loop(), "question deadlines")
                self._spawn(self.proactive.run(), "proactive")
                self.deliver_webhooks()
            if self.auto_resume:
                for run in await self.interrupted_runs():
                    if run.relation == "child":
                        continue  # its parent's step takes it up when the parent resumes
                    self._spawn(self._resume_quietly(run.run_id), f"resume:{run.run_id}")
        except BaseException:
            # A partial start leaves nothing running: no task, no open database, no agent.
            self._started = True
            await self.aclose()
            self.agents.clear()
            raise

    def deliver_webhooks(self) -> None:
        """Run the webhook loop in this process (the daemon does from its start; a short-lived process once it
        logs events, and it attempts what is due once more as it closes)."""
        if self._delivering is None:
            self._delivering = self._spawn(self.webhooks.run(), "webhooks")

    async def aclose(self) -> None:
        """Stop background work and agents, then close providers and the store."""
        hooks = self.webhooks.hooks()
        if self._delivering is not None:
            # Let the webhook pass under way finish: cancelled in the middle, it could leave claims that
            # another process must wait out.
            self.webhooks.stop()
            budget = max((h.timeout_secs for h in hooks.values()), default=0.0) + 2.0
            await asyncio.wait([self._delivering], timeout=budget)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        # No LLM call and no embedding at exit: consolidation runs in the daemon's idle time
        # (or `axocoatl memory consolidate`), and unembedded memories are embedded at the next load.
        for agent in self.agents.values():
            await agent.stop()
        if self._started and self._delivering is not None and not self.background and hooks:
            # A CLI process without a daemon tries its events' deliveries before it exits (its loop is
            # stopped, its claims given back); what it cannot deliver now stays in the outbox for the
            # next process that delivers (the daemon).
            with contextlib.suppress(Exception):
                await self.webhooks.flush(max(h.timeout_secs for h in hooks.values()) + 2.0)
        if self.cluster is not None:
            await self.cluster.aclose()
            self.cluster = None
        await self.mcp.aclose()
        await self.tool_services.tasks.aclose()
        await self.webhooks.aclose()
        for name, provider in self._providers.items():
            if name not in self._injected and not name.startswith("chain:"):
                with contextlib.suppress(Exception):
                    await provider.aclose()
        if self._started:
            await self.store.close()
        self._started = False

    def _approval_event(self, what: str, request: ApprovalRecord) -> None:
        kind = ev.APPROVAL_REQUESTED if what == "requested" else ev.APPROVAL_DECIDED
        workflow_id = self._run_workflows.get(request.run_id) if request.run_id is not None else None
        self.bus.publish(
            RuntimeEvent(
                kind,
                self.clock.now(),
                run_id=request.run_id,
                workflow_id=workflow_id,
                agent_id=request.agent_id,
                produced_by="runtime",
                payload=request.to_json(),
            )
        )

    def _spawn(self, coro: object, name: str) -> asyncio.Task[object]:
        task: asyncio.Task[object] = asyncio.create_task(coro, name=name)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _heartbeat(self) -> None:
        # On a store several nodes share (PostgreSQL), a node also adopts the runs of nodes that died:
        # every beat it resumes the interrupted ones (a claim is a compare-and-set, so one node wins each).
        adopts = self.auto_resume and bool(getattr(self.store, "shared", False))
        while True:
            await asyncio.sleep(HEARTBEAT_INTERVAL)
            try:
                await self.store.heartbeat(self.owner, self.clock.now())
                if self.presence is not None:
                    await self.presence.beat()
                if adopts:
                    await self._adopt_orphans()
            except Exception:  # keep beating; a transient database error must not stop the runtime
                log.exception("heartbeat failed")

    async def _cancel_watch(self) -> None:
        """Cancel the runs of this process that another process asked to cancel (``runs cancel``)."""
        while True:
            await asyncio.sleep(CANCEL_POLL_SECS)
            try:
                for run_id in await self.store.cancel_requests(self.owner):
                    driver = self._drivers.get(run_id)
                    if driver is not None:
                        driver.cancel(CANCEL_REASON)
            except Exception:  # keep polling; a transient database error must not stop the runtime
                log.exception("polling cancel requests failed")

    async def cancel_run(self, run_id: str) -> RunRecord:
        """Cancel a run, wherever it runs; returns it once it is ``cancelled``. Committed steps stay, running
        steps stop (nothing of their turns commits), pending approvals of the run are denied; resumable.

        Raises NotFound for an unknown run and UsageError for one that already ended."""
        self._require_started()
        run = await self.get_run(run_id)
        if run.status in ("completed", "failed", "cancelled"):
            raise UsageError(
                f"run '{run_id}' already ended ({run.status}); there is nothing to cancel",
                hint=f"see `axocoatl runs show {run_id}`",
            )
        task = self._active_runs.get(run_id)
        driver = self._drivers.get(run_id)
        if task is not None and driver is not None:
            driver.cancel(CANCEL_REASON)
            with contextlib.suppress(Exception):
                await asyncio.shield(task)
        elif run.status == "running":
            # Another live process drives it: ask it (it polls), and wait until it ended or died.
            await self.store.request_cancel(run_id, self.clock.now())
            owner = run.owner
            try:
                async with asyncio.timeout(CANCEL_WAIT_SECS):
                    while run.status == "running":
                        await asyncio.sleep(CANCEL_POLL_SECS / 2)
                        run = await self.get_run(run_id)
            except TimeoutError:
                raise AxocoatlError(
                    f"process {owner} did not stop run '{run_id}' within {CANCEL_WAIT_SECS:g} s",
                    hint="the request stays: it stops the run when that process looks again; "
                    f"else stop the process, then `axocoatl runs cancel {run_id}` again",
                ) from None
        if run.status in ("interrupted", "waiting"):
            # Nobody drives it: take it over and mark it here.
            expected = "running" if run.status == "interrupted" else "waiting"
            driver = await self._claim_and_rebuild(run, expected, retry=False)
            try:
                await driver.commit(lambda now: driver.state.cancel(now, CANCEL_REASON))
            finally:
                self._drivers.pop(run_id, None)
                self._run_workflows.pop(run_id, None)
        ended = await self.get_run(run_id)
        if ended.status != "cancelled":
            raise UsageError(
                f"run '{run_id}' ended ({ended.status}) before it could be cancelled",
                hint=f"see `axocoatl runs show {run_id}`",
            )
        for request in await self.store.list_approvals(status="pending", run_id=run_id):
            await self.store.decide_approval(
                request.approval_id,
                allowed=False,
                scope="once",
                reason=CANCEL_REASON,
                decided_by="runtime",
                now=self.clock.now(),
            )
        for step in ended.steps:  # a sub-workflow step's child run outlives its step: it is cancelled too
            child = await self.store.child_run(run_id, step.agent_id) if step.status != "completed" else None
            if child is not None and child.relation == "child":
                with contextlib.suppress(UsageError):  # it ended already
                    await self.cancel_run(child.run_id)
        return ended

    def stop_adopting(self) -> None:
        """Take no more runs of dead nodes (a draining daemon), nor work items of the cluster; the ones taken
        already go on."""
        self._adopting = False
        if self.cluster is not None:
            self.cluster.stop_claiming()

    async def _adopt_orphans(self) -> list[asyncio.Task[object]]:
        """Resume the runs whose driver stopped; returns the tasks taking them up."""
        if not self._adopting:
            return []
        # A run of this node's own without a driver (it died on a database error) is taken up again too,
        # but only when it was so at the previous beat as well: a run seen once may be between its first
        # commit and its driver's start.
        suspects, self._driverless = self._driverless, set()
        adopting = []
        for run in await self.interrupted_runs():
            if run.relation == "child" or run.run_id in self._active_runs:
                continue
            if run.owner == self.owner and run.run_id not in suspects:
                self._driverless.add(run.run_id)
                continue
            log.info("adopting run %s of %s (its driver stopped)", run.run_id, run.owner)
            adopting.append(self._spawn(self._adopt(run.run_id), f"adopt:{run.run_id}"))
        return adopting

    async def _adopt(self, run_id: str) -> None:
        try:
            await self._resume_quietly(run_id)
        except Exception:  # another node took it, or the database failed: the next beat looks again
            log.warning("could not adopt run %s", run_id, exc_info=True)

    # ------------------------------------------------------------------ MCP servers

    def _mcp_changed(self, connection: MCPConnection) -> None:
        self._mcp_tools.sync(connection)
        state = connection.state
        if self._mcp_status.get(state.name) != state.status:  # status changes only, not every relisting
            self._mcp_status[state.name] = state.status
            payload = {"server": state.name, "status": state.status, "error": state.last_error}
            self.bus.publish(RuntimeEvent(MCP_SERVER_STATUS, self.clock.now(), produced_by="mcp", payload=payload))

    def _mcp_notice(self, server: str, payload: dict[str, object]) -> None:
        payload = {"server": server, **payload}
        event = RuntimeEvent(MCP_LOG, self.clock.now(), produced_by=f"mcp:{server}", payload=payload)
        self.bus.publish(event)

    def _mcp_progress(self, server: str, payload: dict[str, object], ctx: ToolContext) -> None:
        event = RuntimeEvent(
            MCP_PROGRESS,
            self.clock.now(),
            run_id=ctx.run_id,
            agent_id=ctx.agent_id,
            produced_by=f"mcp:{server}",
            payload={"server": server, **payload},
        )
        self.bus.publish(event)

    # ------------------------------------------------------------------ agents and providers

    def provider(self, name: str) -> Provider:
        """The provider called ``name``, wrapped in its configured fallback chain (built once)."""
        key = f"chain:{name}"
        provider = self._providers.get(key)
        if provider is None:
            provider = self._base_provider(name)
            section = getattr(self.config.providers, name, None)
            fallback = [n for n in getattr(section, "fallback", None) or [] if n != name]
            if fallback and name not in self._injected:
                from axocoatl.providers.http import FallbackProvider

                provider = FallbackProvider(provider, [self._base_provider(n) for n in fallback])
            self._providers[key] = provider
        return provider

    def _base_provider(self, name: str) -> Provider:
        provider = self._providers.get(name)
        if provider is None:
            provider = build_provider(self.config, name)
            limit = getattr(getattr(self.config.providers, name, None), "max_concurrency", None)
            if limit is not None:
                provider = ConcurrencyCapped(provider, limit)
            self._providers[name] = provider
        return provider

    def _build_agent(self, agent_id: str) -> Agent:
        config = self.config.agent(agent_id)
        assert config is not None
        return self._agent_from(config)

    def _build_adhoc_agent(self, config: AgentConfig) -> Agent:
        """A coordinator's ad-hoc worker (not in the config): the caller stops it when its pass ends.

        Its commands run under its sandbox tier (the coordinator's), like any configured agent's."""
        if config.id not in self.tool_services.runners:
            runners, choices = agent_runners(self.config.model_copy(update={"agents": [config]}))
            log_choices(choices)
            self.tool_services.runners.update(runners)
        return self._agent_from(config)

    def _agent_from(self, config: AgentConfig) -> Agent:
        agent_id = config.id
        memory = self.memory.for_agent(config)
        return Agent(
            config,
            provider=lambda: self.provider(config.provider),
            toolbox=lambda: self.tools.view(agent_id, config.tool_names, extra=memory.tools()),
            store=self.store,
            clock=self.clock,
            counter=self.counter,
            memory=memory,
            tools=self.tool_services,
            workspace=lambda thread: self.thread_workspace(agent_id, thread),
            leases=bool(getattr(self.store, "shared", False)),
        )

    # ------------------------------------------------------------------ workspaces

    def thread_workspace(self, agent_id: str, thread: str | None) -> Path:
        """Where a conversation's tools work: the agent's workspace, else a directory per thread."""
        config = self.config.agent(agent_id)
        if config is not None and config.workspace:
            return _existing_dir(config.workspace, f"agents[{agent_id}].workspace")
        # Made by the first tool that uses it (tools/workspace.py): most turns call no file tool.
        return self.data_dir / "workspaces" / "threads" / _safe(agent_id) / _safe(thread or "steps")

    def _run_workspaces(self, run_id: str, plan: RunPlan, override: Path | None) -> dict[str, Path]:
        """Each step's workspace: the agent's own, else ``override`` (--workspace), else the workflow's,
        else a fresh directory for the run under the data dir."""
        workflow = self.config.workflow(plan.workflow_id) if plan.kind == "workflow" else None
        shared: Path | None = None
        if override is not None:
            shared = _existing_dir(str(override), "--workspace")
        elif workflow is not None and workflow.workspace:
            shared = _existing_dir(workflow.workspace, f"workflows[{workflow.id}].workspace")
        chosen: dict[str, Path] = {}
        for node in plan.nodes:
            agent = self.config.agent(node.agent_id)
            if agent is not None and agent.workspace:
                chosen[node.agent_id] = _existing_dir(agent.workspace, f"agents[{agent.id}].workspace")
            else:
                if shared is None:  # made by the first tool that uses it
                    shared = self.data_dir / "workspaces" / run_id
                chosen[node.agent_id] = shared
        return chosen

    async def _workspace_records(self, run_id: str, workspaces: dict[str, Path]) -> list[WorkspaceRecord]:
        # A fresh default directory has nothing to diff against: only a given one may be a git checkout.
        fresh = self.data_dir / "workspaces" / run_id
        baselines = {
            path: None if path == fresh else await asyncio.to_thread(git_baseline, path)
            for path in set(workspaces.values())
        }
        return [WorkspaceRecord(run_id, a, str(p), baselines[p]) for a, p in workspaces.items()]

    async def run_workspaces(self, run_id: str) -> list[WorkspaceRecord]:
        """The directories a run's steps work in, and the git commit each started from."""
        return await self.store.load_workspaces(run_id)

    def agent(self, agent_id: str) -> Agent:
        agent = self.agents.get(agent_id)
        if agent is None:
            raise NotFound(
                f"unknown agent '{agent_id}'", hint=_suggest(agent_id, list(self.agents), "agent", "agents list")
            )
        return agent

    async def execute(
        self,
        agent_id: str,
        agent_input: str | AgentInput,
        *,
        thread: str = DEFAULT_THREAD,
        sink: StreamSink | None = None,
        workspace: Path | None = None,
    ) -> AgentOutput:
        """Send one message to an agent, on one of its conversation threads, and wait for the committed reply.

        ``workspace``: the directory its tools work in (default: the agent's, or one per thread)."""
        if isinstance(agent_input, str):
            agent_input = AgentInput(agent_input)
        root = _existing_dir(str(workspace), "--workspace") if workspace is not None else None
        return await self.agent(agent_id).execute(agent_input, thread=thread, sink=sink, workspace=root)

    async def restart_agent(self, agent_id: str) -> Agent:
        """Stop an agent and start a fresh actor from its committed state."""
        old = self.agent(agent_id)
        # Register the new actor before stopping the old one: a workflow step whose turn the
        # stop interrupts is re-run on the replacement (RunDriver) instead of failing.
        new = self.agents[agent_id] = self._build_agent(agent_id)
        await old.stop()
        await new.restore()
        return new

    # Used by the daemon (runtime/daemon.py) to reload the config and drain at shutdown.

    def build_agent(self, agent_id: str) -> Agent:
        """A fresh actor for ``agent_id`` from the current config; its state loads from the store."""
        return self._build_agent(agent_id)

    def forget_providers(self) -> list[Provider]:
        """Drop cached providers so the next call builds them from ``self.config``.

        Returns the dropped base providers for the caller to close once nothing uses them.
        """
        dropped = [p for n, p in self._providers.items() if n not in self._injected and not n.startswith("chain:")]
        self._providers = {n: p for n, p in self._providers.items() if n in self._injected}
        return dropped

    def active_run_ids(self) -> list[str]:
        """Runs this process is driving right now."""
        return list(self._active_runs)

    async def wait_for_runs(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the active runs to end; True if none is left.

        A run whose every running step waits for a person's approval is not waited for: it cannot end
        by itself, and it resumes (still waiting, with its deadline) at the next start."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            busy = [t for run_id, t in self._active_runs.items() if not self._waits_for_people(run_id)]
            left = deadline - loop.time()
            if not busy or left <= 0:
                break
            await asyncio.wait(busy, timeout=min(left, 0.1))
        return not self._active_runs

    def _waits_for_people(self, run_id: str) -> bool:
        driver = self._drivers.get(run_id)
        return driver is not None and driver.waiting_for_approval

    # ------------------------------------------------------------------ runs

    async def run_workflow(self, workflow_id: str, task: str, *, workspace: Path | None = None) -> RunRecord:
        """Run a workflow to its end and return the finished run."""
        _, done = await self.start_workflow(workflow_id, task, workspace=workspace)
        return await done

    async def start_workflow(
        self, workflow_id: str, task: str, *, workspace: Path | None = None
    ) -> tuple[str, asyncio.Task[RunRecord]]:
        """Start a workflow run; returns its id at once and the task that finishes it.

        ``workspace``: the directory its agents work in (an agent's own ``workspace:`` still wins)."""
        workflow = self.config.workflow(workflow_id)
        if workflow is None:
            names = [w.id for w in self.config.workflows]
            raise NotFound(
                f"unknown workflow '{workflow_id}'", hint=_suggest(workflow_id, names, "workflow", "workflow list")
            )
        return await self._start(plan_workflow(self.config, workflow), task, workspace)

    async def fire_skill(self, skill_id: str, task: str = "") -> tuple[str, asyncio.Task[RunRecord]]:
        """Fire a skill: publish its events and run every agent that reacts to them."""
        skill = next((s for s in self.config.skills if s.id == skill_id), None)
        if skill is None:
            names = [s.id for s in self.config.skills]
            raise NotFound(f"unknown skill '{skill_id}'", hint=_suggest(skill_id, names, "skill", "validate"))
        return await self._start(plan_skill(self.config, skill), task)

    async def _start_scheduled(
        self, schedule: ScheduleConfig, run_id: str, task: str, claim: ScheduleClaim
    ) -> tuple[str, asyncio.Task[RunRecord]]:
        """A schedule's run, committed together with its claim of the slot (or refused with it)."""
        plan = self._target_plan(f"schedule '{schedule.id}'", schedule.workflow, schedule.agent)
        trigger = schedule_trigger(schedule.id)
        return await self._start(plan, task, trigger=trigger, run_id=run_id, extra=WriteBatch(schedule_claims=[claim]))

    async def _start_proactive(
        self, entry: ProactiveConfig, task: str, claim: CursorClaim
    ) -> tuple[str, asyncio.Task[RunRecord]]:
        """A proactive entry's run, committed with its move over the event that fired it (or refused with it)."""
        plan = self._target_plan(f"proactive '{entry.id}'", entry.workflow, entry.agent)
        return await self._start(plan, task, trigger=f"proactive:{entry.id}", extra=WriteBatch(cursor_claims=[claim]))

    async def start_triggered(
        self, what: str, workflow: str | None, agent: str | None, task: str, *, trigger: str
    ) -> tuple[str, asyncio.Task[RunRecord]]:
        """A run of a workflow (or one agent) started by an automation; ``trigger`` is recorded on the run."""
        return await self._start(self._target_plan(what, workflow, agent), task, trigger=trigger)

    async def fire_trigger(
        self, name: str, body: bytes, headers: Mapping[str, str]
    ) -> tuple[str, asyncio.Task[RunRecord]]:
        """``POST /hooks/NAME``: verify the request, then start the trigger's run (trigger ``webhook:NAME``)."""

        async def start(what: str, workflow: str | None, agent: str | None, task: str) -> tuple[str, Any]:
            return await self.start_triggered(what, workflow, agent, task, trigger=f"webhook:{name}")

        return await self.triggers.fire(name, body, headers, start)

    def _target_plan(self, what: str, workflow_id: str | None, agent_id: str | None) -> RunPlan:
        if agent_id is not None:
            agent = self.config.agent(agent_id)
            if agent is None:
                raise UsageError(f"{what} runs unknown agent '{agent_id}'")
            return plan_agent(agent)
        workflow = self.config.workflow(workflow_id or "")
        if workflow is None:
            raise UsageError(f"{what} runs unknown workflow '{workflow_id}'")
        return plan_workflow(self.config, workflow)

    async def _start(
        self,
        plan: RunPlan,
        task: str,
        workspace: Path | None = None,
        *,
        trigger: str = "manual",
        run_id: str | None = None,
        extra: WriteBatch | None = None,
        link: tuple[str, str, int] | None = None,
    ) -> tuple[str, asyncio.Task[RunRecord]]:
        self._require_started()
        if self.webhooks.hooks():
            self.deliver_webhooks()
        now = self.clock.now()
        run = new_run_record(run_id or new_run_id(), plan, task, owner=self.owner, now=now, trigger=trigger)
        if link is not None:  # a sub-workflow step's child run
            run.parent_run_id, run.parent_step, run.depth = link
            run.relation = "child"
        workspaces = self._run_workspaces(run.run_id, plan, workspace)
        batch = WriteBatch(workspaces=await self._workspace_records(run.run_id, workspaces))
        if extra is not None:
            batch.extend(extra)
        driver = self._driver(RunState(run, plan, plan.lattice(), outputs={}, seq=0), workspaces)
        outcome = await driver.start({"input": task[:2000], "trigger": trigger}, batch)
        return run.run_id, self._track(run.run_id, driver.drive(outcome.activated))

    async def start_child(
        self, plan: RunPlan, task: str, link: tuple[str, str, int]
    ) -> tuple[str, asyncio.Task[RunRecord]]:
        """The child run of a sub-workflow step: ``link`` is (parent run, parent step, depth)."""
        return await self._start(plan, task, trigger=f"parent:{link[0]}", link=link)

    def run_task(self, run_id: str) -> asyncio.Task[RunRecord] | None:
        """The task driving ``run_id`` in this process, if one does."""
        return self._active_runs.get(run_id)

    async def start_fork(
        self, run_id: str, from_step: str, task: str | None = None, *, workspace: Path | None = None
    ) -> tuple[str, asyncio.Task[RunRecord]]:
        """Fork ``run_id`` at ``from_step``: a new run reusing the steps before it (see runtime/forks.py).

        ``task``: a new input for the steps that run again (default: the parent's input)."""
        self._require_started()
        parent = await self.get_run(run_id)
        plan = RunPlan.from_json(parent.spec)
        now = self.clock.now()
        state = fork_state(parent, plan, from_step, task, run_id=new_run_id(), owner=self.owner, now=now)
        workspaces = self._run_workspaces(state.run.run_id, plan, workspace)
        records = await self._workspace_records(state.run.run_id, workspaces)
        driver = self._driver(state, workspaces)
        payload = {"input": state.run.input[:2000], "trigger": state.run.trigger, "forked_from": run_id}
        payload["step"] = from_step
        outcome = await driver.commit(lambda at: state.start_restored(at, payload), WriteBatch(workspaces=records))
        return state.run.run_id, self._track(state.run.run_id, driver.drive(outcome.activated))

    def _track(self, run_id: str, coro: object) -> asyncio.Task[RunRecord]:
        task = self._spawn(coro, f"run:{run_id}")
        self._active_runs[run_id] = task  # type: ignore[assignment]

        def ended(_: object) -> None:
            self._active_runs.pop(run_id, None)
            self._run_workflows.pop(run_id, None)
            self._drivers.pop(run_id, None)

        task.add_done_callback(ended)
        return task  # type: ignore[return-value]

    def _driver(self, state: RunState, workspaces: dict[str, Path]) -> RunDriver:
        self._run_workflows[state.run.run_id] = state.run.workflow_id
        driver = self._drivers[state.run.run_id] = RunDriver(
            state=state,
            agents=self.agents.get,
            store=self.store,
            bus=self.bus,
            clock=self.clock,
            workspaces=workspaces,
            children=self._children,
            adhoc=self._build_adhoc_agent,
            remote=self.cluster.steps if self.cluster is not None else None,
        )
        return driver

    async def get_run(self, run_id: str) -> RunRecord:
        run = await self.store.get_run(run_id)
        if run is None:
            raise await unknown_run(self.store, run_id)
        return self.with_liveness(run)

    def with_liveness(self, run: RunRecord) -> RunRecord:
        """Report a running run that nobody drives any more as ``interrupted``: its owner process
        is gone, or it is this process and the run's driver died (a database error)."""
        orphaned = run.owner == self.owner or not owner_alive(run.owner, run.heartbeat_at, self.clock.now())
        if run.status == "running" and run.run_id not in self._active_runs and orphaned:
            run.status = "interrupted"
        return run

    async def interrupted_runs(self) -> list[RunRecord]:
        runs = await self.store.list_runs(status="running", limit=1000)
        return [r for r in map(self.with_liveness, runs) if r.status == "interrupted"]

    async def _resume_quietly(self, run_id: str) -> None:
        try:
            await self.resume_run(run_id)
        except UsageError as exc:
            log.info("not resuming %s: %s", run_id, exc)

    async def resume_run(self, run_id: str) -> RunRecord:
        """Finish an interrupted run, or retry a failed one; completed steps never run again."""
        _, done = await self.start_resume(run_id)
        return await done

    async def start_resume(self, run_id: str) -> tuple[str, asyncio.Task[RunRecord]]:
        self._require_started()
        if run_id in self._active_runs:
            raise UsageError(f"run '{run_id}' is already running in this process")
        if self.webhooks.hooks():
            self.deliver_webhooks()
        run = await self.get_run(run_id)
        if run.status == "completed":
            raise UsageError(f"run '{run_id}' already completed; nothing to resume")
        if run.status == "waiting":
            raise UsageError(
                f"run '{run_id}' is waiting for an answer, not interrupted",
                hint=f"answer it with `axocoatl runs answer {run_id} -m TEXT` (see `axocoatl runs show {run_id}`)",
            )
        if run.status == "cancelled":
            # Cancelled with steps left: it goes on as an interrupted run would (committed steps stay).
            driver = await self._claim_and_rebuild(run, "cancelled", retry=False)
            outcome = await driver.resume(retry=False)
            return run.run_id, self._track(run.run_id, driver.drive(outcome.activated))
        if run.status == "running":
            raise UsageError(
                f"run '{run_id}' is being executed by another process ({run.owner})",
                hint="wait for it, or stop that process first",
            )
        expected_status = "running" if run.status == "interrupted" else "failed"
        retry = expected_status == "failed"
        driver = await self._claim_and_rebuild(run, expected_status, retry=retry)
        outcome = await driver.resume(retry=retry)
        return run.run_id, self._track(run.run_id, driver.drive(outcome.activated))

    async def start_answer(
        self, run_id: str, answer: str, step: str | None = None
    ) -> tuple[str, asyncio.Task[RunRecord]]:
        """Answer a run waiting for a human (``step``: which waiting step, when several wait) and drive it on.

        An answer that comes after the question's deadline is too late: the interrupt's timeout policy applies."""
        self._require_started()
        run = await self.get_run(run_id)
        waiting = [s for s in run.steps if s.status == "waiting"]
        if run.status != "waiting" or not waiting:
            raise UsageError(
                f"run '{run_id}' is not waiting for an answer (it is {run.status})",
                hint=f"see `axocoatl runs show {run_id}`",
            )
        names = [s.agent_id for s in waiting]
        if step is None:
            if len(waiting) > 1:
                raise UsageError(
                    f"run '{run_id}' waits for answers at {len(waiting)} steps: {', '.join(names)}",
                    hint=f"name the step: `axocoatl runs answer {run_id} STEP -m TEXT`",
                )
            step = names[0]
        elif step not in names:
            raise NotFound(
                f"step '{step}' of run '{run_id}' is not waiting for an answer",
                hint=f"the waiting step(s): {', '.join(names)}",
            )
        target = step
        driver = await self._claim_and_rebuild(run, "waiting", retry=False)
        state = driver.state
        deadline = state.steps[target].wait_until

        def transition(now: float) -> Outcome:
            if deadline is not None and now >= deadline:
                return state.expire(target, now)
            return state.answer(target, answer, now)

        outcome = await driver.commit(transition)
        return run.run_id, self._track(run.run_id, self._drive_then_parent(driver, outcome.activated))

    async def _drive_then_parent(self, driver: RunDriver, dispatch: list[str]) -> RunRecord:
        """Drive an answered run; a child run that no longer waits then lets its waiting parent go on."""
        run = await driver.drive(dispatch)
        if run.relation != "child" or run.parent_run_id is None or run.status == "waiting":
            return run
        if self.run_task(run.parent_run_id) is not None:
            return run  # the parent's step is waiting on this run in this process: it goes on by itself
        parent = await self.store.get_run(run.parent_run_id)
        step = next((s for s in parent.steps if s.agent_id == run.parent_step), None) if parent else None
        if parent is not None and parent.status == "waiting" and step is not None and step.status == "waiting":
            try:
                await self.start_answer(parent.run_id, "", step.agent_id)
            except UsageError as exc:  # another process took the parent up first
                log.info("not waking %s: %s", parent.run_id, exc)
        return run

    async def expire_waits(self) -> list[str]:
        """Apply the timeout policy of every question whose deadline passed; returns the runs it moved."""
        moved = []
        for run in await self.store.list_runs(status="waiting", limit=1000):
            now = self.clock.now()
            due = [s for s in run.steps if s.status == "waiting" and s.wait_until is not None and s.wait_until <= now]
            if not due or run.run_id in self._active_runs:
                continue
            try:
                await self.start_answer(run.run_id, "", due[0].agent_id)
            except UsageError as exc:  # another process took it first
                log.info("not expiring %s: %s", run.run_id, exc)
                continue
            moved.append(run.run_id)
        return moved

    async def _expire_loop(self) -> None:
        while True:
            await asyncio.sleep(WAIT_CHECK_SECS)
            try:
                await self.expire_waits()
            except Exception:  # keep checking; one bad run must not stop the loop
                log.exception("checking question deadlines failed")

    async def _claim_and_rebuild(self, run: RunRecord, expected_status: str, *, retry: bool) -> RunDriver:
        """Take the run over (compare-and-set on its owner and status) and rebuild its state from the
        committed step outcomes; a failed run being retried replays only its completions."""
        run_id = run.run_id
        now = self.clock.now()
        claimed = await self.store.claim_run(
            run_id, owner=self.owner, expected_owner=run.owner, expected_status=expected_status, now=now
        )
        if not claimed:
            raise UsageError(f"run '{run_id}' was taken over by another process just now")
        plan = RunPlan.from_json(run.spec)
        lattice = plan.lattice()
        lattice.start(run.started_at)
        for event in plan.initial_events:
            lattice.publish(event, run.started_at, producer=plan.workflow_id)
        outputs: dict[str, str] = {}
        terminal = sorted(
            (s for s in run.steps if s.completed_seq is not None and s.status in ("completed", "failed")),
            key=lambda s: s.completed_seq or 0,
        )
        for step in terminal:
            at = step.finished_at or now
            if step.status == "completed":
                lattice.restore_completed(step.agent_id, at, step.output or "")
                outputs[step.agent_id] = step.output or ""
            elif not retry:
                lattice.restore_failed(step.agent_id, at, step.error or "")
        for step in run.steps:
            if step.status == "waiting" and lattice.state(step.agent_id) == "pending":
                lattice.restore_active(step.agent_id)  # activated by a signal the log cannot show (an event)
        seq = max((s.completed_seq or 0 for s in run.steps), default=0)
        run.status, run.owner, run.error, run.finished_at = "running", self.owner, None, None
        workspaces = {w.agent_id: Path(w.path) for w in await self.store.load_workspaces(run_id)}
        for node in plan.nodes:  # a run started before workspaces were recorded: one fresh directory
            if node.agent_id not in workspaces:
                workspaces[node.agent_id] = self.data_dir / "workspaces" / run_id
        driver = self._driver(RunState(run, plan, lattice, outputs=outputs, seq=seq), workspaces)
        driver.timeout_from = now
        return driver

    def _require_started(self) -> None:
        if not self._started:
            raise UsageError("the runtime is not started", hint="use `async with Runtime(...) as rt:`")


def _existing_dir(path: str, where: str) -> Path:
    folder = Path(path).expanduser()
    shown = path if len(path) <= 200 else path[:200] + "…"
    hint = "create it first, or point at an existing one"
    try:
        usable = folder.is_dir()
    except OSError as exc:  # a name too long, a permission denied on the way
        raise UsageError(f"{where}: workspace '{shown}' cannot be used: {exc.strerror}", hint=hint) from None
    if not usable:
        raise UsageError(f"{where}: workspace '{shown}' is not a directory", hint=hint)
    return folder.resolve()


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "_"


async def unknown_run(store: Store, run_id: str) -> NotFound:
    """The error for a run id the store does not know, suggesting a recent run id close to it."""
    recent = [r.run_id for r in await store.list_runs(limit=500)]
    # Run ids share a long date prefix: only a near miss (a typo, a cut-off paste) is suggested.
    close = closest(run_id, recent, cutoff=0.85)
    hint = "list runs with `axocoatl runs list`"
    if close:
        hint = f"did you mean '{close}'? ({hint})"
    return NotFound(f"no run '{run_id}'", hint=hint)


def _suggest(name: str, options: list[str], noun: str, command: str) -> str:
    return did_you_mean(name, options, noun=noun, known=True, none=f"none are configured; see `axocoatl {command}`")


# Python collects generation 0 every 700 container allocations, and each full collection rescans every
# object alive, the hundreds of thousands made at import (pydantic models, SDK types) included: with
# 1,000 concurrent runs the collector took ~40 % of the process's CPU. Once per process, the objects alive
# when the first runtime starts leave the collector's scans (gc.freeze: refcounting still frees them) and
# generation 0 waits for 10,000 allocations, unless the program set its own thresholds.
_PYTHON_GEN0_THRESHOLD = 700
GC_GEN0_THRESHOLD = 10_000
_gc_tuned = False


def _tune_gc() -> None:
    global _gc_tuned
    if _gc_tuned:
        return
    _gc_tuned = True
    gen0, gen1, gen2 = gc.get_threshold()
    if gen0 == _PYTHON_GEN0_THRESHOLD:
        gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)
    gc.freeze()
