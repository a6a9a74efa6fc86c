"""The OpenAI-compatible endpoint (/v1), driven by the official `openai` SDK against `axocoatl serve`.

The mock's `{turn}` is the number of user turns the model saw, so "turn 2" proves a request
carried one earlier user turn: the client's (stateless) or the thread's (with `user`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from tests.server.support import Daemon, running_daemon

pytestmark = pytest.mark.slow

KEY = "sk-oa-test-91c2"
TOKEN = "tok-oa-test-77a1"

CONFIG = f"""
agents:
  - id: assistant
    provider: mock
    options: {{reply: "turn {{turn}}: {{input}}", chunk_size: 3}}
  - id: researcher
    provider: mock
  - id: summarizer
    provider: mock
    depends_on: [researcher]
  - id: broken
    provider: mock
    options: {{fail: true}}
  - id: hidden
    provider: mock
workflows:
  - id: research
    agents: [researcher, summarizer]
  - id: fails
    agents: [broken]
openai_api:
  expose: [assistant, broken, workflow/research, workflow/fails]
server:
  auth:
    api_keys: ["{KEY}"]
    bearer_tokens: ["{TOKEN}"]
consolidation: {{enabled: false}}
"""


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with running_daemon(tmp_path_factory.mktemp("openai"), CONFIG) as d:
        yield d


@pytest.fixture
def client(daemon: Daemon) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=daemon.url + "/v1", api_key=KEY, max_retries=0, timeout=30) as c:
        yield c


def user(text: str) -> Any:
    return {"role": "user", "content": text}


def spent(daemon: Daemon, agent: str) -> int:
    with daemon.client(headers={"x-api-key": KEY}) as http:
        rows = http.get("/api/tokens/report", params={"agent": agent}).json()["agents"]
    return sum(int(r["total"]) for r in rows)


def test_models_are_the_exposed_agents_and_workflows(client: openai.OpenAI) -> None:
    models = client.models.list()
    assert [m.id for m in models] == ["assistant", "broken", "workflow/research", "workflow/fails"]
    assert all(m.owned_by == "axocoatl" and m.object == "model" for m in models)
    assert client.models.retrieve("workflow/research").id == "workflow/research"
    with pytest.raises(openai.NotFoundError) as err:
        client.models.retrieve("hidden")  # configured, but not exposed
    assert err.value.code == "model_not_found"


def test_a_request_without_thread_is_the_conversation_the_client_sent(daemon: Daemon, client: openai.OpenAI) -> None:
    before = spent(daemon, "assistant")
    reply = client.chat.completions.create(
        model="assistant",
        messages=[
            {"role": "system", "content": "ignored: the agent's own prompt governs"},
            user("first"),
            {"role": "assistant", "content": "ok"},
            user("second"),
        ],
    )
    assert reply.object == "chat.completion"
    assert reply.choices[0].message.content == "turn 2: second"
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None and reply.usage.prompt_tokens > 0 and reply.usage.completion_tokens > 0
    # The usage is what the ledger recorded for the turn.
    assert spent(daemon, "assistant") - before == reply.usage.total_tokens
    # Nothing was stored: the next stateless request knows nothing of this one.
    again = client.chat.completions.create(model="assistant", messages=[user("alone")])
    assert again.choices[0].message.content == "turn 1: alone"


def test_user_and_the_header_continue_a_thread(daemon: Daemon, client: openai.OpenAI) -> None:
    first = client.chat.completions.create(model="assistant", messages=[user("one")], user="oa-thread")
    # The thread holds the history: a client sending only the new message still gets turn 2.
    second = client.chat.completions.create(model="assistant", messages=[user("two")], user="oa-thread")
    assert (first.choices[0].message.content, second.choices[0].message.content) == ("turn 1: one", "turn 2: two")
    third = client.chat.completions.create(
        model="assistant", messages=[user("three")], extra_headers={"x-axocoatl-thread": "oa-thread"}
    )
    assert third.choices[0].message.content == "turn 3: three"
    with daemon.client(headers={"x-api-key": KEY}) as http:
        threads = {t["thread"]: t for t in http.get("/api/agents/assistant/threads").json()["threads"]}
    assert threads["oa-thread"]["messages"] == 6
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="assistant", messages=[user("x")], user="not a thread name!")
    assert err.value.code == "invalid_request" and "thread" in str(err.value)


def test_streaming_matches_the_json_reply(daemon: Daemon, client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="assistant",
        messages=[user("hello there")],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "turn 1: hello there"
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) > 1  # really streamed
    assert chunks[0].choices[0].delta.role == "assistant"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0
    assert len({c.id for c in chunks}) == 1


def test_a_workflow_runs_on_the_last_user_message(daemon: Daemon, client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="workflow/research", messages=[user("earlier"), {"role": "assistant", "content": "x"}, user("WAL?")]
    )
    content = reply.choices[0].message.content or ""
    assert content.startswith("[summarizer]") and "Original task: WAL?" in content and "earlier" not in content
    run_id = reply.model_extra["axocoatl"]["run_id"] if reply.model_extra else None
    with daemon.client(headers={"x-api-key": KEY}) as http:
        run = http.get(f"/api/runs/{run_id}").json()
    assert run["status"] == "completed" and run["final_output"] == content
    steps = run["steps"]
    assert reply.usage is not None
    assert reply.usage.prompt_tokens == sum(s["tokens"]["input"] for s in steps)
    assert reply.usage.completion_tokens == sum(s["tokens"]["output"] for s in steps)


def test_a_streamed_workflow_shows_its_steps_as_comments(daemon: Daemon) -> None:
    body = {"model": "workflow/research", "stream": True, "messages": [user("q")]}
    headers = {"authorization": f"Bearer {KEY}"}
    with (
        httpx.Client(base_url=daemon.url, timeout=30) as http,
        http.stream("POST", "/v1/chat/completions", json=body, headers=headers) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    comments = [line for line in lines if line.startswith(":")]
    assert comments == [
        ": step researcher started",
        ": step researcher completed",
        ": step summarizer started",
        ": step summarizer completed",
    ]
    assert lines[-1] == "data: [DONE]"
    data = [json.loads(line[6:]) for line in lines if line.startswith("data: {")]
    text = "".join(d["choices"][0]["delta"].get("content") or "" for d in data)
    assert text.startswith("[summarizer]") and "Original task: q" in text


def test_failures_are_openai_errors(daemon: Daemon, client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIStatusError) as err:
        client.chat.completions.create(model="broken", messages=[user("x")])
    assert err.value.status_code == 502 and err.value.code == "provider_error"
    with pytest.raises(openai.InternalServerError) as failed:
        client.chat.completions.create(model="workflow/fails", messages=[user("x")])
    assert failed.value.code == "run_failed" and "runs show" in str(failed.value)
    # Mid-stream, the error arrives as an error chunk, which the SDK raises.
    with pytest.raises(openai.APIError) as streamed:
        list(client.chat.completions.create(model="broken", messages=[user("x")], stream=True))
    assert "mock" in str(streamed.value).lower()


@pytest.mark.parametrize(
    ("body", "param", "needle"),
    [
        ({"messages": [user("x")]}, "model", "'model' is required"),
        ({"model": "assistant", "messages": []}, "messages", "non-empty"),
        ({"model": "assistant", "messages": [{"role": "assistant", "content": "x"}]}, "messages", "last message"),
        ({"model": "assistant", "messages": [user("x")], "tools": [{"type": "function"}]}, "tools", "not supported"),
        (
            {"model": "assistant", "messages": [{"role": "user", "content": [{"type": "image_url"}]}]},
            "messages[0].content[0]",
            "only text parts",
        ),
        ({"model": "assistant", "messages": [user("x")], "n": 2}, "n", "n=1"),
    ],
)
def test_bad_requests_name_the_parameter(daemon: Daemon, body: dict[str, Any], param: str, needle: str) -> None:
    with httpx.Client(base_url=daemon.url, timeout=30) as http:
        response = http.post("/v1/chat/completions", json=body, headers={"authorization": f"Bearer {KEY}"})
        not_json = http.post("/v1/chat/completions", content=b"{", headers={"authorization": f"Bearer {KEY}"})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param and needle in error["message"]
    assert not_json.status_code == 400 and "not valid JSON" in not_json.json()["error"]["message"]


def test_other_openai_endpoints_are_openai_shaped_404s(daemon: Daemon, client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as err:
        client.completions.create(model="assistant", prompt="legacy")
    assert err.value.code == "unknown_url" and "POST /v1/completions" in str(err.value)
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="assistant", input="x")
    with httpx.Client(base_url=daemon.url, headers={"x-api-key": KEY}) as http:
        wrong = http.put("/v1/models")
    assert wrong.status_code == 405 and wrong.headers["allow"] == "GET"
    assert wrong.json()["error"]["code"] == "method_not_allowed"


def test_auth_is_the_daemon_auth(daemon: Daemon) -> None:
    with (
        openai.OpenAI(base_url=daemon.url + "/v1", api_key="wrong", max_retries=0) as wrong,
        pytest.raises(openai.AuthenticationError) as err,
    ):
        wrong.models.list()
    assert err.value.body is not None and "wrong API key" in str(err.value.body)
    # Bearer tokens work as the SDK's api_key too, and so does x-api-key.
    with openai.OpenAI(base_url=daemon.url + "/v1", api_key=TOKEN, max_retries=0) as by_token:
        assert by_token.models.list().data
    with httpx.Client(base_url=daemon.url) as http:
        assert http.get("/v1/models", headers={"x-api-key": KEY}).status_code == 200
        assert http.get("/api/agents", headers={"authorization": f"Bearer {KEY}"}).status_code == 401  # only on /v1


def test_the_endpoint_can_be_turned_off(tmp_path: Path) -> None:
    config = "agents: [{id: assistant, provider: mock}]\nopenai_api: {enabled: false}\n"
    with running_daemon(tmp_path, config) as d, openai.OpenAI(base_url=d.url + "/v1", api_key="x") as off:
        with pytest.raises(openai.NotFoundError) as err:
            off.models.list()
        assert err.value.code == "endpoint_disabled" and "openai_api.enabled" in str(err.value)
