"""/v1: an OpenAI-compatible endpoint, so OpenAI clients can talk to our agents and workflows.

``GET /v1/models`` lists what ``openai_api.expose`` offers (agents by id, workflows as
``workflow/ID``); ``POST /v1/chat/completions`` runs one (JSON or SSE). Without a thread
(``x-axocoatl-thread`` header or ``user``) a request is one stateless turn on the
conversation the client sent, as OpenAI's API is; with one, the agent continues that
thread of its own and only the last user message is new. See docs/openai-endpoint.md.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from axocoatl.config.exposure import Target, exposed_targets
from axocoatl.core import events as ev
from axocoatl.core.errors import AxocoatlError
from axocoatl.core.events import AgentStreamEvent, RuntimeEvent, TextChunk
from axocoatl.core.ids import THREAD_HINT, THREAD_PATTERN, is_thread_name, new_id
from axocoatl.core.messages import AgentInput, AgentOutput, ChatMessage
from axocoatl.core.suggest import did_you_mean
from axocoatl.memory.session import DEFAULT_THREAD
from axocoatl.server.errors import SafeJSONResponse, status_for
from axocoatl.server.openai_wire import chunk_json, completion_json, openai_error_body, usage_json
from axocoatl.server.run_feed import RunEvents
from axocoatl.server.state import ServerState, state_of
from axocoatl.server.text import json_text
from axocoatl.store import RunRecord

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["openai"])

THREAD_HEADER = "x-axocoatl-thread"
_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
# Request keys that would change what the model does, which an agent's own config decides: refused
# rather than silently ignored, when they ask for something the endpoint cannot do.
_UNSUPPORTED_LISTS = ("tools", "functions")


class OpenAIError(Exception):
    def __init__(
        self, status: int, message: str, hint: str | None = None, *, code: str | None = None, param: str | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.hint, self.code, self.param = status, message, hint, code, param

    def response(self) -> JSONResponse:
        body = openai_error_body(self.status, self.message, self.hint, code=self.code, param=self.param)
        return SafeJSONResponse(body, status_code=self.status)


def _from_axocoatl(exc: AxocoatlError) -> OpenAIError:
    status = status_for(exc)
    code = {409: "conflict", 502: "provider_error", 504: "timeout"}.get(status, "internal_error")
    return OpenAIError(status, exc.message, exc.hint, code=code)


def _unexpected(exc: BaseException, where: str) -> OpenAIError:
    error_id = new_id("err")
    log.error("internal error %s in %s", error_id, where, exc_info=exc)
    return OpenAIError(500, "internal server error", f"the daemon log has the details (error id {error_id})")


def _exposed(state: ServerState) -> list[Target]:
    config = state.runtime.config
    if not config.openai_api.enabled:
        raise OpenAIError(
            404,
            "the OpenAI-compatible endpoint is turned off",
            "set openai_api.enabled: true in axocoatl.yaml",
            code="endpoint_disabled",
        )
    return exposed_targets(config, config.openai_api.expose)


def _model_json(target: Target, created: int) -> dict[str, Any]:
    return {"id": target.ref, "object": "model", "created": created, "owned_by": "axocoatl"}


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    error = {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "object", "required": ["message", "type"]}},
    }
    return {
        code: {"description": "An OpenAI-shaped error", "content": {"application/json": {"schema": error}}}
        for code in codes
    }


_CHAT_BODY = {
    "required": True,
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["model", "messages"],
                "properties": {
                    "model": {
                        "type": "string",
                        "minLength": 1,
                        "description": "An agent id or workflow/ID (GET /v1/models).",
                    },
                    "messages": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["role", "content"],
                            "properties": {
                                "role": {"enum": ["system", "developer", "user", "assistant"]},
                                "content": {"type": "string"},
                            },
                        },
                    },
                    "stream": {"type": "boolean"},
                    "user": {"type": "string", "pattern": THREAD_PATTERN, "description": "The thread to continue."},
                },
            }
        }
    },
}


@router.get(
    "/models",
    summary="The agents and workflows offered as models (OpenAI-compatible)",
    responses=_errors(401, 404),
)
async def list_models(request: Request) -> Response:
    state = state_of(request)
    try:
        targets = _exposed(state)
    except OpenAIError as exc:
        return exc.response()
    created = int(state.started_at)
    return SafeJSONResponse({"object": "list", "data": [_model_json(t, created) for t in targets]})


@router.get("/models/{model:path}", summary="One model (OpenAI-compatible)", responses=_errors(401, 404))
async def get_model(model: str, request: Request) -> Response:
    state = state_of(request)
    try:
        target = _find_model(_exposed(state), model)
    except OpenAIError as exc:
        return exc.response()
    return SafeJSONResponse(_model_json(target, int(state.started_at)))


def _find_model(targets: list[Target], model: str) -> Target:
    target = next((t for t in targets if t.ref == model), None)
    if target is None:
        refs = [t.ref for t in targets]
        hint = did_you_mean(model, refs, noun="model", known=True) + " (GET /v1/models lists them)"
        raise OpenAIError(404, f"the model '{model}' does not exist", hint, code="model_not_found", param="model")
    return target


# ----------------------------------------------------------------------------- the request


@dataclass
class _Chat:
    model: str
    stream: bool
    include_usage: bool
    history: tuple[ChatMessage, ...]  # everything before the last user message
    text: str  # the last user message
    thread: str | None


def _invalid(message: str, param: str | None, hint: str | None = None) -> OpenAIError:
    return OpenAIError(400, message, hint, code="invalid_request", param=param)


def _content_text(content: Any, param: str) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = []
        for index, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise _invalid(
                    f"{param}[{index}] is a '{kind}' part; only text parts are supported",
                    f"{param}[{index}]",
                    'send text, or parts like {"type": "text", "text": "..."}',
                )
            texts.append(part["text"])
        return "\n".join(texts)
    raise _invalid(f"{param} must be a string or a list of text parts", param)


def _parse_chat(raw: bytes, header_thread: str | None, targets: list[Target]) -> tuple[_Chat, Target]:
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise _invalid(f"the request body is not valid JSON: {str(exc)[:200]}", None) from None
    if not isinstance(body, dict):
        raise _invalid("the request body must be a JSON object", None)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _invalid("'model' is required: an agent id or workflow/ID", "model", "GET /v1/models lists them")
    target = _find_model(targets, model)
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _invalid("'messages' must be a non-empty list", "messages")
    for key in _UNSUPPORTED_LISTS:
        if body.get(key):
            raise _invalid(
                f"'{key}' is not supported: axocoatl agents call the tools of their own config",
                key,
                "leave it out; give the agent tools in axocoatl.yaml",
            )
    n = body.get("n", 1)
    if n not in (1, None):
        raise _invalid("only n=1 is supported", "n")
    stream = body.get("stream", False)
    if not isinstance(stream, bool | None):
        raise _invalid("'stream' must be true or false", "stream")
    options = body.get("stream_options") or {}
    include_usage = isinstance(options, dict) and options.get("include_usage") is True

    conversation: list[ChatMessage] = []
    for index, message in enumerate(messages):
        param = f"messages[{index}]"
        if not isinstance(message, dict):
            raise _invalid(f"{param} must be an object with role and content", param)
        role = message.get("role")
        text = _content_text(message.get("content"), f"{param}.content")
        if role in ("system", "developer"):
            continue  # the agent's own system prompt governs it (docs/openai-endpoint.md)
        if role == "user":
            conversation.append(ChatMessage.user(text))
        elif role == "assistant":
            conversation.append(ChatMessage.assistant(text))
        elif role in ("tool", "function"):
            raise _invalid(f"{param} has role '{role}': client-side tool results are not supported", param)
        else:
            raise _invalid(f"{param} has unknown role {role!r}", f"{param}.role", "use system, user or assistant")
    if not conversation or conversation[-1].role != "user":
        raise _invalid("the last message must be a user message: it is what the agent answers", "messages")

    thread = header_thread if header_thread is not None else body.get("user")
    if thread is not None:
        where = f"the {THREAD_HEADER} header" if header_thread is not None else "'user'"
        if not isinstance(thread, str) or not is_thread_name(thread):
            raise _invalid(f"{where} must name a thread", "user", THREAD_HINT)
    chat = _Chat(model, bool(stream), include_usage, tuple(conversation[:-1]), conversation[-1].content, thread)
    return chat, target


@router.post(
    "/chat/completions",
    summary="Run an agent or workflow (OpenAI-compatible; JSON or SSE); see docs/openai-endpoint.md",
    responses=_errors(400, 401, 404, 409, 413, 429, 500, 502, 503, 504),
    openapi_extra={"requestBody": _CHAT_BODY},
)
async def chat_completions(request: Request) -> Response:
    state = state_of(request)
    try:
        chat, target = _parse_chat(await request.body(), request.headers.get(THREAD_HEADER), _exposed(state))
        if state.draining:
            raise OpenAIError(503, "the daemon is shutting down", "retry once it is back up", code="unavailable")
        completion = _Completion(state, chat, target)
        if target.kind == "workflow":
            return await completion.workflow()
        return await completion.agent()
    except OpenAIError as exc:
        return exc.response()


class _Completion:
    """One chat completion: an agent turn or a workflow run, answered as JSON or as a chunk stream."""

    def __init__(self, state: ServerState, chat: _Chat, target: Target) -> None:
        self.state = state
        self.chat = chat
        self.target = target
        self.id = new_id("chatcmpl")
        self.created = int(time.time())

    def _chunk(self, delta: dict[str, Any] | None, **kwargs: Any) -> str:
        return f"data: {json_text(chunk_json(self.id, self.created, self.chat.model, delta, **kwargs))}\n\n"

    def _finish(self, usage: dict[str, int]) -> list[str]:
        frames = [self._chunk({}, finish_reason="stop")]
        if self.chat.include_usage:
            frames.append(self._chunk(None, usage=usage))
        return [*frames, "data: [DONE]\n\n"]

    @staticmethod
    def _error_frame(error: OpenAIError) -> str:
        body = openai_error_body(error.status, error.message, error.hint, code=error.code, param=error.param)
        return f"data: {json_text(body)}\n\n"

    def _respond(self, content: str, usage: dict[str, int], extra: dict[str, Any], headers: dict[str, str]) -> Response:
        body = completion_json(self.id, self.created, self.chat.model, content, usage, extra)
        return SafeJSONResponse(body, headers=headers)

    # ------------------------------------------------------------------ agents

    def _agent_input(self) -> tuple[AgentInput, str | None]:
        chat = self.chat
        if chat.thread is None:
            return AgentInput(chat.text, stateless=True, history=chat.history), None
        return AgentInput(chat.text), chat.thread

    async def agent(self) -> Response:
        agent_input, thread = self._agent_input()
        headers = {THREAD_HEADER: thread} if thread is not None else {}
        if self.chat.stream:
            return StreamingResponse(
                self._agent_stream(agent_input, thread), media_type="text/event-stream", headers=_SSE_HEADERS | headers
            )
        output = await self._run_turn(agent_input, thread, None)
        usage = usage_json(output.usage.input, output.usage.output)
        return self._respond(output.content, usage, {"agent_id": self.target.id, "thread": thread}, headers)

    async def _run_turn(self, agent_input: AgentInput, thread: str | None, sink: Any) -> AgentOutput:
        state, agent_id = self.state, self.target.id
        # Detached: a client that disconnects does not cancel a turn that will commit.
        turn = state.execute(agent_id, agent_input, sink=sink, thread=thread or DEFAULT_THREAD)
        task = state.detach(turn, f"openai:{agent_id}")
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.cancelled():
                raise OpenAIError(409, f"agent '{agent_id}' was stopped before it answered", "send it again") from None
            raise
        except AxocoatlError as exc:
            raise _from_axocoatl(exc) from None
        except Exception as exc:
            raise _unexpected(exc, f"a chat completion of {agent_id}") from None

    async def _agent_stream(self, agent_input: AgentInput, thread: str | None) -> AsyncIterator[str]:
        deltas: asyncio.Queue[str | None] = asyncio.Queue()

        def sink(event: AgentStreamEvent) -> None:
            if isinstance(event, TextChunk) and event.text:
                deltas.put_nowait(event.text)

        async def run() -> AgentOutput:
            try:
                return await self._run_turn(agent_input, thread, sink)
            finally:
                deltas.put_nowait(None)

        task = asyncio.ensure_future(run())
        yield self._chunk({"role": "assistant", "content": ""})
        while (delta := await deltas.get()) is not None:
            yield self._chunk({"content": delta})
        try:
            output = await task
        except OpenAIError as exc:
            yield self._error_frame(exc)
            return
        for frame in self._finish(usage_json(output.usage.input, output.usage.output)):
            yield frame

    # ------------------------------------------------------------------ workflows

    async def workflow(self) -> Response:
        feed = RunEvents(self.state.runtime.bus.subscribe)
        try:
            run_id, task = await self.state.runtime.start_workflow(self.target.id, self.chat.text)
        except AxocoatlError as exc:
            feed.close()
            raise _from_axocoatl(exc) from None
        except BaseException:
            feed.close()
            raise
        headers = {"x-axocoatl-run": run_id}
        if self.chat.stream:
            feed.follow(run_id, task)
            stream = self._workflow_stream(run_id, task, feed)
            return StreamingResponse(stream, media_type="text/event-stream", headers=_SSE_HEADERS | headers)
        feed.close()
        run = await asyncio.shield(task)  # the run belongs to the runtime, not to this request
        content = self._run_output(run)
        extra = {"run_id": run_id, "workflow_id": self.target.id}
        return self._respond(content, _run_usage(run), extra, headers)

    def _run_output(self, run: RunRecord) -> str:
        if run.status != "completed":
            raise OpenAIError(
                500,
                f"workflow '{self.target.id}' run {run.run_id} {run.status}: {run.error or 'no output'}",
                f"`axocoatl runs show {run.run_id}` shows its steps",
                code="run_failed",
            )
        return run.final_output or ""

    async def _workflow_stream(self, run_id: str, task: asyncio.Task[RunRecord], feed: RunEvents) -> AsyncIterator[str]:
        try:
            yield self._chunk({"role": "assistant", "content": ""})
            while (event := await feed.queue.get()) is not None:
                comment = _progress(event)
                if comment is not None:
                    yield comment
            try:
                run = await asyncio.shield(task)
                content = self._run_output(run)
            except OpenAIError as exc:
                yield self._error_frame(exc)
                return
            except BaseException as exc:
                yield self._error_frame(_unexpected(exc, f"run {run_id}"))
                return
            yield self._chunk({"content": content})
            for frame in self._finish(_run_usage(run)):
                yield frame
        finally:
            feed.close()


def _progress(event: RuntimeEvent) -> str | None:
    """A run event as an SSE comment line (OpenAI clients skip comments; people watching read them)."""
    agent = event.agent_id or ""
    if event.type == ev.AGENT_ACTIVATED:
        return f": step {agent} started\n\n"
    if event.type == ev.TASK_COMPLETED:
        return f": step {agent} completed\n\n"
    if event.type == ev.AGENT_FAILED:
        error = str(event.payload.get("error", "")).replace("\n", " ")[:300]
        return f": step {agent} failed: {error}\n\n"
    if event.type == ev.STEP_SKIPPED:
        return f": step {agent} skipped\n\n"
    return None


def _run_usage(run: RunRecord) -> dict[str, int]:
    """Tokens the run spent (its steps, and a coordinator's planning and subtasks)."""
    usage = run.usage()
    return usage_json(usage.input, usage.output)


@router.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
async def unknown_endpoint(path: str, request: Request) -> Response:
    """Any other /v1 path or method: an OpenAI-shaped 404 (or 405), so OpenAI clients show why."""
    hint = "this daemon serves GET /v1/models, GET /v1/models/{id} and POST /v1/chat/completions"
    allowed = {"chat/completions": "POST", "models": "GET"}.get(path, "GET" if path.startswith("models/") else None)
    if allowed is not None:
        error = OpenAIError(405, f"/v1/{path} does not accept {request.method}", hint, code="method_not_allowed")
        response = error.response()
        response.headers["allow"] = allowed
        return response
    return OpenAIError(404, f"no endpoint {request.method} /v1/{path}", hint, code="unknown_url").response()
