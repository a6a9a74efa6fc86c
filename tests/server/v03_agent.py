"""A plain a2a-sdk 0.3 agent (no axocoatl code, the 0.3.26 SDK of .cache/a2a-peers-venv): the pure 0.3 server
our A2A client is tested against. Its card has only the 0.3 shape (`url`, `preferredTransport`,
`protocolVersion: 0.3.0`, no `supportedInterfaces`).

Run with that venv's python: ``python v03_agent.py PORT BINDING EVENTS`` (BINDING: JSONRPC, streaming, or
HTTP+JSON, not streaming). It answers ``v03 peer says: TEXT (turn N)``, N counting the messages of the
context, as a completed task with the reply in the artifact ``reply`` (streamed in two chunks on JSON-RPC).
A message starting with "dawdle" works until it is canceled. The file EVENTS gets a line
``working TASK`` when a task starts and ``canceled TASK`` when one is canceled.
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from pathlib import Path

import uvicorn
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.apps import A2ARESTFastAPIApplication, A2AStarletteApplication
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
from a2a.types import AgentCapabilities, AgentCard, AgentSkill, Part, TextPart
from a2a.utils import get_message_text, new_task


class Echo(AgentExecutor):
    def __init__(self, streaming: bool, events: Path) -> None:
        self.streaming = streaming
        self.events = events
        self.turns: Counter[str] = Counter()

    def record(self, what: str, task_id: str) -> None:
        with self.events.open("a") as f:
            f.write(f"{what} {task_id}\n")

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        assert context.message is not None
        task = context.current_task or new_task(context.message)
        await event_queue.enqueue_event(task)
        updater = TaskUpdater(event_queue, task.id, task.context_id)
        await updater.start_work()
        self.record("working", task.id)
        text = get_message_text(context.message)
        if text.startswith("dawdle"):
            await asyncio.sleep(600)  # until canceled: the handler cancels this coroutine
        self.turns[task.context_id] += 1
        reply = f"v03 peer says: {text} (turn {self.turns[task.context_id]})"
        if self.streaming:
            half = len(reply) // 2
            await updater.add_artifact([Part(root=TextPart(text=reply[:half]))], artifact_id="out", name="reply")
            await updater.add_artifact(
                [Part(root=TextPart(text=reply[half:]))], artifact_id="out", name="reply", append=True, last_chunk=True
            )
        else:
            await updater.add_artifact([Part(root=TextPart(text=reply))], artifact_id="out", name="reply")
        await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        self.record("canceled", context.task_id or "")
        await TaskUpdater(event_queue, context.task_id or "", context.context_id or "").cancel()


def main() -> None:
    port, binding, events = int(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    streaming = binding == "JSONRPC"
    card = AgentCard(
        name="v03-peer",
        description="An echo agent built on a2a-sdk 0.3 alone.",
        version="0.3.26",
        url=f"http://127.0.0.1:{port}/",
        preferred_transport=binding,
        protocol_version="0.3.0",
        capabilities=AgentCapabilities(streaming=streaming),
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        skills=[AgentSkill(id="echo", name="echo", description="Echoes.", tags=["echo"])],
    )
    handler = DefaultRequestHandler(agent_executor=Echo(streaming, events), task_store=InMemoryTaskStore())
    app = (
        A2AStarletteApplication(agent_card=card, http_handler=handler).build()
        if binding == "JSONRPC"
        else A2ARESTFastAPIApplication(agent_card=card, http_handler=handler).build()
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
