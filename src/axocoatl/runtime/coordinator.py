"""A coordinator pass: plan the goal, auction each subtask, run the workers in parallel, synthesize.

The coordinator is the entry step of a coordinator workflow (docs/coordinator.md). Its pass is
durable: the plan, every bid round and every subtask attempt commit into the run's plan document
(the ``run_plans`` table) before they are published. A resumed pass reads that document back:
finished subtasks never run again, an attempt that was in flight runs again on the same worker
(its tool journal replays what finished), and the synthesis is the coordinator step's own turn,
so it commits once, with the step.
"""

from __future__ import annotations

import asyncio
import copy
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from axocoatl.agents.actor import Agent, describe_error
from axocoatl.config.schema import AgentConfig, AgentMemoryConfig
from axocoatl.coordination import auction as auctions
from axocoatl.coordination.decomposition import GOAL_SYSTEM, TASK_SYSTEM, goal_prompt, read_subtasks, task_prompt
from axocoatl.coordination.htn import Task, plan, root_task
from axocoatl.core import events as ev
from axocoatl.core.errors import OwnershipLost, PlanningError, UsageError
from axocoatl.core.events import AgentStreamEvent, RuntimeEvent
from axocoatl.core.ids import Clock, new_id
from axocoatl.core.messages import AgentInput, AgentOutput, TokenUsage
from axocoatl.runtime.plans import CoordinatorSpec
from axocoatl.store import ApprovalRecord, EventRecord, RunPlanWrite, Store, WriteBatch
from axocoatl.tools.context import HumanReply

if TYPE_CHECKING:
    from axocoatl.agents.actor import StepCommit
    from axocoatl.runtime.workflows import RunDriver

log = logging.getLogger(__name__)

HISTORY_RUNS = 20  # how many of the workflow's latest runs feed the bids' past-success term
OUTPUT_EVENT_LIMIT = 4_000  # characters of a subtask's output carried in its SubtaskFinished event
AdhocFactory = Callable[[AgentConfig], Agent]


def synthesis_prompt(goal: str, tasks: list[dict[str, Any]]) -> str:
    """The coordinator's last turn: every result, and the gaps left by subtasks that failed."""
    text = f"Original goal:\n{goal}\n\nWorker results:\n"
    for task in tasks:
        if task["status"] == "completed":
            text += f"\n## {task['name']} (succeeded)\n{task['output']}\n"
    failed = [t for t in tasks if t["status"] != "completed"]
    if failed:
        text += "\nThese subtasks failed — account for the gaps:\n"
        text += "".join(f"- {t['name']}: {t['error']}\n" for t in failed)
    return text + "\nSynthesize these into a single coherent response to the original goal."


def worker_input(goal: str, task: dict[str, Any], earlier: list[dict[str, Any]]) -> str:
    """What a worker receives: its subtask, the goal it serves, and the results it waits for."""
    text = f"Your subtask: {task['description']}\n\nOverall goal: {goal}"
    if earlier:
        text += "\n\nResults of earlier subtasks:\n" + "\n".join(f"[{t['name']}]: {t['output']}" for t in earlier)
    return text


