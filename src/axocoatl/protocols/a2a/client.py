"""Talk to a remote A2A agent through the a2a-sdk client: fetch its card, send a message, read the reply.

Used by the ``a2a__{name}`` tools, the ``a2a`` provider (a workflow step on a remote agent)
and ``axocoatl a2a card|send``. Connection failures are retried; a task that fails, is
cancelled or wants input is an error naming the remote and what it said. Cancelling the
caller cancels the remote task (best effort).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from a2a.client import ClientConfig, create_client
from a2a.client.card_resolver import parse_agent_card
from a2a.client.errors import A2AClientError
from a2a.types.a2a_pb2 import (
    AgentCard,
    CancelTaskRequest,
    GetTaskRequest,
    Message,
    Part,
    Role,
    SendMessageRequest,
    StreamResponse,
    Task,
    TaskState,
)
from a2a.utils.errors import A2AError
from google.protobuf.json_format import ParseError

from axocoatl.config.schema import A2AAgentConfig
from axocoatl.core.errors import RemoteAgentError
from axocoatl.protocols.a2a.tasks import LOST_KEY, STEP_PREFIX

log = logging.getLogger(__name__)

CARD_PATH = "/.well-known/agent-card.json"
BINDINGS = ["JSONRPC", "HTTP+JSON"]
_DONE_STATES = {TaskState.TASK_STATE_COMPLETED}
_LIVE = {TaskState.TASK_STATE_SUBMITTED, TaskState.TASK_STATE_WORKING}
_BAD_STATES = {
    TaskState.TASK_STATE_FAILED: "failed",
    TaskState.TASK_STATE_CANCELED: "was cancelled",
    TaskState.TASK_STATE_REJECTED: "rejected the task",
    TaskState.TASK_STATE_INPUT_REQUIRED: "asks for more input, which this client cannot give",
    TaskState.TASK_STATE_AUTH_REQUIRED: "asks for authentication this client cannot give",
}


def card_url(url: str) -> str:
    """The card URL for a card URL or a base URL."""
    return url if url.endswith(".json") else url.rstrip("/") + CARD_PATH


@dataclass
class Reply:
    """What the remote answered: its text, and the task and context it belongs to (None for a plain message)."""

    text: str
    task_id: str | None
    context_id: str | None


def _texts(parts: Any) -> str:
    return "".join(part.text for part in parts if part.HasField("text"))


class RemoteAgent:
    """One remote agent; ``headers`` go with every request (auth)."""

    def __init__(
        self,
        name: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = 300.0,
        retries: int = 2,
        url_hint: str | None = None,
        timeout_hint: str | None = None,
    ) -> None:
        self.name = name
        self.url = url
        # How to fix a wrong URL or a too-short timeout: where they were set (the config, or a CLI argument).
        self.url_hint = url_hint or f"check a2a_agents[{name}].url"
        self.timeout_hint = timeout_hint or f"raise a2a_agents[{name}].timeout_secs"
        self.headers = dict(headers or {})
        self.timeout = timeout
        self.retries = retries
        self._card: AgentCard | None = None

    def _http(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(headers=self.headers, timeout=httpx.Timeout(self.timeout, connect=10.0))

    async def _retrying(self, what: str, attempt: Callable[[], Any]) -> Any:
        delay = 0.5
        for tries in range(self.retries + 1):
            try:
                return await attempt()
            except RemoteAgentError as exc:
                if not exc.retryable or tries == self.retries:
                    raise
                log.info("a2a %s: %s failed (%s); retrying in %.1f s", self.name, what, exc.message, delay)
                await asyncio.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")

    async def card(self, *, refresh: bool = False) -> AgentCard:
        """The remote's agent card (fetched once, with retries)."""
        if self._card is None or refresh:
            self._card = await self._retrying("fetching the card", self._fetch_card)
        return self._card

    async def card_json(self) -> dict[str, Any]:
        """The card as the remote serves it (for `axocoatl a2a card`)."""
        data: dict[str, Any] = await self._retrying("fetching the card", self._card_body)
        return data

    async def _card_body(self) -> dict[str, Any]:
        url = card_url(self.url)
        hint = f"{self.url_hint}; the card should be served at {url}"
        try:
            async with self._http() as http:
                response = await http.get(url)
        except httpx.HTTPError as exc:
            raise RemoteAgentError(
                f"cannot reach A2A agent '{self.name}' at {url}: {exc or type(exc).__name__}", hint=hint, retryable=True
            ) from exc
        if response.status_code >= 500:
            raise RemoteAgentError(
                f"A2A agent '{self.name}': {url} answered {response.status_code}", hint=hint, retryable=True
            )
        if response.status_code != 200:
            raise RemoteAgentError(f"A2A agent '{self.name}': {url} answered {response.status_code}", hint=hint)
        try:
            body = response.json()
        except ValueError:
            raise RemoteAgentError(f"A2A agent '{self.name}': {url} is not JSON", hint=hint) from None
        if not isinstance(body, dict):
            raise RemoteAgentError(f"A2A agent '{self.name}': {url} is not an agent card (not an object)", hint=hint)
        return body

    async def _fetch_card(self) -> AgentCard:
        body = await self._card_body()
        try:
            card = parse_agent_card(body)
        except ParseError as exc:
            raise RemoteAgentError(
                f"A2A agent '{self.name}': {card_url(self.url)} is not a valid agent card: {exc}",
                hint="the remote must serve an A2A 1.0 or 0.3 agent card",
            ) from None
        if not card.supported_interfaces:
            raise RemoteAgentError(f"A2A agent '{self.name}': its card lists no interface (no URL to send to)")
        return card

    async def send(
        self, text: str, *, context_id: str | None = None, on_text: Callable[[str], None] | None = None
    ) -> Reply:
        """Send ``text`` and wait for the reply; ``on_text`` sees the reply as it streams.

        Whatever happens in between (a broken stream read back, a message sent again), the pieces
        ``on_text`` saw join to exactly the reply's text; if they cannot (a second attempt answered
        differently after part of the first was shown), RemoteAgentError says so."""
        card = await self.card()
        relay = _Relay(on_text)

        async def attempt() -> Reply:
            relay.restart()
            return await self._send(card, text, context_id, relay.add)

        reply: Reply = await self._retrying("sending", attempt)
        relay.finish(reply.text, self.name)
        return reply

    async def _send(
        self, card: AgentCard, text: str, context_id: str | None, on_text: Callable[[str], None] | None
    ) -> Reply:
        message = Message(
            role=Role.ROLE_USER, message_id=uuid.uuid4().hex, context_id=context_id, parts=[Part(text=text)]
        )
        streaming = card.capabilities.streaming
        async with self._http() as http:
            # Without streaming, ask for the task at once (0.3: blocking false) and poll it: a blocking send
            # leaves no task id to cancel while it waits.
            config = ClientConfig(
                streaming=streaming, polling=not streaming, httpx_client=http, supported_protocol_bindings=BINDINGS
            )
            client = await create_client(card, config)
            folded = _Fold(self.name, on_text)
            try:
                async with asyncio.timeout(self.timeout):
                    async for event in client.send_message(SendMessageRequest(message=message)):
                        folded.add(event)
                    delay = 0.2
                    while not streaming and folded.task is not None and folded.task.status.state in _LIVE:
                        await asyncio.sleep(delay)
                        delay = min(delay * 2, 2.0)
                        folded.add(StreamResponse(task=await client.get_task(GetTaskRequest(id=folded.task.id))))
            except TimeoutError:
                await self._cancel(client, folded.task_id)
                raise RemoteAgentError(
                    f"A2A agent '{self.name}' did not answer within {self.timeout:g} s",
                    hint=self.timeout_hint,
                ) from None
            except asyncio.CancelledError:
                await self._cancel(client, folded.task_id)  # our caller gave up: so does the remote
                raise
            except httpx.HTTPError as exc:
                raise RemoteAgentError(
                    f"A2A agent '{self.name}' could not be reached: {exc or type(exc).__name__}", retryable=True
                ) from exc
            except (A2AClientError, A2AError) as exc:
                cause = exc.__cause__
                if not (isinstance(cause, httpx.RequestError) or _server_error(cause)):
                    raise RemoteAgentError(f"A2A agent '{self.name}' refused the message: {exc}") from exc
                if folded.task_id is None:
                    # Not reached (down, restarting) or failing on its side: worth another try.
                    raise RemoteAgentError(
                        f"A2A agent '{self.name}' could not be reached: {cause}", retryable=True
                    ) from exc
                # The task exists and the connection dropped (the remote restarting?): wait for the task.
                folded.task = await self._recover(card, folded.task_id)
            task = folded.task
            if task is not None and LOST_KEY in task.metadata.fields:
                # The remote restarted before its agent answered and kept nothing: sending again is safe.
                raise RemoteAgentError(f"A2A agent '{self.name}' restarted during the task", retryable=True)
            return folded.reply()

    async def _recover(self, card: AgentCard, task_id: str) -> Task:
        """Poll a task whose stream broke until it ends (the remote resumes its runs after a restart)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        delay = 0.5
        while True:
            try:
                async with self._http() as http:
                    config = ClientConfig(streaming=False, httpx_client=http, supported_protocol_bindings=BINDINGS)
                    client = await create_client(card, config)
                    task: Task = await client.get_task(GetTaskRequest(id=task_id))
                if task.status.state not in _LIVE:
                    return task
            except (httpx.HTTPError, A2AClientError, A2AError) as exc:
                log.info("a2a %s: task %s not readable yet (%s)", self.name, task_id, exc)
            if loop.time() + delay > deadline:
                raise RemoteAgentError(
                    f"A2A agent '{self.name}': task {task_id} did not end within {self.timeout:g} s after its "
                    "stream broke",
                    hint=self.timeout_hint,
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    async def _cancel(self, client: Any, task_id: str | None) -> None:
        if task_id is None:
            return
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                await asyncio.shield(client.cancel_task(CancelTaskRequest(id=task_id)))


class _Relay:
    """Passes streamed text on, once: a later attempt shows only what goes beyond what was shown."""

    def __init__(self, on_text: Callable[[str], None] | None) -> None:
        self.on_text = on_text
        self.shown = ""  # what on_text saw, over every attempt
        self.current = ""  # what this attempt streamed
        self.diverged = False

    def restart(self) -> None:
        self.current = ""

    def add(self, chunk: str) -> None:
        self.current += chunk
        if self.diverged or self.on_text is None:
            return
        if self.current.startswith(self.shown):
            new = self.current[len(self.shown) :]
            if new:
                self.shown = self.current
                self.on_text(new)
        elif not self.shown.startswith(self.current):
            self.diverged = True  # this attempt says something else than what was shown

    def finish(self, text: str, name: str) -> None:
        if self.on_text is None:
            return
        if self.diverged or not text.startswith(self.shown):
            raise RemoteAgentError(
                f"A2A agent '{name}' answered differently when asked again after its stream broke, "
                "so the reply shown so far is not its reply",
                hint="send the message again",
            )
        if len(text) > len(self.shown):
            self.on_text(text[len(self.shown) :])  # the rest (read back, never streamed)
            self.shown = text


def _server_error(exc: BaseException | None) -> bool:
    return isinstance(exc, httpx.HTTPStatusError) and exc.response.status_code >= 500


class _Fold:
    """Folds a stream of responses (or the single one of a non-streaming call) into a Reply."""

    def __init__(self, name: str, on_text: Callable[[str], None] | None) -> None:
        self.name = name
        self.on_text = on_text
        self.task: Task | None = None
        self.message: Message | None = None
        self.streamed: list[str] = []
        self.final_artifact: str | None = None

    @property
    def task_id(self) -> str | None:
        return self.task.id if self.task is not None else None

    def add(self, event: StreamResponse) -> None:
        if event.HasField("message"):
            self.message = event.message
            self._emit(_texts(event.message.parts))
        elif event.HasField("task"):
            self.task = event.task
        elif event.HasField("status_update") and self.task is not None:
            self.task.status.CopyFrom(event.status_update.status)
        elif event.HasField("artifact_update"):
            update = event.artifact_update
            chunk = _texts(update.artifact.parts)
            if update.artifact.artifact_id.startswith(STEP_PREFIX):
                return  # an axocoatl workflow's step, not its reply
            if update.last_chunk and not update.append:
                self.final_artifact = chunk  # the whole reply, after its chunks
            else:
                self.streamed.append(chunk)
                self._emit(chunk)

    def _emit(self, text: str) -> None:
        if self.on_text is not None and text:
            self.on_text(text)

    def reply(self) -> Reply:
        if self.message is not None and self.task is None:
            return Reply(_texts(self.message.parts), None, self.message.context_id or None)
        task = self.task
        if task is None:
            raise RemoteAgentError(f"A2A agent '{self.name}' answered neither a message nor a task")
        state = task.status.state
        said = _texts(task.status.message.parts) if task.status.HasField("message") else ""
        if state in _BAD_STATES:
            detail = f": {said}" if said else ""
            raise RemoteAgentError(f"A2A agent '{self.name}' {_BAD_STATES[state]}{detail}")
        if state not in _DONE_STATES:
            raise RemoteAgentError(
                f"A2A agent '{self.name}' ended the exchange with its task still {TaskState.Name(state)}"
            )
        if self.final_artifact is not None:
            text = self.final_artifact
        elif task.artifacts:
            replies = [a for a in task.artifacts if not a.artifact_id.startswith(STEP_PREFIX)]
            text = "\n".join(_texts(a.parts) for a in replies)
        elif self.streamed:
            text = "".join(self.streamed)
        else:
            text = said
        return Reply(text, task.id, task.context_id)


def remote_agent(config: A2AAgentConfig) -> RemoteAgent:
    """The client of one configured ``a2a_agents`` entry."""
    headers = {key: value.get_secret_value() for key, value in config.headers.items()}
    return RemoteAgent(config.name, config.url, headers=headers, timeout=config.timeout_secs, retries=config.retries)


def context_for(*parts: str | None) -> str:
    """A stable contextId for one local conversation, so the remote continues its side of it too."""
    key = "\x1f".join(p or "" for p in parts)
    return "axo-" + hashlib.sha256(key.encode()).hexdigest()[:32]


def reply_json(reply: Reply) -> dict[str, Any]:
    return {"text": reply.text, "task_id": reply.task_id, "context_id": reply.context_id}


def dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2)
