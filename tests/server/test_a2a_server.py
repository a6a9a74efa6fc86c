"""The A2A server of `axocoatl serve`, driven by the official a2a-sdk client (1.0) and raw 0.3 requests.

The mock's `{turn}` counts the user turns the model saw: "turn 2" proves a message's
contextId continued the thread of the first message of that context.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from a2a.client import ClientConfig, create_client
from a2a.client.client import Client
from a2a.types import (
    CancelTaskRequest,
    GetTaskRequest,
    ListTaskPushNotificationConfigsRequest,
    ListTasksRequest,
    Message,
    Part,
    Role,
    SendMessageConfiguration,
    SendMessageRequest,
    SubscribeToTaskRequest,
    Task,
    TaskPushNotificationConfig,
    TaskState,
)
from a2a.utils.errors import InvalidParamsError, PushNotificationNotSupportedError, TaskNotCancelableError
from tests.server.support import Daemon, running_daemon, write_project

pytestmark = pytest.mark.slow

KEY = "sk-a2a-test-5d21"

CONFIG = f"""
agents:
  - id: assistant
    provider: mock
    system_prompt: "SECRET PROMPT: never show this"
    options: {{reply: "turn {{turn}}: {{input}}", chunk_size: 4}}
  - id: slow
    provider: mock
    options: {{latency_ms: 4000}}
  - id: researcher
    provider: mock
  - id: summarizer
    provider: mock
    depends_on: [researcher]
  - id: hidden
    provider: mock
workflows:
  - id: research
    agents: [researcher, summarizer]
  - id: slowly
    agents: [slow]
a2a:
  expose: [assistant, slow, workflow/research, workflow/slowly]
server:
  auth:
    api_keys: ["{KEY}"]