class CoordinatorPass:
    """One coordinator step of one run, driven inside the run's driver."""

    def __init__(
        self,
        driver: RunDriver,
        spec: CoordinatorSpec,
        *,
        agents: Callable[[str], Agent | None],
        adhoc: AdhocFactory | None,
        store: Store,
        clock: Clock,
        sinks: Callable[[str], Callable[[AgentStreamEvent], None] | None],
    ) -> None:
        self.driver = driver
        self._store = store
        self._clock = clock
        self._sinks = sinks
        self.spec = spec
        self.run = driver.run
        self.goal = driver.run.input
        self._agents = agents
        self._adhoc = adhoc
        self._adhoc_agents: dict[str, Agent] = {}
        self._lock = asyncio.Lock()  # one plan-document commit at a time (each computed on the last)
        self._worker_locks: dict[str, asyncio.Lock] = {}  # a worker runs one subtask at a time (its journal)
        self.doc: dict[str, Any] | None = copy.deepcopy(driver.run.plan) if driver.run.plan else None
        self.ledger = auctions.Ledger()
        self._planning = TokenUsage()

    # ------------------------------------------------------------------ the pass

    async def run_step(
        self,
        coordinator: Agent,
        commit: StepCommit,
        sink: Callable[[AgentStreamEvent], None] | None,
        workspace: Path | None,
    ) -> None:
        """Plan (unless a resumed run has its plan), run the subtasks, then the synthesis as the step's turn."""
        try:
            if self.doc is None:
                await self._make_plan(coordinator)
            elif self.driver.retrying:
                await self._reopen_failed()
            await self._run_subtasks(workspace)
        except (asyncio.CancelledError, OwnershipLost):
            raise
        except Exception as exc:
            await commit.fail(exc, WriteBatch())
            return
        finally:
            for agent in self._adhoc_agents.values():
                await agent.stop()
        assert self.doc is not None
        tasks = self.doc["tasks"]
        if not any(t["status"] == "completed" for t in tasks):
            reasons = "; ".join(f"{t['name']}: {t['error']}" for t in tasks)
            error = PlanningError(
                f"all {len(tasks)} subtask(s) failed; nothing to synthesize ({reasons})",
                hint="see `axocoatl runs show RUN_ID` for each attempt; fix the workers, then `axocoatl runs resume`",
            )
            await commit.fail(error, WriteBatch())
            return
        prompt = synthesis_prompt(self.goal, tasks)
        await coordinator.execute(
            AgentInput(prompt, context={"run_id": self.run.run_id, "workflow_id": self.run.workflow_id}),
            thread=coordinator.config.thread,
            sink=sink,
            commit=commit,
            run_id=self.run.run_id,
            workspace=workspace,
        )

    # ------------------------------------------------------------------ planning

    async def _make_plan(self, coordinator: Agent) -> None:
        spec = self.spec
        methods = list(spec.methods or ())
        if spec.methods is None:
            root, facts = Task(self.goal, "Compound"), {"goal": self.goal}
        else:
            root, facts = root_task(self.goal, methods, spec.goal_task)
        state = {**spec.planner_state, **facts}
        resolved: dict[str, list[Task]] = {}
        errors: dict[str, str] = {}
        source = "htn" if spec.methods is not None else "llm"
        rounds = 0
        while True:
            result = plan(root, methods, state, max_depth=spec.max_depth, resolved=resolved)
            if not result.frontiers or rounds >= spec.decomposition_rounds:
                break
            rounds += 1
            for frontier in result.frontiers:
                try:
                    resolved[frontier.name] = await self._decompose(coordinator, frontier, is_goal=frontier is root)
                    errors.pop(frontier.name, None)
                except PlanningError as exc:
                    errors[frontier.name] = exc.message
            if spec.methods is not None:
                source = "htn+llm"
        if result.frontiers:
            left = ", ".join(
                f"'{f.name}'" + (f" ({errors[f.name]})" if f.name in errors else "") for f in result.frontiers
            )
            raise PlanningError(
                f"coordinator '{spec.agent_id}' could not decompose {left} in {spec.decomposition_rounds} round(s)",
                hint="cover these tasks with HTN methods, or use a model that answers with a JSON array",
            )
        if not result.tasks:
            raise PlanningError(
                f"the plan for the goal has no subtasks (root task '{root.name}')",
                hint="give the method(s) for it at least one Primitive subtask",
            )
        doc: dict[str, Any] = {
            "coordinator": spec.agent_id,
            "source": source,
            "root": root.name,
            "state": _jsonable(result.state),
            "tasks": [
                {
                    "id": t.id,
                    "name": t.name,
                    "description": t.description,
                    "tools": list(t.tools),
                    "after": list(t.after),
                    "path": list(t.path),
                    "status": "pending",
                    "worker": None,
                    "score": None,
                    "adhoc": False,
                    "attempts": [],
                    "output": None,
                    "error": None,
                    "tokens": {"input": 0, "output": 0},
                }
                for t in result.tasks
            ],
            "bids": [],
            # the decomposition calls' spend: part of the run's tokens (RunRecord.usage)
            "planning_tokens": self._planning.to_dict(),
        }
        payload = {"source": source, "root": root.name, "tasks": [_task_summary(t) for t in doc["tasks"]]}
        await self._commit(None, [(ev.COORDINATOR_PLAN, None, payload)], replace=doc)

    async def _decompose(self, coordinator: Agent, task: Task, *, is_goal: bool) -> list[Task]:
        tools = sorted(
            {t for w in self.spec.workers if (a := self._agents(w)) is not None for t in a.config.tool_names}
        )
        prompt = goal_prompt(self.goal, tools) if is_goal else task_prompt(task, self.goal, tools)
        output = await coordinator.execute(
            AgentInput(prompt, system_override=GOAL_SYSTEM if is_goal else TASK_SYSTEM, stateless=True),
            thread=None,
            run_id=self.run.run_id,
        )
        self._planning += output.usage
        return read_subtasks(output.content, default_description=task.description)

    # ------------------------------------------------------------------ running the subtasks

    async def _run_subtasks(self, workspace: Path | None) -> None:
        assert self.doc is not None
        await self._restore_ledger()
        running: dict[asyncio.Task[None], str] = {}
        try:
            while True:
                await self._skip_blocked()
                ready = [t for t in self.doc["tasks"] if t["status"] in ("pending", "running") and self._ready(t)]
                ready = [t for t in ready if t["id"] not in running.values()]
                for task in ready[: max(0, self.spec.max_parallel - len(running))]:
                    job = asyncio.create_task(self._attempt(task["id"], workspace), name=f"subtask:{task['id']}")
                    running[job] = task["id"]
                if not running:
                    return
                done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for job in done:
                    running.pop(job)
                    job.result()  # a failure to commit ends the pass (the step fails, the run stays resumable)
        finally:
            for job in running:
                job.cancel()
            if running:
                await asyncio.gather(*running, return_exceptions=True)

    def _ready(self, task: dict[str, Any]) -> bool:
        assert self.doc is not None
        status = {t["id"]: t["status"] for t in self.doc["tasks"]}
        return all(status.get(dep) == "completed" for dep in task["after"])

    async def _skip_blocked(self) -> None:
        """Subtasks waiting for one that failed fail too (a gap the synthesis accounts for)."""
        assert self.doc is not None
        while True:
            status = {t["id"]: t["status"] for t in self.doc["tasks"]}
            blocked = [
                (t["id"], dep)
                for t in self.doc["tasks"]
                if t["status"] == "pending"
                for dep in t["after"]
                if status.get(dep) == "failed"
            ]
            if not blocked:
                return
            task_id, dep = blocked[0]
            error = f"skipped: it waits for '{dep}', which failed"

            def skip(doc: dict[str, Any], task_id: str = task_id, error: str = error) -> None:
                entry = _find(doc, task_id)
                entry["status"], entry["error"] = "failed", error

            await self._commit(
                skip, [(ev.SUBTASK_FINISHED, None, {"task": task_id, "status": "failed", "error": error})]
            )

    async def _reopen_failed(self) -> None:
        """A failed run tried again: its failed subtasks start over with a full set of attempts."""

        def reopen(doc: dict[str, Any]) -> None:
            for task in doc["tasks"]:
                if task["status"] == "failed":
                    task["status"], task["error"], task["retry_from"] = "pending", None, len(task["attempts"])

        assert self.doc is not None
        if any(t["status"] == "failed" for t in self.doc["tasks"]):
            await self._commit(reopen, [])

    async def _attempt(self, task_id: str, workspace: Path | None) -> None:
        """Run one subtask until it succeeds or has used all its attempts."""
        while True:
            assert self.doc is not None
            task = _find(self.doc, task_id)
            attempts = task["attempts"]
            if attempts and attempts[-1]["status"] == "running":
                worker_id = attempts[-1]["worker"]  # resumed: the same worker finishes (its journal replays)
            else:
                worker_id = await self._auction(task)
            lock = self._worker_locks.setdefault(worker_id, asyncio.Lock())
            async with lock:
                commit = _SubtaskCommit(self, task_id, worker_id)
                text = worker_input(
                    self.goal, task, [t for t in self.doc["tasks"] if t["id"] in task["after"] and t["output"]]
                )
                try:
                    agent = self._worker(worker_id, task)
                    await agent.execute(
                        AgentInput(text, context={"run_id": self.run.run_id, "workflow_id": self.run.workflow_id}),
                        thread=agent.config.thread,
                        sink=self._sinks(worker_id),
                        commit=commit,
                        run_id=self.run.run_id,
                        workspace=Path(agent.config.workspace) if agent.config.workspace else workspace,
                    )
                except (asyncio.CancelledError, OwnershipLost):
                    raise
                except Exception as exc:
                    if not commit.done:  # refused before its turn (or no such worker any more): record it here
                        await commit.fail(exc, WriteBatch())
            auctions.release(self.ledger, worker_id)
            task = _find(self.doc, task_id)
            if task["status"] in ("completed", "failed"):
                return

    async def _auction(self, task: dict[str, Any]) -> str:
        """Auction the subtask among the pool; an ad-hoc worker when nobody can bid. Commits the bid round."""
        assert self.doc is not None
        bidders = []
        for order, worker_id in enumerate(self.spec.workers):
            agent = self._agents(worker_id)
            if agent is None:
                continue
            bidders.append(
                auctions.Bidder(worker_id, tuple(agent.config.tool_names), order, await self._remaining(agent))
            )
        result = auctions.auction(task["id"], task["name"], task["tools"], bidders, self.ledger)
        attempt = len(task["attempts"]) + 1
        adhoc = result.winner is None
        worker_id = result.winner or self._adhoc_id(task)
        if adhoc:
            self.ledger.load[worker_id] = self.ledger.load.get(worker_id, 0) + 1
        round_no = len(self.doc["bids"]) + 1
        record = {**result.to_json(), "round": round_no, "attempt": attempt, "winner": worker_id, "adhoc": adhoc}

        def assign(doc: dict[str, Any]) -> None:
            entry = _find(doc, task["id"])
            entry["worker"], entry["score"], entry["adhoc"] = worker_id, record["score"], adhoc
            entry["status"] = "running"
            entry["attempts"].append(
                {"worker": worker_id, "score": record["score"], "status": "running", "error": None}
            )
            doc["bids"].append(record)

        await self._commit(assign, [(ev.COORDINATOR_BID, None, record)])
        return worker_id

    async def _remaining(self, agent: Agent) -> int | None:
        budget = agent.config.token_budget
        if budget is None or budget.per_run is None:
            return None
        now = self._clock.now()
        used, _ = await self._store.usage_since(agent.id, since=now - (now % 86400), run_id=self.run.run_id)
        return budget.per_run - used

    def _adhoc_id(self, task: dict[str, Any]) -> str:
        assert self.doc is not None
        index = [t["id"] for t in self.doc["tasks"]].index(task["id"]) + 1
        return f"{self.spec.agent_id}-worker-{index}"

    def _worker(self, worker_id: str, task: dict[str, Any]) -> Agent:
        if worker_id in self.spec.workers:
            agent = self._agents(worker_id)
            if agent is None:
                raise UsageError(
                    f"worker '{worker_id}' is not in the config any more",
                    hint="restore it in axocoatl.yaml, then `axocoatl runs resume RUN_ID`",
                )
            return agent
        existing = self._adhoc_agents.get(worker_id)
        if existing is not None:
            return existing
        coordinator = self._agents(self.spec.agent_id)
        if self._adhoc is None or coordinator is None:
            raise PlanningError(f"no worker can take subtask '{task['id']}' and no ad-hoc worker can be made")
        base = coordinator.config
        config = AgentConfig(
            id=worker_id,
            name=f"Worker {worker_id.rsplit('-', 1)[-1]}",
            provider=base.provider,
            model=base.model,
            system_prompt=f"You are a worker agent. Your task: {task['description']}",
            tools=list(task["tools"]),
            token_budget=base.token_budget,
            options=base.options,
            timeout_secs=base.timeout_secs,
            sandbox=base.sandbox,
            # Exactly the required tools: no memory tools either (an ad-hoc worker has no memory to keep).
            memory=AgentMemoryConfig(tools=False),
        )
        agent = self._adhoc_agents[worker_id] = self._adhoc(config)
        return agent

    async def _restore_ledger(self) -> None:
        """Past outcomes for the bids: the workflow's latest runs, then this run's own attempts (a resume)."""
        assert self.doc is not None
        past = await self._store.recent_plans(self.run.workflow_id, besides=self.run.run_id, limit=HISTORY_RUNS)
        for doc in [*past, self.doc]:
            for task in doc.get("tasks", []):
                for attempt in task.get("attempts", []):
                    if attempt.get("status") in ("completed", "failed"):
                        succeeded = attempt["status"] == "completed"
                        self.ledger.record(attempt["worker"], task["name"], succeeded=succeeded)

    # ------------------------------------------------------------------ committing

    async def _commit(
        self,
        change: Callable[[dict[str, Any]], None] | None,
        events: list[tuple[str, str | None, dict[str, Any]]],
        extra: WriteBatch | None = None,
        *,
        replace: dict[str, Any] | None = None,
        durable: bool = True,
    ) -> None:
        """Apply ``change`` to a copy of the plan document and commit it (with ``extra`` and the events);
        the in-memory document moves only once the database accepted it."""
        async with self._lock:
            doc = copy.deepcopy(replace if replace is not None else self.doc or {})
            if change is not None:
                change(doc)
            state = self.driver.state

            def transition(now: float) -> Any:
                outcome = state.fenced(now)
                outcome.batch.run_plans.append(RunPlanWrite(self.run.run_id, doc, now))
                for kind, agent_id, payload in events:
                    event_id = new_id("evt")
                    producer = agent_id or self.spec.agent_id
                    outcome.batch.events.append(
                        EventRecord(event_id, kind, now, producer, self.run.run_id, agent_id, payload)
                    )
                    outcome.events.append(
                        RuntimeEvent(
                            kind, now, self.run.run_id, self.run.workflow_id, agent_id, producer, payload, event_id
                        )
                    )
                return outcome

            await self.driver.commit(transition, extra, durable=durable)
            self.doc = doc
            self.run.plan = doc


