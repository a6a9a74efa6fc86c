"""The A2A server on the daemon, through the official a2a-sdk (spec 1.0, with 0.3 on the same endpoints).

``/a2a/{ref}`` is one exposed agent (``ref`` = its id) or workflow (``workflow/ID``): JSON-RPC
at that URL, HTTP+JSON below it, its card at ``/a2a/{ref}/.well-known/agent-card.json``. A task
is one agent turn or one workflow run: an agent continues the thread of the message's
``contextId`` (so a conversation is a context), a workflow runs on the message text. The
reply streams as chunks of the ``output`` artifact (a workflow's steps each as ``step:AGENT``),
steps and tool calls as ``working`` status messages, an approval as ``input-required``.
Tasks live in the project database (protocols/a2a/tasks.py). See docs/a2a.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from a2a.helpers.proto_helpers import new_task_from_user_message, new_text_artifact, new_text_message
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.context import ServerCallContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandlerV2
from a2a.server.request_handlers.response_helpers import agent_card_to_dict
from a2a.server.routes import create_jsonrpc_routes, create_rest_routes
from a2a.server.tasks.task_updater import TaskUpdater
from a2a.types.a2a_pb2 import (
    AgentCard,
    CancelTaskRequest,
    Message,
    Part,
    Role,
    Task,
    TaskArtifactUpdateEvent,
    TaskState,
)
from a2a.utils.errors import InvalidParamsError
from google.protobuf.json_format import MessageToDict
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import Receive, Scope, Send

from axocoatl.config.exposure import Target, exposed_targets
from axocoatl.core import events as ev
from axocoatl.core.errors import AxocoatlError, UsageError
from axocoatl.core.events import AgentStreamEvent, RuntimeEvent, TextChunk, ToolStarted
from axocoatl.core.ids import is_thread_name
from axocoatl.core.messages import AgentInput, AgentOutput
from axocoatl.protocols.a2a.cards import A2A_PREFIX, agent_card, target_card
from axocoatl.protocols.a2a.push import DatabasePushConfigStore, RetryingPushSender, host_allowed
from axocoatl.protocols.a2a.tasks import (
    OUTPUT_ARTIFACT,
    PROCESS_KEY,
    RUN_KEY,
    STEP_PREFIX,
    THREAD_KEY,
    DatabaseTaskStore,
)
from axocoatl.server.errors import error_response
from axocoatl.server.run_feed import PROGRESS, RunEvents
from axocoatl.server.state import ServerState

log = logging.getLogger(__name__)

CARD_PATH = "/.well-known/agent-card.json"
OLD_CARD_PATH = "/.well-known/agent.json"  # what 0.2 clients fetch


def thread_for(context_id: str) -> str:
    """The agent thread an A2A context continues (a context id that is no thread name is hashed)."""
    name = f"a2a-{context_id}"
    return name if is_thread_name(name) else "a2a-" + hashlib.sha256(context_id.encode()).hexdigest()[:40]


def message_text(message: Message) -> str:
    """What the agent reads: text parts as they are, data parts as JSON, files by name and URL."""
    pieces = []
    for part in message.parts:
        if part.HasField("text"):
            pieces.append(part.text)
        elif part.HasField("data"):
            pieces.append(json.dumps(_whole_numbers(MessageToDict(part.data)), ensure_ascii=False))
        elif part.HasField("url") or part.HasField("raw"):
            where = part.url if part.HasField("url") else f"{len(part.raw)} bytes inline"
            pieces.append(f"[file {part.filename or '(unnamed)'} ({part.media_type or 'unknown type'}): {where}]")
    return "\n".join(pieces)


def _whole_numbers(value: Any) -> Any:
    """A protobuf Value holds every number as a double: 42 arrives as 42.0, and is shown as 42."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _whole_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole_numbers(v) for v in value]
    return value


def _text(text: str, task: Task) -> Message:
    return new_text_message(text, context_id=task.context_id, task_id=task.id, role=Role.ROLE_AGENT)


APPROVAL_KEY = "axocoatl.approval_id"
_YES = frozenset({"approve", "approved", "allow", "yes", "y", "ok"})
_NO = frozenset({"deny", "denied", "reject", "no", "n"})