consolidation: {{enabled: false}}
"""


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with running_daemon(tmp_path_factory.mktemp("a2a"), CONFIG) as d:
        yield d


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(headers={"x-api-key": KEY}, timeout=30) as client:
        yield client


async def sdk_client(url: str, http: httpx.AsyncClient, *, streaming: bool = False, rest: bool = False) -> Client:
    bindings = ["HTTP+JSON"] if rest else ["JSONRPC"]
    config = ClientConfig(
        streaming=streaming, httpx_client=http, supported_protocol_bindings=bindings, use_client_preference=True
    )
    return await create_client(url, config)


def message(text: str, context_id: str | None = None) -> Message:
    return Message(role=Role.ROLE_USER, message_id=uuid.uuid4().hex, context_id=context_id, parts=[Part(text=text)])


async def send(client: Client, text: str, context_id: str | None = None, **config: Any) -> tuple[Task, list[Any]]:
    """Send one message; returns the last task state seen and every stream response."""
    request = SendMessageRequest(message=message(text, context_id), configuration=SendMessageConfiguration(**config))
    events = [event async for event in client.send_message(request)]
    tasks = [e.task for e in events if e.HasField("task")]
    assert tasks, events
    task_id = tasks[0].id
    return await client.get_task(GetTaskRequest(id=task_id)), events


def output_of(task: Task) -> str:
    [artifact] = [a for a in task.artifacts if a.artifact_id == "output"]
    return "".join(part.text for part in artifact.parts)


def test_the_cards_advertise_both_protocol_lines_and_the_auth(daemon: Daemon) -> None:
    with httpx.Client(base_url=daemon.url, timeout=30) as public:  # cards need no key
        card = public.get("/.well-known/agent-card.json").json()
        old = public.get("/.well-known/agent.json").json()
        own = public.get("/a2a/assistant/.well-known/agent-card.json").json()
        assert public.post("/a2a/assistant", json={}).status_code == 401
    endpoint = f"{daemon.url}/a2a/workflow/research"  # the first exposed workflow is the default
    assert {(i["protocolBinding"], i["protocolVersion"]) for i in card["supportedInterfaces"]} == {
        ("JSONRPC", "1.0"),
        ("HTTP+JSON", "1.0"),
        ("JSONRPC", "0.3.0"),
        ("HTTP+JSON", "0.3.0"),
    }
    assert {i["url"] for i in card["supportedInterfaces"]} == {endpoint}
    # The 0.3 top-level fields, for 0.3 clients.
    assert (card["url"], card["preferredTransport"], card["protocolVersion"]) == (endpoint, "JSONRPC", "0.3.0")
    assert [s["id"] for s in card["skills"]] == ["assistant", "slow", "workflow/research", "workflow/slowly"]
    assert card["securitySchemes"]["apiKey"]["apiKeySecurityScheme"] == {
        "location": "header",
        "name": "x-api-key",
        "description": "A key of server.auth.api_keys.",
    }
    assert card["capabilities"]["streaming"] is True
    assert old == card
    assert own["url"] == f"{daemon.url}/a2a/assistant" and [s["id"] for s in own["skills"]] == ["assistant"]
    assert "SECRET" not in str(card) + str(own)


async def test_json_rpc_send_get_and_list_with_a_context(daemon: Daemon, http: httpx.AsyncClient) -> None:
    client = await sdk_client(f"{daemon.url}/a2a/assistant", http)
    context = f"ctx-{uuid.uuid4().hex[:8]}"
    first, _ = await send(client, "hello", context)
    second, _ = await send(client, "again", context)
    assert first.status.state == TaskState.TASK_STATE_COMPLETED
    assert (output_of(first), output_of(second)) == ("turn 1: hello", "turn 2: again")
    assert second.status.message.parts[0].text == "turn 2: again"
    other, _ = await send(client, "fresh")  # no context: a new one, a new thread
    assert output_of(other) == "turn 1: fresh" and other.context_id not in ("", context)
    listed = await client.list_tasks(ListTasksRequest(context_id=context))
    assert sorted(t.id for t in listed.tasks) == sorted([first.id, second.id])
    # The thread is the agent's own: the daemon's API shows it.
    threads = (await http.get(f"{daemon.url}/api/agents/assistant/threads")).json()["threads"]
    assert f"a2a-{context}" in [t["thread"] for t in threads]


async def test_http_json_streams_tokens_as_artifact_chunks(daemon: Daemon, http: httpx.AsyncClient) -> None:
    client = await sdk_client(f"{daemon.url}/a2a/assistant", http, streaming=True, rest=True)
    task, events = await send(client, "stream me please")
    chunks = [e.artifact_update for e in events if e.HasField("artifact_update")]
    assert len(chunks) > 2 and not chunks[0].append and chunks[1].append
    streamed = "".join(c.artifact.parts[0].text for c in chunks[:-1])
    assert streamed == "turn 1: stream me please" and chunks[-1].last_chunk
    states = [e.status_update.status.state for e in events if e.HasField("status_update")]
    assert states[0] == TaskState.TASK_STATE_WORKING and states[-1] == TaskState.TASK_STATE_COMPLETED
    assert output_of(task) == "turn 1: stream me please"  # stored once, not chunk by chunk


async def test_a_workflow_streams_its_steps(daemon: Daemon, http: httpx.AsyncClient) -> None:
    client = await sdk_client(daemon.url, http, streaming=True)  # the root card points at the workflow
    task, events = await send(client, "What is WAL?")
    notes = [e.status_update.status.message.parts[0].text for e in events if e.HasField("status_update")][:-1]
    assert notes[0].startswith("workflow run run-") or notes[0].startswith("workflow run ")
    assert notes[1:] == [
        "step researcher started",
        "step researcher completed",
        "step summarizer started",
        "step summarizer completed",
    ]
    assert task.status.state == TaskState.TASK_STATE_COMPLETED
    assert output_of(task).startswith("[summarizer]") and "Original task: What is WAL?" in output_of(task)
    # Each step's reply streamed as its own artifact, the run's output last.
    chunks = [e.artifact_update for e in events if e.HasField("artifact_update")]
    ids = [c.artifact.artifact_id for c in chunks]
    assert ids[0] == "step:researcher" and "step:summarizer" in ids and ids[-1] == "output"
    assert ids.count("step:researcher") > 1 and chunks[-1].last_chunk
    summary = "".join(c.artifact.parts[0].text for c in chunks if c.artifact.artifact_id == "step:summarizer")
    assert summary == output_of(task)
    assert [a.artifact_id for a in task.artifacts] == ["step:researcher", "step:summarizer", "output"]
    run_id = task.metadata["axocoatl.run_id"]
    run = (await http.get(f"{daemon.url}/api/runs/{run_id}")).json()
    assert run["final_output"] == output_of(task)


async def test_cancel_stops_the_turn_and_nothing_of_it_is_kept(daemon: Daemon, http: httpx.AsyncClient) -> None:
    client = await sdk_client(f"{daemon.url}/a2a/slow", http)
    context = f"cancel-{uuid.uuid4().hex[:8]}"
    request = SendMessageRequest(
        message=message("never mind", context), configuration=SendMessageConfiguration(return_immediately=True)
    )
    [event] = [e async for e in client.send_message(request)]
    assert event.task.status.state in (TaskState.TASK_STATE_SUBMITTED, TaskState.TASK_STATE_WORKING)
    cancelled = await client.cancel_task(CancelTaskRequest(id=event.task.id))
    assert cancelled.status.state == TaskState.TASK_STATE_CANCELED
    assert (await client.get_task(GetTaskRequest(id=event.task.id))).status.state == TaskState.TASK_STATE_CANCELED
    await asyncio.sleep(0.5)
    threads = (await http.get(f"{daemon.url}/api/agents/slow/threads")).json()["threads"]
    assert f"a2a-{context}" not in [t["thread"] for t in threads if t["messages"]]
    with pytest.raises(TaskNotCancelableError):  # finished: nothing to cancel
        await client.cancel_task(CancelTaskRequest(id=event.task.id))


async def test_cancelling_a_workflow_task_cancels_its_run(daemon: Daemon, http: httpx.AsyncClient) -> None:
    client = await sdk_client(f"{daemon.url}/a2a/workflow/slowly", http)
    request = SendMessageRequest(message=message("go"), configuration=SendMessageConfiguration(return_immediately=True))
    [event] = [e async for e in client.send_message(request)]
    run_id = ""
    while not run_id:  # the task names its run once the run started
        run_id = str((await client.get_task(GetTaskRequest(id=event.task.id))).metadata["axocoatl.run_id"] or "")
        await asyncio.sleep(0.05)
    cancelled = await client.cancel_task(CancelTaskRequest(id=event.task.id))
    assert cancelled.status.state == TaskState.TASK_STATE_CANCELED
    run = (await http.get(f"{daemon.url}/api/runs/{run_id}")).json()
    assert run["status"] == "cancelled" and [s["status"] for s in run["steps"]] == ["cancelled"]
    with pytest.raises(TaskNotCancelableError):  # finished: nothing to cancel
        await client.cancel_task(CancelTaskRequest(id=event.task.id))


def test_the_0_3_wire_on_the_same_endpoints(daemon: Daemon) -> None:
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "message/send",
        "params": {
            "message": {
                "kind": "message",
                "role": "user",
                "messageId": uuid.uuid4().hex,
                "parts": [{"kind": "text", "text": "old client"}],
            }
        },
    }
    with httpx.Client(base_url=daemon.url, headers={"x-api-key": KEY}, timeout=30) as old:
        result = old.post("/a2a/assistant", json=body).json()["result"]
        assert result["kind"] == "task" and result["status"]["state"] == "completed"
        assert result["artifacts"][0]["parts"][0] == {"kind": "text", "text": "turn 1: old client"}
        get = {"jsonrpc": "2.0", "id": 2, "method": "tasks/get", "params": {"id": result["id"]}}
        got = old.post("/a2a/assistant", json=get)
        assert got.json()["result"]["status"]["state"] == "completed"
        # 0.3 HTTP+JSON: the 0.3 proto JSON under /v1.
        rest_message = {"role": "ROLE_USER", "messageId": uuid.uuid4().hex, "content": [{"text": "old rest"}]}
        rest = old.post("/a2a/assistant/v1/message:send", json={"message": rest_message})
        assert rest.status_code == 200, rest.text
        assert rest.json()["task"]["artifacts"][0]["parts"] == [{"text": "turn 1: old rest"}]
        # 1.0 on the same URL, told by the A2A-Version header.
        new = {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "SendMessage",
            "params": {"message": {"role": "ROLE_USER", "messageId": "m-new", "parts": [{"text": "new client"}]}},
        }
        answer = old.post("/a2a/assistant", json=new, headers={"A2A-Version": "1.0"}).json()["result"]
        assert answer["task"]["status"]["state"] == "TASK_STATE_COMPLETED"


def test_unknown_targets_and_unexposed_agents_are_404(daemon: Daemon) -> None:
    with httpx.Client(base_url=daemon.url, headers={"x-api-key": KEY}, timeout=30) as client:
        for path in ("/a2a/hidden", "/a2a/nope/.well-known/agent-card.json", "/a2a/workflow/nope"):
            response = client.post(path, json={})
            assert response.status_code == 404, path
            assert "exposed: assistant, slow, workflow/research, workflow/slowly" in response.json()["hint"]


def _wait_state(client: httpx.Client, task_id: str, path: str, states: set[str], timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = {"jsonrpc": "2.0", "id": 1, "method": "GetTask", "params": {"id": task_id}}
        task = client.post(path, json=body, headers={"A2A-Version": "1.0"}).json()["result"]
        if task["status"]["state"] in states or time.monotonic() > deadline:
            return task  # type: ignore[no-any-return]
        time.sleep(0.1)


def test_tasks_survive_a_daemon_restart_in_the_middle(tmp_path: Path) -> None:
    config = """
