"""The call pipeline: what happens to each tool call a model makes, in order.

    lookup (allow-list) → argument check (JSON Schema) → journal replay → pre hooks
    → approval gate → journal "started" → handler (timeout, deadline) → output cap
    → post hooks → journal "done"

Hooks plug in as ``CallHooks`` (tools/hooks.py builds them from ``hooks:``); the approval
gate (tools/approval.py) parks a call that needs a person's decision: a denial becomes the
tool error the model sees, and the call's timeout starts only once it is allowed. The
calls of one model reply run concurrently only when every one of them is ``read``;
otherwise one after another, in the order the model gave. Every failure becomes a tool
error result the model sees; nothing a tool does can end the turn, except cancellation and ask_human
(whose question parks the workflow step, tools/human.py).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from axocoatl.config.schema import ToolsConfig, WebSearchConfig
from axocoatl.core.errors import HumanQuestion, NoAnswer, ToolError, ToolNotAllowed
from axocoatl.core.events import ApprovalWaiting, StreamSink, ToolFinished, ToolStarted
from axocoatl.core.messages import ToolCall, ToolCallRecord
from axocoatl.store.records import ApprovalRecord, WriteBatch
from axocoatl.tools.approval import ApprovalGate, Parking
from axocoatl.tools.arguments import check_arguments
from axocoatl.tools.context import Asking, ToolContext
from axocoatl.tools.journal import INTERRUPTED, ToolJournal
from axocoatl.tools.processes import BackgroundTasks, CommandRunner, SubprocessRunner
from axocoatl.tools.registry import AgentToolbox, Tool
from axocoatl.tools.workspace import Workspace


class CallHooks(Protocol):
    """Pre and post hooks: ``before`` returns the (possibly transformed) call or raises ToolError to deny
    it; ``after`` returns the (possibly transformed) result text (or raises ToolError to withhold it)."""

    async def before(self, tool: Tool, call: ToolCall, ctx: ToolContext) -> ToolCall: ...

    async def after(self, tool: Tool, call: ToolCall, ctx: ToolContext, result: str) -> str: ...


@dataclass
class CallEnvironment:
    """Where and for whom one turn's tools run."""

    agent_id: str
    workspace: Workspace
    settings: ToolsConfig = field(default_factory=ToolsConfig)
    runner: CommandRunner = field(default_factory=SubprocessRunner)
    tasks: BackgroundTasks = field(default_factory=BackgroundTasks)
    web_search: WebSearchConfig | None = None
    run_id: str | None = None
    step: str | None = None
    thread: str | None = None
    approval: ApprovalGate | None = None
    approval_tools: frozenset[str] = frozenset()  # the agent's own requires_approval tools
    parking: Parking | None = None  # told when a call starts and stops waiting for approval
    asking: Asking | None = None  # a workflow step: where ask_human finds its answer


@dataclass
class ToolServices:
    """What every agent's tools share in one runtime (settings, the command runner, background tasks)."""

    settings: ToolsConfig = field(default_factory=ToolsConfig)
    runner: CommandRunner = field(default_factory=SubprocessRunner)
    runners: dict[str, CommandRunner] = field(default_factory=dict)  # an agent's own sandbox tier
    tasks: BackgroundTasks = field(default_factory=BackgroundTasks)
    web_search: WebSearchConfig | None = None
    hooks: tuple[CallHooks, ...] = ()
    approval: ApprovalGate | None = None

    def environment(
        self,
        agent_id: str,
        workspace: Workspace,
        *,
        run_id: str | None = None,
        step: str | None = None,
        thread: str | None = None,
        approval_tools: frozenset[str] = frozenset(),
        parking: Parking | None = None,
        asking: Asking | None = None,
    ) -> CallEnvironment:
        return CallEnvironment(
            agent_id=agent_id,
            workspace=workspace,
            settings=self.settings,
            runner=self.runners.get(agent_id, self.runner),
            tasks=self.tasks,
            web_search=self.web_search,
            run_id=run_id,
            step=step,
            thread=thread,
            approval=self.approval,
            approval_tools=approval_tools,
            parking=parking,
            asking=asking,
        )