@dataclass
class _Turn:
    """An agent turn behind a task; it outlives an execute() that stopped at input-required."""

    thread: str
    events: asyncio.Queue[AgentStreamEvent | RuntimeEvent | None] = field(default_factory=asyncio.Queue)
    future: asyncio.Future[AgentOutput] = field(default_factory=asyncio.Future)
    unsubscribe: Callable[[], None] = lambda: None
    following: bool = False
    chunks: int = 0
    approval_id: str | None = None
    question: str = ""


def _approval_question(request: dict[str, Any]) -> str:
    arguments = json.dumps(request.get("arguments") or {}, ensure_ascii=False)[:500]
    return (
        f"approval needed ({request.get('approval_id')}): {request.get('message') or request.get('tool')} "
        f"with {arguments}. Reply 'approve' or 'deny' (or decide with `axocoatl approvals`)."
    )


def _error_text(exc: AxocoatlError) -> str:
    return exc.message + (f" ({exc.hint})" if exc.hint else "")


class TargetExecutor(AgentExecutor):
    """Runs one task of an exposed agent or workflow and reports it as A2A events."""

    def __init__(self, state: ServerState, target: Target) -> None:
        self.state = state
        self.target = target
        self._turns: dict[str, _Turn] = {}  # agent turns by task, while they run
        self.tasks: DatabaseTaskStore  # set once the store is built (A2AEndpoints._build)

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        message = context.message
        if message is None:
            raise InvalidParamsError("a message is required")
        text = message_text(message).strip()
        if not text:
            raise InvalidParamsError("the message is empty: send the request as a text part")
        task = context.current_task or new_task_from_user_message(message)
        task.metadata.update({PROCESS_KEY: self.state.runtime.owner})
        if self.state.draining and context.current_task is None:
            await event_queue.enqueue_event(task)
            refusal = "the daemon is shutting down: send the message again once it is back up"
            await TaskUpdater(event_queue, task.id, task.context_id).reject(_text(refusal, task))
            return
        if self.target.kind == "workflow":
            await self._workflow(task, text, event_queue)
        else:
            await self._agent(task, text, event_queue)

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        # The turn's task is cancelled by the SDK right after this: nothing of it commits.
        task_id, context_id = context.task_id or "", context.context_id or ""
        await TaskUpdater(event_queue, task_id, context_id).cancel()

    async def _agent(self, task: Task, text: str, queue: EventQueue) -> None:
        turn = self._turns.get(task.id)
        updater = TaskUpdater(queue, task.id, task.context_id)
        if task.status.state == TaskState.TASK_STATE_INPUT_REQUIRED:
            if turn is None:  # the turn that asked died with an earlier daemon process
                lost = "the daemon restarted while this task waited for an approval: send the request again"
                await updater.failed(_text(lost, task))
                return
            # The reply to an approval request: decide it, then follow the turn again.
            if not await self._answer(turn, text, task, updater):
                return
        else:
            thread = thread_for(task.context_id)
            task.metadata.update({THREAD_KEY: thread})
            await queue.enqueue_event(task)
            await updater.start_work()
            turn = self._start_turn(task, text, thread)
        await self._follow(turn, task, updater)

    def _start_turn(self, task: Task, text: str, thread: str) -> _Turn:
        turn = _Turn(thread)
        bus = self.state.runtime.bus

        def on_event(event: RuntimeEvent) -> None:
            asked = event.type in (ev.APPROVAL_REQUESTED, ev.APPROVAL_DECIDED)
            if asked and event.agent_id == self.target.id and event.payload.get("thread") == thread:
                turn.events.put_nowait(event)

        turn.unsubscribe = bus.subscribe(on_event)
        run = self.state.execute(self.target.id, AgentInput(text), sink=turn.events.put_nowait, thread=thread)
        turn.future = asyncio.ensure_future(run)
        self._turns[task.id] = turn

        def ended(_: object) -> None:
            turn.unsubscribe()
            turn.events.put_nowait(None)
            if not turn.following:  # parked in input-required, then decided elsewhere (CLI, API)
                self.state.detach(self._settle_parked(task.id, turn), f"a2a-settle:{task.id}")

        turn.future.add_done_callback(ended)
        return turn

    async def _answer(self, turn: _Turn, text: str, task: Task, updater: TaskUpdater) -> bool:
        """Decide the pending approval from the reply; False if the reply was neither yes nor no."""
        word = text.strip().lower().rstrip(".!")
        allow = word in _YES
        if not allow and word not in _NO:
            await updater.requires_input(_text(f"{turn.question} Answer 'approve' or 'deny'.", task))
            return False
        if turn.approval_id is not None:
            try:
                await self.state.runtime.approvals.decide(turn.approval_id, allow=allow, reason="answered over A2A")
            except AxocoatlError as exc:  # decided meanwhile (CLI, API, timeout): the turn goes on anyway
                log.info("a2a task %s: %s", task.id, exc.message)
        await updater.start_work(_text("approved" if allow else "denied", task))
        return True

    async def _follow(self, turn: _Turn, task: Task, updater: TaskUpdater) -> None:
        """Report the turn's progress until it ends, or until it waits for an approval (input-required)."""
        turn.following = True
        try:
            while (event := await turn.events.get()) is not None:
                if isinstance(event, RuntimeEvent):
                    if event.type == ev.APPROVAL_REQUESTED:
                        turn.approval_id = str(event.payload.get("approval_id"))
                        turn.question = _approval_question(event.payload)
                        metadata = {APPROVAL_KEY: turn.approval_id}
                        await updater.update_status(
                            TaskState.TASK_STATE_INPUT_REQUIRED, _text(turn.question, task), metadata=metadata
                        )
                        return  # the turn waits; the reply (or a decision elsewhere) resumes it
                    continue
                if isinstance(event, TextChunk) and event.text:
                    await updater.event_queue.enqueue_event(
                        TaskArtifactUpdateEvent(
                            task_id=task.id,
                            context_id=task.context_id,
                            artifact=new_text_artifact(OUTPUT_ARTIFACT, event.text, artifact_id=OUTPUT_ARTIFACT),
                            append=turn.chunks > 0,
                            last_chunk=False,
                        )
                    )
                    turn.chunks += 1
                elif isinstance(event, ToolStarted):
                    await updater.start_work(_text(f"calling tool {event.call.name}", task))
            self._turns.pop(task.id, None)
            try:
                output = await turn.future
            except AxocoatlError as exc:
                await updater.failed(_text(_error_text(exc), task))
                return
        except BaseException:
            if not turn.future.done():
                turn.future.cancel()  # the task was cancelled: so is the turn (nothing of it commits)
            self._turns.pop(task.id, None)
            raise
        finally:
            turn.following = False
        # The whole reply replaces the streamed chunks: a task read later holds it once.
        await updater.add_artifact(
            [Part(text=output.content)], artifact_id=OUTPUT_ARTIFACT, name=OUTPUT_ARTIFACT, last_chunk=True
        )
        await updater.complete(_text(output.content, task))

    def abandon(self, task_id: str) -> None:
        """The task was cancelled while its turn waited for an approval: stop the turn too."""
        turn = self._turns.get(task_id)
        if turn is not None and not turn.following and not turn.future.done():
            turn.future.cancel()

    async def _settle_parked(self, task_id: str, turn: _Turn) -> None:
        """A parked turn ended without anyone following it: write its outcome to the stored task."""
        self._turns.pop(task_id, None)
        context = ServerCallContext()
        task = await self.tasks.get(task_id, context)
        if task is None or task.status.state != TaskState.TASK_STATE_INPUT_REQUIRED:
            return  # cancelled meanwhile, or followed after all
        if turn.future.cancelled():
            return
        error = turn.future.exception()
        if error is None:
            output = turn.future.result().content
            task.artifacts.append(new_text_artifact(OUTPUT_ARTIFACT, output, artifact_id=OUTPUT_ARTIFACT))
            task.status.state = TaskState.TASK_STATE_COMPLETED
            task.status.message.CopyFrom(_text(output, task))
        else:
            reason = _error_text(error) if isinstance(error, AxocoatlError) else "internal error (see the daemon log)"
            task.status.state = TaskState.TASK_STATE_FAILED
            task.status.message.CopyFrom(_text(reason, task))
        task.status.timestamp.GetCurrentTime()
        await self.tasks.save(task, context)

    async def _workflow(self, task: Task, text: str, queue: EventQueue) -> None:
        rt = self.state.runtime
        feed = RunEvents(rt.bus.subscribe, PROGRESS | {ev.TOKEN_DELTA, ev.APPROVAL_REQUESTED})
        try:
            run_id, run_task = await rt.start_workflow(self.target.id, text)
        except AxocoatlError as exc:
            feed.close()
            await queue.enqueue_event(task)
            await TaskUpdater(queue, task.id, task.context_id).failed(_text(_error_text(exc), task))
            return
        except BaseException:
            feed.close()
            raise
        feed.follow(run_id, run_task)
        task.metadata.update({RUN_KEY: run_id})
        await queue.enqueue_event(task)
        updater = TaskUpdater(queue, task.id, task.context_id)
        await updater.start_work(_text(f"workflow run {run_id} started", task))
        streamed: set[str] = set()  # steps whose tokens already began their artifact
        try:
            while (event := await feed.queue.get()) is not None:
                if event.type == ev.TOKEN_DELTA:
                    # Each step's reply streams as its own artifact, step:AGENT.
                    step = f"{STEP_PREFIX}{event.agent_id}"
                    delta = str(event.payload.get("delta", ""))
                    if delta:
                        await updater.add_artifact(
                            [Part(text=delta)], artifact_id=step, name=step, append=step in streamed, last_chunk=False
                        )
                        streamed.add(step)
                    continue
                note = _step_note(event)
                if note is not None:
                    await updater.start_work(_text(note, task))
            run = await asyncio.shield(run_task)  # the run belongs to the runtime
        finally:
            feed.close()
        if run.status != "completed":
            await updater.failed(_text(f"workflow run {run_id} {run.status}: {run.error or 'no output'}", task))
            return
        output = run.final_output or ""
        await updater.add_artifact(
            [Part(text=output)], artifact_id=OUTPUT_ARTIFACT, name=OUTPUT_ARTIFACT, last_chunk=True
        )
        await updater.complete(_text(output, task))