agents:
  - id: researcher
    provider: mock
    options: {latency_ms: 1500}
  - id: summarizer
    provider: mock
    depends_on: [researcher]
  - id: slow
    provider: mock
    options: {latency_ms: 30000}
workflows:
  - id: research
    agents: [researcher, summarizer]
consolidation: {enabled: false}
"""
    directory = write_project(tmp_path / "project", config)
    first = Daemon(directory).start()

    def start(path: str, text: str) -> str:
        body = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "SendMessage",
            "params": {
                "message": {"role": "ROLE_USER", "messageId": uuid.uuid4().hex, "parts": [{"text": text}]},
                "configuration": {"returnImmediately": True},
            },
        }
        with httpx.Client(base_url=first.url, timeout=30) as client:
            return str(client.post(path, json=body, headers={"A2A-Version": "1.0"}).json()["result"]["task"]["id"])

    run_task = start("/a2a/workflow/research", "survive")
    turn_task = start("/a2a/slow", "lost")
    with httpx.Client(base_url=first.url, timeout=30) as client:
        working = _wait_state(client, run_task, "/a2a/workflow/research", {"TASK_STATE_WORKING"})
        assert working["status"]["state"] == "TASK_STATE_WORKING"
    first.kill()  # in the middle of both
    second = Daemon(directory).start()
    try:
        with httpx.Client(base_url=second.url, timeout=30) as client:
            ended = {"TASK_STATE_COMPLETED", "TASK_STATE_FAILED"}
            done = _wait_state(client, run_task, "/a2a/workflow/research", ended)
            lost = _wait_state(client, turn_task, "/a2a/slow", {"TASK_STATE_FAILED"})
    finally:
        second.stop()
    assert done["status"]["state"] == "TASK_STATE_COMPLETED"  # the run was resumed and finished
    [output] = [a for a in done["artifacts"] if a["artifactId"] == "output"]
    assert "Original task: survive" in output["parts"][0]["text"]
    assert lost["status"]["state"] == "TASK_STATE_FAILED"
    assert "daemon restarted" in lost["status"]["message"]["parts"][0]["text"]


class _Receiver:
    """An HTTP server on 127.0.0.1 that records push notifications; the first ``fail_first`` answer 500."""

    def __init__(self, fail_first: int = 1) -> None:
        import http.server
        import threading

        received: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.received = received
        self.attempts = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                outer.attempts += 1
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                if outer.attempts <= fail_first:
                    self.send_response(500)
                else:
                    received.append((dict(self.headers), body))
                    self.send_response(200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return None

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


async def test_push_notifications_go_to_configured_hosts_with_retries(tmp_path: Path) -> None:
    receiver = _Receiver(fail_first=1)
    config = f"""
