"""The a2a-sdk 0.3 client (the last 0.3-line SDK, in .cache/a2a-peers-venv), driven from the command line.

Run with that venv's python, never axocoatl's (which has a2a-sdk 1.x):

    python v03_client.py card BASE_URL PATH
    python v03_client.py send URL BINDING STREAM TEXT [CONTEXT]      (BINDING: JSONRPC or HTTP+JSON; STREAM: 0/1)
    python v03_client.py cancel URL BINDING TEXT                     (cancels the task once it exists)

URL is a card URL's base (the card is read from URL/.well-known/agent-card.json). The API key, if
any, comes from A2A_KEY (sent as x-api-key). Prints one JSON object on stdout; a refused request
prints {"error": TYPE, "status": HTTP status if known, "message": ...} and exits 3.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from typing import Any

import httpx
from a2a.client import A2ACardResolver, ClientConfig, ClientFactory
from a2a.client.errors import A2AClientHTTPError, A2AClientJSONRPCError
from a2a.types import Message, Part, Role, Task, TaskIdParams, TaskQueryParams, TextPart


def http() -> httpx.AsyncClient:
    key = os.environ.get("A2A_KEY")
    return httpx.AsyncClient(headers={"x-api-key": key} if key else {}, timeout=60)


async def client_for(h: httpx.AsyncClient, url: str, binding: str, streaming: bool) -> Any:
    card = await A2ACardResolver(h, url).get_agent_card()
    config = ClientConfig(
        streaming=streaming, httpx_client=h, supported_transports=[binding], use_client_preference=True
    )
    return ClientFactory(config).create(card)


def message(text: str, context_id: str | None = None) -> Message:
    return Message(
        role=Role.user, message_id=uuid.uuid4().hex, context_id=context_id, parts=[Part(root=TextPart(text=text))]
    )


def text_of(task: Task, artifact_id: str = "output") -> str:
    return "".join(
        p.root.text
        for a in task.artifacts or []
        if a.artifact_id == artifact_id
        for p in a.parts
        if isinstance(p.root, TextPart)
    )


def summary(task: Task) -> dict[str, Any]:
    return {
        "task_id": task.id,
        "context_id": task.context_id,
        "state": task.status.state.value,
        "output": text_of(task),
        "artifacts": [a.artifact_id for a in task.artifacts or []],
        "metadata": task.metadata or {},
    }


async def card(base: str, path: str) -> dict[str, Any]:
    async with http() as h:
        c = await A2ACardResolver(h, base, agent_card_path=path).get_agent_card()
    return {
        "name": c.name,
        "protocol_version": c.protocol_version,
        "url": c.url,
        "preferred_transport": c.preferred_transport,
        "additional_interfaces": [[i.transport, i.url] for i in c.additional_interfaces or []],
        "streaming": bool(c.capabilities.streaming),
        "skills": [s.id for s in c.skills],
        "security": sorted((c.security_schemes or {}).keys()),
    }


async def send(url: str, binding: str, streaming: bool, text: str, context_id: str | None) -> dict[str, Any]:
    async with http() as h:
        client = await client_for(h, url, binding, streaming)
        kinds: list[str] = []
        last: Task | None = None
        async for event in client.send_message(message(text, context_id)):
            if isinstance(event, Message):
                return {"message": "".join(p.root.text for p in event.parts if isinstance(p.root, TextPart))}
            task, update = event
            kinds.append(type(update).__name__ if update is not None else "Task")
            last = task
        assert last is not None, "no event"
        fetched = await client.get_task(TaskQueryParams(id=last.id))
        return {"events": kinds, "streamed": summary(last), "fetched": summary(fetched)}


async def cancel(url: str, binding: str, text: str) -> dict[str, Any]:
    async with http() as h:
        client = await client_for(h, url, binding, True)
        stream = client.send_message(message(text))
        first = await anext(stream)
        assert not isinstance(first, Message), f"a message, not a task: {first}"
        task, _ = first
        canceled = await client.cancel_task(TaskIdParams(id=task.id))
        await stream.aclose()
        fetched = await client.get_task(TaskQueryParams(id=task.id))
        return {"first": summary(task), "canceled": summary(canceled), "fetched": summary(fetched)}


async def main(argv: list[str]) -> dict[str, Any]:
    command, args = argv[0], argv[1:]
    if command == "card":
        return await card(args[0], args[1])
    if command == "send":
        return await send(args[0], args[1], args[2] == "1", args[3], args[4] if len(args) > 4 else None)
    if command == "cancel":
        return await cancel(args[0], args[1], args[2])
    raise SystemExit(f"unknown command {command!r}: card, send or cancel")


if __name__ == "__main__":
    try:
        print(json.dumps(asyncio.run(main(sys.argv[1:]))))
    except (A2AClientHTTPError, A2AClientJSONRPCError) as exc:
        print(
            json.dumps({"error": type(exc).__name__, "status": getattr(exc, "status_code", None), "message": str(exc)})
        )
        sys.exit(3)
