"""A plain a2a-sdk agent (no axocoatl code): the third-party server our A2A client is tested against.

Run as ``python sdk_a2a_peer.py PORT BINDING REPLY`` (BINDING: JSONRPC or HTTP+JSON; REPLY: stream,
task or message). It answers ``peer says: TEXT (turn N)``, N counting the messages of the context:
as a completed task with the reply in an artifact (streamed in two chunks for stream), or as a
plain message without a task (message).
"""

from __future__ import annotations

import sys
from collections import Counter

import uvicorn
from a2a.helpers.proto_helpers import new_task_from_user_message, new_text_message
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandlerV2
from a2a.server.routes import create_jsonrpc_routes, create_rest_routes
from a2a.server.routes.agent_card_routes import create_agent_card_routes
from a2a.server.tasks import InMemoryTaskStore
from a2a.server.tasks.task_updater import TaskUpdater
from a2a.types.a2a_pb2 import AgentCapabilities, AgentCard, AgentInterface, AgentSkill, Part, Role
from starlette.applications import Starlette
from starlette.routing import Mount


class Echo(AgentExecutor):
    def __init__(self, reply: str) -> None:
        self.streaming = reply == "stream"
        self.as_message = reply == "message"
        self.turns: Counter[str] = Counter()

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        assert context.message is not None
        text = "".join(part.text for part in context.message.parts if part.HasField("text"))
        if self.as_message:
            self.turns[context.context_id or ""] += 1
            reply = f"peer says: {text} (turn {self.turns[context.context_id or '']})"
            await event_queue.enqueue_event(
                new_text_message(reply, context_id=context.context_id, role=Role.ROLE_AGENT)
            )
            return
        task = context.current_task or new_task_from_user_message(context.message)
        await event_queue.enqueue_event(task)
        updater = TaskUpdater(event_queue, task.id, task.context_id)
        await updater.start_work()
        self.turns[task.context_id] += 1
        reply = f"peer says: {text} (turn {self.turns[task.context_id]})"
        if self.streaming:
            half = len(reply) // 2
            await updater.add_artifact([Part(text=reply[:half])], artifact_id="out", name="reply")
            await updater.add_artifact(
                [Part(text=reply[half:])], artifact_id="out", name="reply", append=True, last_chunk=True
            )
        else:
            await updater.add_artifact([Part(text=reply)], artifact_id="out", name="reply")
        await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        await TaskUpdater(event_queue, context.task_id or "", context.context_id or "").cancel()


def main() -> None:
    port, binding, reply = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    url = f"http://127.0.0.1:{port}"
    card = AgentCard(
        name="sdk-peer",
        description="An echo agent built on a2a-sdk alone.",
        version="1.0.0",
        supported_interfaces=[AgentInterface(url=url, protocol_binding=binding, protocol_version="1.0")],
        capabilities=AgentCapabilities(streaming=reply == "stream"),
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        skills=[AgentSkill(id="echo", name="echo", description="Echoes.", tags=["echo"])],
    )
    handler = DefaultRequestHandlerV2(agent_executor=Echo(reply), task_store=InMemoryTaskStore(), agent_card=card)
    routes = [*create_agent_card_routes(card)]
    if binding == "JSONRPC":
        routes += create_jsonrpc_routes(handler, "/")
    else:
        routes += [r for r in create_rest_routes(handler) if not isinstance(r, Mount)]
    uvicorn.run(Starlette(routes=routes), host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main()