agents:
  - id: assistant
    provider: mock
a2a:
  push_hosts: ["127.0.0.1:{receiver.port}"]
consolidation: {{enabled: false}}
"""
    try:
        with running_daemon(tmp_path, config) as d:
            async with httpx.AsyncClient(timeout=30) as http:
                client = await sdk_client(f"{d.url}/a2a/assistant", http)
                card = (await http.get(f"{d.url}/.well-known/agent-card.json")).json()
                assert card["capabilities"]["pushNotifications"] is True
                push = TaskPushNotificationConfig(url=f"http://127.0.0.1:{receiver.port}/hook", token="tok-1")
                task, _ = await send(client, "notify me", task_push_notification_config=push)
                configs = await client.list_task_push_notification_configs(
                    ListTaskPushNotificationConfigsRequest(task_id=task.id)
                )
                assert [c.url for c in configs.configs] == [push.url]
                elsewhere = TaskPushNotificationConfig(task_id=task.id, url="http://127.0.0.2:9/hook")
                with pytest.raises(InvalidParamsError):
                    await client.create_task_push_notification_config(elsewhere)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not any(
                b.get("statusUpdate", {}).get("status", {}).get("state") == "TASK_STATE_COMPLETED"
                for _, b in receiver.received
            ):
                await asyncio.sleep(0.1)
    finally:
        receiver.close()
    states = [b["statusUpdate"]["status"]["state"] for _, b in receiver.received if "statusUpdate" in b]
    assert states[-1] == "TASK_STATE_COMPLETED", receiver.received
    assert receiver.attempts > len(receiver.received)  # the first delivery failed (500) and was retried
    headers, _ = receiver.received[0]
    assert headers["X-A2A-Notification-Token"] == "tok-1"


async def test_push_configs_are_refused_without_push_hosts(daemon: Daemon, http: httpx.AsyncClient) -> None:
    client = await sdk_client(f"{daemon.url}/a2a/assistant", http)
    task, _ = await send(client, "no push")
    with pytest.raises(PushNotificationNotSupportedError):
        await client.create_task_push_notification_config(
            TaskPushNotificationConfig(task_id=task.id, url="http://127.0.0.1:9/hook")
        )


APPROVALS = """
agents:
  - id: careful
    provider: mock
    tools: [{name: echo, requires_approval: true}]
    options:
      tool_calls: [{name: echo, arguments: {text: launch}}]
      reply: "tool said {tool_result}"