class _SubtaskCommit:
    """Handed to a worker: its subtask attempt's start and outcome, committed with the worker's own writes."""

    def __init__(self, owner: CoordinatorPass, task_id: str, worker_id: str) -> None:
        self._pass = owner
        self._task_id = task_id
        self._worker_id = worker_id
        self.done = False

    @property
    def replay_context(self) -> str | None:
        assert self._pass.doc is not None
        attempt = _find(self._pass.doc, self._task_id)["attempts"][-1]
        context = attempt.get("context")
        return context if isinstance(context, str) else None

    async def started(self, context: str) -> None:
        def start(doc: dict[str, Any]) -> None:
            attempt = _find(doc, self._task_id)["attempts"][-1]
            attempt.setdefault("context", context)
            attempt["runs"] = attempt.get("runs", 0) + 1

        task = _find(self._pass.doc or {}, self._task_id)
        payload = {
            "task": self._task_id,
            "name": task["name"],
            "worker": self._worker_id,
            "attempt": len(task["attempts"]),
        }
        # Not durable on its own (like a step's start): a crash forgets it only together with the outcome.
        await self._pass._commit(start, [(ev.SUBTASK_STARTED, self._worker_id, payload)], durable=False)

    async def parked(self, request: ApprovalRecord) -> None:
        # A worker's call waits for a person: the coordinator step shows it, and the run's timeout pauses.
        await self._pass.driver.park(self._pass.spec.agent_id, True)

    async def resumed(self, request: ApprovalRecord) -> None:
        await self._pass.driver.park(self._pass.spec.agent_id, False)

    def human_reply(self) -> HumanReply:
        return HumanReply(refused="a coordinator's subtask cannot ask a person; the coordinator's own step can")

    async def succeed(self, output: AgentOutput, writes: WriteBatch) -> None:
        def finish(doc: dict[str, Any]) -> None:
            entry = _find(doc, self._task_id)
            attempt = entry["attempts"][-1]
            attempt["status"], attempt["tokens"] = "completed", output.usage.to_dict()
            entry["status"], entry["output"], entry["error"] = "completed", output.content, None
            entry["tokens"] = _add(entry["tokens"], output.usage.to_dict())

        payload = {
            "task": self._task_id,
            "worker": self._worker_id,
            "status": "completed",
            "output": output.content[:OUTPUT_EVENT_LIMIT],
            "tokens": output.usage.to_dict(),
        }
        await self._pass._commit(finish, [(ev.SUBTASK_FINISHED, self._worker_id, payload)], writes)
        self._pass.ledger.record(self._worker_id, _find(self._pass.doc or {}, self._task_id)["name"], succeeded=True)
        self.done = True

    async def fail(self, error: BaseException, writes: WriteBatch) -> None:
        message = describe_error(error)
        retries = self._pass.spec.retries
        task = _find(self._pass.doc or {}, self._task_id)
        final = len(task["attempts"]) - task.get("retry_from", 0) > retries

        def failed(doc: dict[str, Any]) -> None:
            entry = _find(doc, self._task_id)
            attempt = entry["attempts"][-1]
            attempt["status"], attempt["error"] = "failed", message
            entry["error"] = message
            entry["status"] = "failed" if final else "pending"

        payload = {
            "task": self._task_id,
            "worker": self._worker_id,
            "status": "failed",
            "error": message,
            "retry": not final,
        }
        await self._pass._commit(failed, [(ev.SUBTASK_FINISHED, self._worker_id, payload)], writes)
        self._pass.ledger.record(self._worker_id, task["name"], succeeded=False)
        self.done = True


def _find(doc: dict[str, Any], task_id: str) -> dict[str, Any]:
    return next(t for t in doc["tasks"] if t["id"] == task_id)


def _add(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    return {"input": a.get("input", 0) + b.get("input", 0), "output": a.get("output", 0) + b.get("output", 0)}


def _task_summary(task: dict[str, Any]) -> dict[str, Any]:
    return {k: task[k] for k in ("id", "name", "description", "tools", "after")}


def _jsonable(value: Any) -> Any:
    """The planner state as JSON (values YAML may hold that JSON cannot, as text)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
