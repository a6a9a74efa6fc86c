"""GET /ws: live runs and agents over a WebSocket, plus workflow and chat commands.

The frame catalogue is in docs/api.md. Frames leave through the client's bounded queue
(server/stream.py) from one sender task, so a slow client only slows itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from fastapi import APIRouter, WebSocket
from starlette.types import Message
from starlette.websockets import WebSocketDisconnect, WebSocketState

from axocoatl.core.errors import AxocoatlError
from axocoatl.core.events import AgentStreamEvent
from axocoatl.core.ids import THREAD_HINT, is_thread_name, new_id
from axocoatl.core.messages import AgentInput
from axocoatl.memory.session import DEFAULT_THREAD
from axocoatl.server.errors import ApiError, not_found
from axocoatl.server.frames import approval_frame, chat_frame
from axocoatl.server.routes.agents import output_json
from axocoatl.server.state import ServerState, state_of
from axocoatl.server.stream import ClientStream, Selection, Subscription
from axocoatl.server.text import DEPTH_HINT, MAX_COMMAND_DEPTH, find_problem
from axocoatl.store import APPROVAL_SCOPES

log = logging.getLogger(__name__)
router = APIRouter(tags=["websocket"])

COMMANDS = ("subscribe", "unsubscribe", "ping", "run-workflow", "chat-turn", "chat-stop", "approve", "answer")
MAX_COMMAND_BYTES = 1_048_576  # larger commands get an error frame
MAX_FRAME_BYTES = 4 * MAX_COMMAND_BYTES  # uvicorn's limit: above it the connection closes with 1009


class BadCommand(Exception):
    def __init__(self, message: str, hint: str | None = None, *, ref: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.ref = ref


def parse_command(message: Message) -> dict[str, Any]:
    """One received frame as a command object whose every string is valid Unicode, or BadCommand."""
    text = message.get("text")
    if text is None:
        raise BadCommand("bad command: send JSON text frames, not binary ones", 'e.g. {"cmd": "ping"}')
    if len(text) > MAX_COMMAND_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_COMMAND_BYTES:
        raise BadCommand(f"bad command: larger than {MAX_COMMAND_BYTES} bytes", "send smaller commands")
    try:
        command = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadCommand(f"bad command: not JSON ({exc.msg} at position {exc.pos})") from None
    except RecursionError:
        raise BadCommand(f"bad command: nested deeper than {MAX_COMMAND_DEPTH} levels", DEPTH_HINT) from None
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise BadCommand(f"bad command: not JSON ({str(exc).split(';')[0]})") from None
    if not isinstance(command, dict):
        raise BadCommand('bad command: expected a JSON object such as {"cmd": "ping"}')
    problem = find_problem(command)
    if problem is not None:
        field = problem.field
        ref = None if field == "ref" or field.startswith(("ref.", "ref[")) else command.get("ref")
        raise BadCommand(f"bad command: {field}: {problem.message}", problem.hint, ref=ref)
    return command


@router.websocket("/ws")
async def websocket_endpoint(websocket: WebSocket) -> None:
    state = state_of(websocket)
    await websocket.accept()
    client = state.hub.connect()
    connection = _Connection(state, websocket, client)
    sender = asyncio.create_task(connection.send_loop(), name=f"ws-send:{client.id}")
    client.reply(
        {
            "kind": "ready",
            "version": state.version,
            "agents": sorted(state.runtime.agents),
            "workflows": [w.id for w in state.runtime.config.workflows],
            "commands": list(COMMANDS),
        }
    )
    try:
        await connection.receive_loop()
    finally:
        state.hub.disconnect(client)
        connection.chat_forwarding = False
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await sender


class _Connection:
    def __init__(self, state: ServerState, websocket: WebSocket, client: ClientStream) -> None:
        self.state = state
        self.websocket = websocket
        self.client = client
        self.chat: asyncio.Task[None] | None = None
        self.chat_forwarding = False

    async def send_loop(self) -> None:
        try:
            while True:
                text = await self.client.queue.get()
                notice = self.client.lag_notice()
                if notice is not None:
                    await self.websocket.send_text(json.dumps(notice))
                await self.websocket.send_text(text)
        except (WebSocketDisconnect, RuntimeError, OSError):
            return  # the client went away; receive_loop ends too

    async def receive_loop(self) -> None:
        while True:
            try:
                message = await self.websocket.receive()
            except (WebSocketDisconnect, RuntimeError):
                return
            if message["type"] == "websocket.disconnect":
                return
            await self.dispatch(message)
            if self.websocket.client_state != WebSocketState.CONNECTED:
                return

    async def dispatch(self, message: Message) -> None:
        """One frame from the client. Whatever goes wrong becomes an error frame; the connection stays."""
        ref: Any = None
        try:
            command = parse_command(message)
            ref = command.get("ref")
            await self.handle(command)
        except BadCommand as exc:
            self.error(exc.message, exc.hint, ref=exc.ref if exc.ref is not None else ref)
        except ApiError as exc:
            self.error(exc.error, exc.hint, ref=ref)
        except AxocoatlError as exc:
            self.error(exc.message, exc.hint, ref=ref)
        except Exception as exc:  # a bug: logged with an id, never the end of the connection
            error_id = new_id("err")
            log.error("internal error %s handling a WebSocket command", error_id, exc_info=exc)
            self.error("internal server error", f"the daemon log has the details (error id {error_id})", ref=ref)

    def error(self, message: str, hint: str | None = None, *, ref: Any = None) -> None:
        frame: dict[str, Any] = {"kind": "error", "message": message, "hint": hint}
        if ref is not None:
            frame["ref"] = ref
        self.client.reply(frame)

    async def handle(self, command: dict[str, Any]) -> None:
        cmd = command.get("cmd")
        ref = command.get("ref")
        if cmd == "ping":
            self.client.reply({"kind": "pong", **({"ref": ref} if ref is not None else {})})
        elif cmd == "subscribe":
            await self.subscribe(command)
        elif cmd == "unsubscribe":
            self.client.subscription = None
            self.client.reply({"kind": "subscribed", "runs": [], "agents": []})
        elif cmd == "run-workflow":
            await self.run_workflow(command)
        elif cmd == "chat-turn":
            self.chat_turn(command)
        elif cmd == "chat-stop":
            self.chat_stop()
        elif cmd == "approve":
            await self.approve(command)
        elif cmd == "answer":
            await self.answer(command)
        else:
            shown = "missing" if cmd is None else repr(cmd)
            raise BadCommand(f"bad command: unknown cmd {shown}", f"known commands: {', '.join(COMMANDS)}")

    # ------------------------------------------------------------------ subscriptions

    async def subscribe(self, command: dict[str, Any]) -> None:
        runs = _selection(command.get("runs", []), "runs")
        agents = _selection(command.get("agents", []), "agents")
        rt = self.state.runtime
        if agents != "*":
            unknown = sorted(a for a in agents if a not in rt.agents)
            if unknown:
                hint = not_found("agent", unknown[0], sorted(rt.agents), "the ready frame lists them").hint
                self.error(f"unknown agent(s): {', '.join(unknown)}", hint, ref=command.get("ref"))
                agents = agents - set(unknown)
        subscription = Subscription(runs=runs, agents=agents)
        # Hold live frames while the snapshot is read, so nothing arrives before it.
        self.client.hold()
        self.client.subscription = subscription
        try:
            snapshot = await self.snapshot(subscription)
        except BaseException:
            self.client.release()
            raise
        self.client.reply({"kind": "subscribed", **subscription.to_json()})
        self.client.reply(snapshot)
        self.client.release()

    async def snapshot(self, subscription: Subscription) -> dict[str, Any]:
        rt = self.state.runtime
        if subscription.runs == "*":
            records = await rt.store.list_runs(status="running", limit=1000)
            # A coordinator run's plan is read with the run alone (lists leave it out): fetch those whole.
            whole = [await rt.store.get_run(r.run_id) if r.spec.get("coordinator") else r for r in records]
            records = [r for r in whole if r is not None]
        else:
            records = [r for r in [await rt.store.get_run(run_id) for run_id in sorted(subscription.runs)] if r]
        runs = [rt.with_liveness(r).to_json() for r in records]
        agent_ids = sorted(rt.agents) if subscription.agents == "*" else sorted(subscription.agents)
        agents = [s for s in (self.state.agent_status(a) for a in agent_ids) if s is not None]
        return {"kind": "snapshot", "runs": runs, "agents": agents}

    # ------------------------------------------------------------------ commands

    async def run_workflow(self, command: dict[str, Any]) -> None:
        workflow_id = command.get("id")
        task = command.get("input", "")
        if not isinstance(workflow_id, str) or not workflow_id:
            raise BadCommand('bad command: run-workflow needs "id" (a workflow id)', "see the ready frame's workflows")
        if not isinstance(task, str):
            raise BadCommand('bad command: run-workflow "input" must be a string')
        if self.state.draining:
            raise BadCommand("the daemon is shutting down", "retry once it is back up")
        rt = self.state.runtime
        if rt.config.workflow(workflow_id) is None:
            error = not_found("workflow", workflow_id, [w.id for w in rt.config.workflows], "see the ready frame")
            raise BadCommand(error.error, error.hint)
        subscription = self.client.subscription or Subscription()
        self.client.subscription = subscription
        # The run's first frames are published while it starts, before its id is known here:
        # keep them aside, then replay the ones this run (or the subscription) wants.
        self.client.capture()
        try:
            run_id, _ = await rt.start_workflow(workflow_id, task)
        except BaseException:
            self.client.replay()
            raise
        if subscription.runs != "*":
            subscription.runs.add(run_id)
        frame = {"kind": "workflow-started", "run_id": run_id, "workflow_id": workflow_id, "status": "running"}
        if command.get("ref") is not None:
            frame["ref"] = command["ref"]
        self.client.reply(frame)
        self.client.replay()

    async def answer(self, command: dict[str, Any]) -> None:
        """Answer a run waiting for a human: {"cmd": "answer", "run_id", "answer", "step"?}."""
        run_id, answer, step = command.get("run_id"), command.get("answer"), command.get("step")
        if not isinstance(run_id, str) or not run_id:
            raise BadCommand('bad command: answer needs "run_id" (a waiting run)')
        if not isinstance(answer, str):
            raise BadCommand('bad command: answer needs "answer" (the text of the answer)')
        if step is not None and not isinstance(step, str):
            raise BadCommand('bad command: answer "step" must be a string (the waiting step)')
        if self.state.draining:
            raise BadCommand("the daemon is shutting down", "retry once it is back up")
        subscription = self.client.subscription or Subscription()
        self.client.subscription = subscription
        if subscription.runs != "*":
            subscription.runs.add(run_id)
        await self.state.runtime.start_answer(run_id, answer, step)
        frame: dict[str, Any] = {"kind": "answered", "run_id": run_id, "step": step, "status": "running"}
        if command.get("ref") is not None:
            frame["ref"] = command["ref"]
        self.client.reply(frame)

    def chat_turn(self, command: dict[str, Any]) -> None:
        agent_id = command.get("agent")
        content = command.get("content")
        if not isinstance(agent_id, str) or not agent_id:
            raise BadCommand('bad command: chat-turn needs "agent" (an agent id)')
        if not isinstance(content, str):
            raise BadCommand('bad command: chat-turn needs "content" (a string)')
        system_override = command.get("system_override")
        model_override = command.get("model_override")
        for name, value in (("system_override", system_override), ("model_override", model_override)):
            if value is not None and not isinstance(value, str):
                raise BadCommand(f'bad command: chat-turn "{name}" must be a string')
        thread = command.get("thread")
        if thread is None:
            thread = DEFAULT_THREAD
        elif not isinstance(thread, str) or not is_thread_name(thread):
            raise BadCommand(f'bad command: chat-turn "thread" {thread!r} is not a thread name', THREAD_HINT)
        if self.state.draining:
            raise BadCommand("the daemon is shutting down", "retry once it is back up")
        rt = self.state.runtime
        if agent_id not in rt.agents:
            error = not_found("agent", agent_id, sorted(rt.agents), "see the ready frame")
            raise BadCommand(error.error, error.hint)
        if self.chat is not None and not self.chat.done() and self.chat_forwarding:
            raise BadCommand(
                "a chat turn is already running on this connection",
                'wait for chat-done, or send {"cmd": "chat-stop"} first',
            )
        # Chat keeps the session (stateful) even with overrides, as the original's chat tab did.
        agent_input = AgentInput(content, system_override=system_override, model_override=model_override)
        turn_id = new_id("turn")
        self.chat_forwarding = True
        self.client.reply({"kind": "chat-start", "agent": agent_id, "thread": thread, "turn_id": turn_id})
        self.chat = self.state.detach(self._chat(agent_id, agent_input, thread, turn_id), f"chat:{agent_id}")

    async def _chat(self, agent_id: str, agent_input: AgentInput, thread: str, turn_id: str) -> None:
        base = {"agent": agent_id, "turn_id": turn_id}

        def send(frame: dict[str, Any]) -> None:
            if self.chat_forwarding:
                self.client.reply(frame)

        def sink(event: AgentStreamEvent) -> None:
            frame = chat_frame(event, base)
            if frame is not None:
                send(frame)

        try:
            output = await self.state.execute(agent_id, agent_input, sink=sink, thread=thread)
        except AxocoatlError as exc:
            send({"kind": "chat-error", **base, "error": exc.message, "hint": exc.hint})
        except asyncio.CancelledError:
            send({"kind": "chat-error", **base, "error": f"agent '{agent_id}' was stopped before it answered"})
            raise
        except Exception as exc:
            error_id = new_id("err")
            log.error("internal error %s in a chat turn of %s", error_id, agent_id, exc_info=exc)
            hint = f"the daemon log has the details (error id {error_id})"
            send({"kind": "chat-error", **base, "error": "internal server error", "hint": hint})
        else:
            body = output_json(agent_id, output, thread)
            done = {k: body[k] for k in ("usage", "tool_calls", "llm_calls")}
            send({"kind": "chat-done", **base, "content": body["output"], **done})
        finally:
            self.chat_forwarding = False

    async def approve(self, command: dict[str, Any]) -> None:
        """Decide a pending approval request; the answer is an ``approval-decided`` frame with the request."""
        approval_id = command.get("approval_id")
        decision = command.get("decision")
        scope = command.get("scope", "once")
        reason = command.get("reason")
        if not isinstance(approval_id, str) or not approval_id:
            raise BadCommand('bad command: approve needs "approval_id"', "approval-required frames carry it")
        if decision not in ("allow", "deny"):
            raise BadCommand('bad command: approve "decision" must be "allow" or "deny"')
        if scope not in APPROVAL_SCOPES:
            raise BadCommand(f'bad command: approve "scope" must be one of {", ".join(APPROVAL_SCOPES)}')
        if reason is not None and not isinstance(reason, str):
            raise BadCommand('bad command: approve "reason" must be a string')
        record = await self.state.runtime.approvals.decide(
            approval_id, allow=decision == "allow", scope=scope, reason=reason
        )
        frame = approval_frame("approval-decided", record.to_json())
        if command.get("ref") is not None:
            frame["ref"] = command["ref"]
        self.client.reply(frame)

    def chat_stop(self) -> None:
        # Like the original: stop forwarding; the turn itself finishes and commits (nothing is lost).
        if self.chat is None or self.chat.done() or not self.chat_forwarding:
            raise BadCommand("no chat turn is running on this connection")
        self.chat_forwarding = False
        self.client.reply({"kind": "chat-stopped", "hint": "the turn finishes in the background and is kept"})


def _selection(value: Any, name: str) -> Selection:
    if value == "*":
        return "*"
    if value is None:
        return set()
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return set(value)
    raise BadCommand(f'bad command: subscribe "{name}" must be "*" or a list of ids', f'e.g. {{"{name}": "*"}}')