workflows:
  - id: guarded
    agents: [careful]
consolidation: {enabled: false}
"""


async def test_an_approval_is_input_required_and_the_reply_decides_it(tmp_path: Path) -> None:
    with running_daemon(tmp_path, APPROVALS) as d:
        async with httpx.AsyncClient(timeout=30) as http:
            client = await sdk_client(f"{d.url}/a2a/careful", http)
            asked, _ = await send(client, "go")
            assert asked.status.state == TaskState.TASK_STATE_INPUT_REQUIRED
            question = asked.status.message.parts[0].text
            assert "approval needed" in question and "echo" in question and "launch" in question
            approval_id = question.split("(", 1)[1].split(")", 1)[0]  # "approval needed (appr-...): ..."
            pending = (await http.get(f"{d.url}/api/approvals", params={"status": "pending"})).json()
            assert [p["approval_id"] for p in pending] == [approval_id]
            assert pending[0]["thread"] == f"a2a-{asked.context_id}"

            async def reply(task: Task, text: str) -> Task:
                follow = Message(
                    role=Role.ROLE_USER,
                    message_id=uuid.uuid4().hex,
                    task_id=task.id,
                    context_id=task.context_id,
                    parts=[Part(text=text)],
                )
                _ = [e async for e in client.send_message(SendMessageRequest(message=follow))]
                return await client.get_task(GetTaskRequest(id=task.id))

            unclear = await reply(asked, "hmm")
            assert unclear.status.state == TaskState.TASK_STATE_INPUT_REQUIRED
            assert "Answer 'approve' or 'deny'" in unclear.status.message.parts[0].text
            done = await reply(asked, "approve")
            assert done.status.state == TaskState.TASK_STATE_COMPLETED, done
            assert output_of(done) == 'tool said {"text": "launch"}'

            # Denied: the model is told, the turn still ends.
            second, _ = await send(client, "again")
            denied = await reply(second, "deny")
            assert denied.status.state == TaskState.TASK_STATE_COMPLETED
            assert "denied" in output_of(denied)

            # Decided elsewhere (the API) while the task waits: the task completes on its own.
            third, _ = await send(client, "once more")
            decided = (await http.get(f"{d.url}/api/approvals", params={"status": "pending"})).json()
            [pending_id] = [p["approval_id"] for p in decided]
            answer = await http.post(f"{d.url}/api/approvals/{pending_id}", json={"decision": "allow"})
            assert answer.status_code == 200, answer.text
            deadline = time.monotonic() + 20
            while True:
                state = await client.get_task(GetTaskRequest(id=third.id))
                if state.status.state != TaskState.TASK_STATE_INPUT_REQUIRED or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.1)
            assert state.status.state == TaskState.TASK_STATE_COMPLETED
            assert output_of(state) == 'tool said {"text": "launch"}'

            # In a workflow task, the step's wait is a working status naming the request.
            flow = await sdk_client(f"{d.url}/a2a/workflow/guarded", http)
            request = SendMessageRequest(
                message=message("run it"), configuration=SendMessageConfiguration(return_immediately=True)
            )
            [started] = [e async for e in flow.send_message(request)]
            deadline = time.monotonic() + 20
            note = ""
            while "waits for approval" not in note and time.monotonic() < deadline:
                current = await flow.get_task(GetTaskRequest(id=started.task.id))
                note = current.status.message.parts[0].text if current.status.message.parts else ""
                await asyncio.sleep(0.1)
            assert current.status.state == TaskState.TASK_STATE_WORKING and "axocoatl approvals allow" in note
            waiting = note.split("waits for approval ", 1)[1].split(":", 1)[0]
            assert (await http.post(f"{d.url}/api/approvals/{waiting}", json={"decision": "allow"})).status_code == 200
            deadline = time.monotonic() + 20
            while current.status.state == TaskState.TASK_STATE_WORKING and time.monotonic() < deadline:
                current = await flow.get_task(GetTaskRequest(id=started.task.id))
                await asyncio.sleep(0.1)
            assert current.status.state == TaskState.TASK_STATE_COMPLETED
            assert output_of(current) == 'tool said {"text": "launch"}'


def test_data_parts_reach_the_agent_as_json_and_an_empty_message_is_refused(daemon: Daemon) -> None:
    def send_parts(parts: list[dict[str, Any]]) -> dict[str, Any]:
        body = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "SendMessage",
            "params": {"message": {"role": "ROLE_USER", "messageId": uuid.uuid4().hex, "parts": parts}},
        }
        with httpx.Client(base_url=daemon.url, headers={"x-api-key": KEY, "A2A-Version": "1.0"}, timeout=30) as c:
            return dict(c.post("/a2a/assistant", json=body).json())

    answer = send_parts([{"text": "look:"}, {"data": {"order": 42}}])["result"]["task"]
    assert answer["artifacts"][0]["parts"][0]["text"] == 'turn 1: look:\n{"order": 42}'
    refused = send_parts([{"text": "   "}])
    assert refused["error"]["code"] == -32602 and "empty" in refused["error"]["message"]


async def test_subscribe_to_a_running_task_follows_it_to_the_end(daemon: Daemon, http: httpx.AsyncClient) -> None:
    sender = await sdk_client(f"{daemon.url}/a2a/slow", http)
    request = SendMessageRequest(
        message=message("follow me"), configuration=SendMessageConfiguration(return_immediately=True)
    )
    [first] = [e async for e in sender.send_message(request)]
    assert first.task.status.state != TaskState.TASK_STATE_COMPLETED  # the agent takes 4 s
    follower = await sdk_client(f"{daemon.url}/a2a/slow", http, streaming=True, rest=True)
    events = [e async for e in follower.subscribe(SubscribeToTaskRequest(id=first.task.id))]
    states = [e.status_update.status.state for e in events if e.HasField("status_update")]
    assert states[-1] == TaskState.TASK_STATE_COMPLETED, events
    assert any(e.HasField("artifact_update") for e in events)


@pytest.mark.parametrize("binding", ["JSONRPC", "HTTP+JSON"])
async def test_the_sdk_0_3_client_transports_work_too(daemon: Daemon, http: httpx.AsyncClient, binding: str) -> None:
    from a2a.client.card_resolver import parse_agent_card

    card = parse_agent_card((await http.get(f"{daemon.url}/a2a/assistant/.well-known/agent-card.json")).json())
    old = [i for i in card.supported_interfaces if i.protocol_version == "0.3.0" and i.protocol_binding == binding]
    del card.supported_interfaces[:]
    card.supported_interfaces.extend(old)  # a card as a 0.3-only client would use it
    config = ClientConfig(streaming=True, httpx_client=http, supported_protocol_bindings=[binding])
    client = await create_client(card, config)
    context = f"old-{uuid.uuid4().hex[:6]}"
    first, _ = await send(client, "over 0.3", context)
    second, events = await send(client, "still 0.3", context)
    assert (output_of(first), output_of(second)) == ("turn 1: over 0.3", "turn 2: still 0.3")
    assert any(e.HasField("artifact_update") for e in events)  # streamed over the 0.3 wire
    if binding == "HTTP+JSON":
        assert "POST /a2a/assistant/v1/message:stream 200" in daemon.log()  # the 0.3 REST path


def test_a2a_can_be_turned_off(tmp_path: Path) -> None:
    config = "agents: [{id: assistant, provider: mock}]\na2a: {enabled: false}\n"
    with running_daemon(tmp_path, config) as d, httpx.Client(base_url=d.url, timeout=30) as client:
        card = client.get("/.well-known/agent-card.json")
        endpoint = client.post("/a2a/assistant", json={})
    assert card.status_code == 404 and "a2a.enabled" in card.json()["hint"]
    assert endpoint.status_code == 404 and "nothing is exposed" in endpoint.json()["hint"]