def _step_note(event: RuntimeEvent) -> str | None:
    agent = event.agent_id or ""
    if event.type == ev.AGENT_ACTIVATED:
        return f"step {agent} started"
    if event.type == ev.TASK_COMPLETED:
        return f"step {agent} completed"
    if event.type == ev.AGENT_FAILED:
        return f"step {agent} failed: {event.payload.get('error', '')}"
    if event.type == ev.STEP_SKIPPED:
        return f"step {agent} skipped"
    if event.type == ev.APPROVAL_REQUESTED:  # a step's wait is the run's: decided with `axocoatl approvals`
        approval = event.payload.get("approval_id")
        return f"step {agent} waits for approval {approval}: `axocoatl approvals allow {approval}` (or deny)"
    return None


class _WorkflowHandler(DefaultRequestHandlerV2):
    """Cancelling a workflow task cancels its run (``cancelled``, resumable with `axocoatl runs resume`)."""

    tasks: DatabaseTaskStore
    executor: TargetExecutor

    async def on_cancel_task(self, params: CancelTaskRequest, context: ServerCallContext) -> Task | None:
        stored = await self.tasks.get(params.id, context)
        result: Task | None = await super().on_cancel_task(params, context)
        run_id = stored.metadata[RUN_KEY] if stored is not None and RUN_KEY in stored.metadata else None
        if run_id:
            with contextlib.suppress(UsageError):  # the run ended meanwhile
                await self.executor.state.runtime.cancel_run(str(run_id))
        return result