class ToolPipeline:
    """Runs one turn's tool calls. ``writes`` collects what transactional tools staged for the turn's commit."""

    def __init__(
        self,
        toolbox: AgentToolbox,
        env: CallEnvironment,
        *,
        journal: ToolJournal | None = None,
        hooks: Sequence[CallHooks] = (),
        sink: StreamSink | None = None,
    ) -> None:
        self.toolbox = toolbox
        self.env = env
        self.journal = journal
        self.hooks = tuple(hooks)
        self.sink = sink
        self.writes = WriteBatch()
        self._undo: list[Callable[[], None]] = []

    async def run_round(self, round_no: int, calls: Sequence[ToolCall]) -> list[ToolCallRecord]:
        """Results of one model reply's calls, in the model's order."""
        tools = [self.toolbox.get(c.name) for c in calls]
        if all(t is not None and t.effect == "read" and not t.parks for t in tools):
            return list(await asyncio.gather(*(self._one(round_no, i, c) for i, c in enumerate(calls))))
        return [await self._one(round_no, i, c) for i, c in enumerate(calls)]

    async def _one(self, round_no: int, index: int, call: ToolCall) -> ToolCallRecord:
        if self.sink:
            self.sink(ToolStarted(call))
        record = await self._call(round_no, index, call)
        if self.sink:
            self.sink(ToolFinished(record))
        return record

    async def _call(self, round_no: int, index: int, call: ToolCall) -> ToolCallRecord:
        tool = self.toolbox.get(call.name)
        try:
            if tool is None:
                agent = self.toolbox.agent_id
                raise ToolNotAllowed(
                    f"tool '{call.name}' is not available to agent '{agent}'",
                    hint=f"add it to agents[{agent}].tools" if call.name else "the model sent a call without a name",
                )
            check_arguments(tool.name, tool.parameters, call.arguments)
        except ToolError as exc:
            return _error(call, exc)
        journal = self.journal
        prior = journal.entry(round_no, index) if journal is not None else None
        if prior is not None and not tool.transactional:
            if prior.status in ("done", "interrupted") and prior.result is not None:
                return ToolCallRecord(call.id, call.name, call.arguments, prior.result, prior.is_error)
            if prior.status == "started" and tool.effect != "read":
                record = _error(call, ToolError(_interrupted_message(tool)))
                assert journal is not None
                await journal.finished(round_no, index, record, tool.effect, "interrupted")
                return record
        ctx = self._context(tool, call)
        ctx.resumed = prior is not None
        try:
            for hook in self.hooks:
                call = await hook.before(tool, call, ctx)
            await self._approve(tool, call, self._key(round_no, index))
            ctx.deadline = self._deadline(tool)  # the call's time starts once it may run
            if journal is not None:
                await journal.started(round_no, index, call, tool.effect)
            text = await self._invoke(tool, call, ctx)
            for hook in self.hooks:
                text = await hook.after(tool, call, ctx, text)
            record = ToolCallRecord(call.id, call.name, call.arguments, text)
        except ToolError as exc:
            record = _error(call, exc)
        finally:
            ctx.cancelled.set()
        if not record.is_error:
            self.writes.extend(ctx.writes)
            self._undo.extend(ctx.undo)
        if journal is not None:
            await journal.finished(round_no, index, record, tool.effect, "done")
        return record

    def abandon(self) -> None:
        """The turn ends without committing: undo the in-memory side of what tools staged."""
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()
        self.writes = WriteBatch()

    async def _approve(self, tool: Tool, call: ToolCall, key: str | None) -> None:
        """Wait for a person's decision when the call needs one; a denial raises the error the model sees."""
        env = self.env
        gate = env.approval
        if gate is None or not (tool.requires_approval or gate.required(tool.name, tool.source, env.approval_tools)):
            return
        decision = await gate.request(
            agent_id=env.agent_id,
            source=tool.source,
            tool=tool.name,
            arguments=call.arguments,
            key=key,
            run_id=env.run_id,
            thread=env.thread,
            message=f"agent '{env.agent_id}' wants to call {tool.name} ({tool.effect})",
            parking=_Told(env.parking, self.sink),
        )
        if not decision.allowed:
            raise ToolError(f"the call to '{tool.name}' was {decision.message}; do not retry it unchanged")

    def _key(self, round_no: int, index: int) -> str | None:
        """The approval key of a journaled call: a resumed step finds its request (and decision) again."""
        journal = self.journal
        if journal is None:
            return None
        return f"{journal.run_id}:{journal.agent_id}:{journal.activation}:{round_no}:{index}"

    def _deadline(self, tool: Tool) -> float:
        timeout = tool.timeout_secs if tool.timeout_secs is not None else self.env.settings.timeout_secs
        return time.monotonic() + timeout

    def _context(self, tool: Tool, call: ToolCall) -> ToolContext:
        env = self.env
        return ToolContext(
            agent_id=env.agent_id,
            call_id=call.id,
            workspace=env.workspace,
            deadline=self._deadline(tool),
            settings=env.settings,
            runner=env.runner,
            tasks=env.tasks,
            run_id=env.run_id,
            step=env.step,
            thread=env.thread,
            web_search=env.web_search,
            asking=env.asking,
        )

    async def _invoke(self, tool: Tool, call: ToolCall, ctx: ToolContext) -> str:
        # The message names the tool's timeout, not what was left of it when the call began.
        configured = tool.timeout_secs if tool.timeout_secs is not None else self.env.settings.timeout_secs
        try:
            async with asyncio.timeout(ctx.remaining()):
                result = await tool.handler(dict(call.arguments), ctx)
        except (ToolError, HumanQuestion, NoAnswer):
            raise  # HumanQuestion parks the step, NoAnswer fails it (tools/human.py): neither is the model's
        except TimeoutError as exc:
            raise ToolError(
                f"tool '{tool.name}' timed out after {configured:.3g} s and was stopped; try a smaller task, or run "
                "a long command with bash_background"
            ) from exc
        except Exception as exc:  # a tool's own bug must not crash the agent: the model sees it
            raise ToolError(f"tool '{tool.name}' failed: {type(exc).__name__}: {exc}") from exc
        text = result if isinstance(result, str) else json.dumps(result, ensure_ascii=False, default=str)
        return cap_output(text, self.env.settings.max_output_chars)


class _Told:
    """Parking that also tells the turn's caller (a chat shows the waiting call and how to answer it)."""

    def __init__(self, parking: Parking | None, sink: StreamSink | None) -> None:
        self._parking = parking
        self._sink = sink

    async def parked(self, request: ApprovalRecord) -> None:
        if self._sink is not None:
            self._sink(ApprovalWaiting(request.to_json()))
        if self._parking is not None:
            await self._parking.parked(request)

    async def resumed(self, request: ApprovalRecord) -> None:
        if self._parking is not None:
            await self._parking.resumed(request)


def cap_output(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, the cut marked so the model knows there is more."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n[truncated: {len(text) - limit} more characters not shown (limit {limit})]"


def _interrupted_message(tool: Tool) -> str:
    return (
        f"{INTERRUPTED}: the runtime stopped while '{tool.name}' ({tool.effect}) was running, so it may or may "
        "not have taken effect; check its effect (read the file, list the directory) before calling it again"
    )


def _error(call: ToolCall, exc: ToolError) -> ToolCallRecord:
    return ToolCallRecord(call.id, call.name, call.arguments, json.dumps({"error": str(exc)}), is_error=True)
