"""The Runtime owns everything: store, providers, tools, agents, the bus and the runs.

async with Runtime(config, data_dir=Path(".axocoatl")) as rt:
    run = await rt.run_workflow("research", "What is WAL mode?")
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from axocoatl.agents.actor import Agent
from axocoatl.config.schema import AxocoatlConfig, ScheduleConfig
from axocoatl.core.errors import NotFound, UsageError
from axocoatl.core.events import StreamSink
from axocoatl.core.ids import Clock, SystemClock, new_run_id
from axocoatl.core.messages import AgentInput, AgentOutput
from axocoatl.core.suggest import closest, did_you_mean
from axocoatl.memory.agent_memory import MemoryServices
from axocoatl.memory.embedding import Embedder
from axocoatl.memory.session import DEFAULT_THREAD
from axocoatl.providers.base import ConcurrencyCapped, Provider
from axocoatl.providers.registry import build_provider
from axocoatl.runtime.bus import EventBus
from axocoatl.runtime.consolidation import ConsolidationLoop
from axocoatl.runtime.data_dir import prepare_data_dir
from axocoatl.runtime.ownership import HEARTBEAT_INTERVAL, owner_alive, process_owner
from axocoatl.runtime.plans import RunPlan, plan_agent, plan_skill, plan_workflow
from axocoatl.runtime.schedules import Scheduler
from axocoatl.runtime.transitions import RunState, new_run_record
from axocoatl.runtime.workflows import RunDriver
from axocoatl.store import RunRecord, ScheduleClaim, Store, WorkspaceRecord, WriteBatch, create_store
from axocoatl.tokens.counter import TokenCounter, default_counter
from axocoatl.tools.builtins import BUILTIN_TOOLS
from axocoatl.tools.pipeline import ToolServices
from axocoatl.tools.python_tools import load_python_tools
from axocoatl.tools.registry import ToolRegistry
from axocoatl.tools.workspace import git_baseline

log = logging.getLogger(__name__)


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
        self.tool_services = ToolServices(settings=config.tools, web_search=config.web_search)
        self.owner = process_owner()
        self.auto_resume = auto_resume
        # Long-running (the daemon): starts background loops such as sleep-time consolidation.
        self.background = background
        self.memory = MemoryServices(self.store, self.clock, self.counter, embedder)
        self.consolidation = ConsolidationLoop(lambda: self.agents.values(), config.consolidation, self.clock)
        self._providers: dict[str, Provider] = dict(providers or {})
        self._injected = set(self._providers)
        self.agents: dict[str, Agent] = {}
        self._tasks: set[asyncio.Task[object]] = set()
        self._active_runs: dict[str, asyncio.Task[RunRecord]] = {}
        self._started = False
        self.scheduler = Scheduler(lambda: self.config, self.store, self.clock, self.bus, self._start_scheduled)

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
        prepare_data_dir(self.data_dir)
        await self.store.open()
        try:
            for agent_config in self.config.agents:
                self.agents[agent_config.id] = self._build_agent(agent_config.id)
            for agent in self.agents.values():  # checkpoints: turns, usage, last activity (one small read each)
                await agent.restore()
            self._started = True
            self._spawn(self._heartbeat(), "heartbeat")
            if self.background and self.config.consolidation.enabled:
                self._spawn(self.consolidation.run(), "consolidation")
            if self.background:
                self._spawn(self.scheduler.run(), "scheduler")
            if self.auto_resume:
                for run in await self.interrupted_runs():
                    self._spawn(self._resume_quietly(run.run_id), f"resume:{run.run_id}")
        except BaseException:
            # A partial start leaves nothing running: no task, no open database, no agent.
            self._started = True
            await self.aclose()
            self.agents.clear()
            raise

    async def aclose(self) -> None:
        """Stop background work and agents, then close providers and the store."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        # No LLM call and no embedding at exit: consolidation runs in the daemon's idle time
        # (or `axocoatl memory consolidate`), and unembedded memories are embedded at the next load.
        for agent in self.agents.values():
            await agent.stop()
        await self.tool_services.tasks.aclose()
        for name, provider in self._providers.items():
            if name not in self._injected and not name.startswith("chain:"):
                with contextlib.suppress(Exception):
                    await provider.aclose()
        if self._started:
            await self.store.close()
        self._started = False

    def _spawn(self, coro: object, name: str) -> asyncio.Task[object]:
        task: asyncio.Task[object] = asyncio.create_task(coro, name=name)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_INTERVAL)
            try:
                await self.store.heartbeat(self.owner, self.clock.now())
            except Exception:  # keep beating; a transient database error must not stop the runtime
                log.exception("heartbeat failed")

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
        memory = self.memory.for_agent(config)
        return Agent(
            config,
            provider=lambda: self.provider(config.provider),
            toolbox=lambda: self.tools.view(agent_id, config.tools, extra=memory.tools()),
            store=self.store,
            clock=self.clock,
            counter=self.counter,
            memory=memory,
            tools=self.tool_services,
            workspace=lambda thread: self.thread_workspace(agent_id, thread),
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
        """Wait up to ``timeout`` seconds for the active runs to end; True if none is left."""
        tasks = list(self._active_runs.values())
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
        return not self._active_runs

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
        if schedule.agent is not None:
            agent = self.config.agent(schedule.agent)
            if agent is None:
                raise UsageError(f"schedule '{schedule.id}' runs unknown agent '{schedule.agent}'")
            plan = plan_agent(agent)
        else:
            workflow = self.config.workflow(schedule.workflow or "")
            if workflow is None:
                raise UsageError(f"schedule '{schedule.id}' runs unknown workflow '{schedule.workflow}'")
            plan = plan_workflow(self.config, workflow)
        trigger = f"schedule:{schedule.id}"
        return await self._start(plan, task, trigger=trigger, run_id=run_id, extra=WriteBatch(schedule_claims=[claim]))

    async def _start(
        self,
        plan: RunPlan,
        task: str,
        workspace: Path | None = None,
        *,
        trigger: str = "manual",
        run_id: str | None = None,
        extra: WriteBatch | None = None,
    ) -> tuple[str, asyncio.Task[RunRecord]]:
        self._require_started()
        now = self.clock.now()
        run = new_run_record(run_id or new_run_id(), plan, task, owner=self.owner, now=now, trigger=trigger)
        workspaces = self._run_workspaces(run.run_id, plan, workspace)
        # A fresh default directory has nothing to diff against: only a given one may be a git checkout.
        fresh = self.data_dir / "workspaces" / run.run_id
        baselines = {
            path: None if path == fresh else await asyncio.to_thread(git_baseline, path)
            for path in set(workspaces.values())
        }
        records = [WorkspaceRecord(run.run_id, a, str(p), baselines[p]) for a, p in workspaces.items()]
        batch = WriteBatch(workspaces=records)
        if extra is not None:
            batch.extend(extra)
        driver = self._driver(RunState(run, plan, plan.lattice(), outputs={}, seq=0), workspaces)
        outcome = await driver.start({"input": task[:2000], "trigger": trigger}, batch)
        return run.run_id, self._track(run.run_id, driver.drive(outcome.activated))

    def _track(self, run_id: str, coro: object) -> asyncio.Task[RunRecord]:
        task = self._spawn(coro, f"run:{run_id}")
        self._active_runs[run_id] = task  # type: ignore[assignment]
        task.add_done_callback(lambda _: self._active_runs.pop(run_id, None))
        return task  # type: ignore[return-value]

    def _driver(self, state: RunState, workspaces: dict[str, Path]) -> RunDriver:
        return RunDriver(
            state=state,
            agents=self.agents.get,
            store=self.store,
            bus=self.bus,
            clock=self.clock,
            workspaces=workspaces,
        )

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
        run = await self.get_run(run_id)
        if run.status == "completed":
            raise UsageError(f"run '{run_id}' already completed; nothing to resume")
        if run.status == "running":
            raise UsageError(
                f"run '{run_id}' is being executed by another process ({run.owner})",
                hint="wait for it, or stop that process first",
            )
        expected_status = "running" if run.status == "interrupted" else "failed"
        now = self.clock.now()
        claimed = await self.store.claim_run(
            run_id, owner=self.owner, expected_owner=run.owner, expected_status=expected_status, now=now
        )
        if not claimed:
            raise UsageError(f"run '{run_id}' was taken over by another process just now")
        retry = expected_status == "failed"
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
                lattice.restore_completed(step.agent_id, at)
                outputs[step.agent_id] = step.output or ""
            elif not retry:
                lattice.restore_failed(step.agent_id, at, step.error or "")
        seq = max((s.completed_seq or 0 for s in run.steps), default=0)
        run.status, run.owner, run.error, run.finished_at = "running", self.owner, None, None
        workspaces = {w.agent_id: Path(w.path) for w in await self.store.load_workspaces(run_id)}
        for node in plan.nodes:  # a run started before workspaces were recorded: one fresh directory
            if node.agent_id not in workspaces:
                workspaces[node.agent_id] = self.data_dir / "workspaces" / run_id
        driver = self._driver(RunState(run, plan, lattice, outputs=outputs, seq=seq), workspaces)
        driver.timeout_from = now
        outcome = await driver.resume(retry=retry)
        return run.run_id, self._track(run.run_id, driver.drive(outcome.activated))

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