class _AgentHandler(DefaultRequestHandlerV2):
    """Cancelling a task whose turn waits for an approval (input-required) stops that turn."""

    executor: TargetExecutor

    async def on_cancel_task(self, params: CancelTaskRequest, context: ServerCallContext) -> Task | None:
        result: Task | None = await super().on_cancel_task(params, context)
        self.executor.abandon(params.id)
        return result


@dataclass
class _Endpoint:
    target: Target
    app: Starlette
    handler: DefaultRequestHandlerV2


def base_url(scope: Scope) -> str:
    """The URL clients reached the daemon at (scheme and Host of the request)."""
    request = Request(scope)
    return f"{request.url.scheme}://{request.url.netloc}"


class A2AEndpoints:
    """The ASGI app under /a2a: finds the target of a path and hands the request to its SDK routes."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self._endpoints: dict[str, _Endpoint] = {}
        self._push_configs = DatabasePushConfigStore(state.runtime.store)
        self._push = RetryingPushSender(self._push_configs, lambda: self.state.runtime.config.a2a.push_hosts)
        # Push on or off is decided at start (the endpoints are built with it); the hosts are read live.
        self.push_enabled = bool(state.runtime.config.a2a.push_hosts)

    async def _push_url_allowed(self, url: str) -> bool:
        return host_allowed(url, self.state.runtime.config.a2a.push_hosts)

    def targets(self) -> list[Target]:
        config = self.state.runtime.config
        return exposed_targets(config, config.a2a.expose) if config.a2a.enabled else []

    def _endpoint(self, target: Target) -> _Endpoint:
        endpoint = self._endpoints.get(target.ref)
        if endpoint is None:
            endpoint = self._endpoints[target.ref] = self._build(target)
        return endpoint

    def _build(self, target: Target) -> _Endpoint:
        executor = TargetExecutor(self.state, target)
        rt = self.state.runtime
        store = DatabaseTaskStore(rt.store, target.ref, rt.clock.now, rt.owner)
        executor.tasks = store
        placeholder = target_card(target, rt.config.server.auth, "http://127.0.0.1", push=self.push_enabled)
        # Push configs are accepted only while a2a.push_hosts lists receivers (else: not supported).
        push: dict[str, Any] = {}
        if self.push_enabled:
            push = {
                "push_config_store": self._push_configs,
                "push_sender": self._push,
                "push_url_validator": self._push_url_allowed,
            }
        handler: DefaultRequestHandlerV2
        if target.kind == "workflow":
            handler = _WorkflowHandler(agent_executor=executor, task_store=store, agent_card=placeholder, **push)
            handler.tasks, handler.executor = store, executor
        else:
            handler = _AgentHandler(agent_executor=executor, task_store=store, agent_card=placeholder, **push)
            handler.executor = executor

        async def card(request: Request) -> Response:
            return JSONResponse(agent_card_to_dict(self.card_for(target, request.scope)))

        routes: list[BaseRoute] = [
            Route(CARD_PATH, card, methods=["GET"]),
            *create_jsonrpc_routes(handler, "/", enable_v0_3_compat=True),
            # Without the SDK's /{tenant} mount: this daemon has no tenants.
            *(r for r in create_rest_routes(handler, enable_v0_3_compat=True) if not isinstance(r, Mount)),
        ]
        return _Endpoint(target, Starlette(routes=routes), handler)

    def card_for(self, target: Target, scope: Scope) -> AgentCard:
        return target_card(target, self.state.runtime.config.server.auth, base_url(scope), push=self.push_enabled)

    def root_card(self, scope: Scope) -> AgentCard | None:
        """The daemon's card: every exposed skill, its interfaces those of ``a2a.default``."""
        targets = self.targets()
        if not targets:
            return None
        config = self.state.runtime.config.a2a
        default = next((t for t in targets if t.ref == config.default), None)
        if default is None:
            default = next((t for t in targets if t.kind == "workflow"), targets[0])
        base = base_url(scope)
        url = base + A2A_PREFIX + default.ref
        auth = self.state.runtime.config.server.auth
        return agent_card(
            name=config.name,
            description=config.description,
            url=url,
            skills=targets,
            auth=auth,
            base_url=base,
            push=self.push_enabled,
        )

    def _match(self, path: str) -> tuple[Target, str] | None:
        """The target a path under /a2a names and the rest of the path (``workflow/ID`` first)."""
        by_ref = {t.ref: t for t in self.targets()}
        parts = path.lstrip("/").split("/")
        for size in (2, 1):
            ref = "/".join(parts[:size])
            if len(parts) >= size and ref in by_ref:
                return by_ref[ref], "/" + "/".join(parts[size:])
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        root = scope.get("root_path", "")
        path: str = scope["path"]
        inner = path[len(root) :] if root and path.startswith(root) else path
        found = self._match(inner)
        if found is None:
            refs = [t.ref for t in self.targets()]
            hint = f"exposed: {', '.join(refs)}" if refs else "nothing is exposed (a2a.enabled, a2a.expose)"
            response = error_response(404, f"no A2A endpoint at {path}", hint)
            await response(scope, receive, send)
            return
        target, rest = found
        endpoint = self._endpoint(target)
        prefix = root + "/" + target.ref
        child = {**scope, "root_path": prefix, "path": prefix + (rest if rest != "/" else "/")}
        await endpoint.app(child, receive, send)

    async def aclose(self) -> None:
        for endpoint in self._endpoints.values():
            await endpoint.handler.aclose()
        await self._push.aclose()


def a2a_card_json(card: AgentCard) -> dict[str, Any]:
    return agent_card_to_dict(card)
