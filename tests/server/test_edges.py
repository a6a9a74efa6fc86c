"""Bad input at the HTTP and WebSocket edges: text that is not Unicode, bodies that are not JSON,
hostile WebSocket frames. Each gets a clear error where it enters; nothing reaches an agent,
nothing crashes, the connection stays. Against a daemon in a subprocess."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from tests.server.support import Daemon, recv_until
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection

pytestmark = pytest.mark.slow

SURROGATE = '"a\\ud800b"'  # valid JSON, not valid Unicode: a lone surrogate
JSON = {"content-type": "application/json"}


def post(client: httpx.Client, path: str, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    return client.post(path, content=body, headers=headers or JSON)


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert body["error"] and body["hint"]
    return body


def assert_unharmed(daemon: Daemon, client: httpx.Client) -> None:
    """No crash was logged, no agent was restarted, and the agent still answers."""
    status = client.get("/api/agents/assistant/status").json()
    assert status["supervision"]["restarts"] == 0 and status["status"] == "idle", status
    reply = client.post("/api/agents/assistant/execute", json={"input": "still fine"})
    assert reply.json()["output"] == "Hello from assistant: still fine"
    log = daemon.log()
    assert "internal error" not in log and "Exception in ASGI application" not in log


# ------------------------------------------------------------------------------------ HTTP


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/agents/assistant/execute", f'{{"input": {SURROGATE}}}', "body.input"),
        ("/api/agents/assistant/execute", f'{{"input": "x", "system_override": {SURROGATE}}}', "body.system_override"),
        ("/api/agents/assistant/execute", f'{{"input": "x", "model_override": {SURROGATE}}}', "body.model_override"),
        ("/api/workflows/research/execute", f'{{"input": {SURROGATE}}}', "body.input"),
        ("/api/agents/assistant/execute", '{"input": "\\udc00 low half alone"}', "body.input"),
    ],
)
def test_text_that_is_not_unicode_is_422_naming_the_field(daemon: Daemon, path: str, body: str, field: str) -> None:
    with daemon.client() as client:
        runs_before = len(client.get("/api/runs", params={"limit": 1000}).json())
        error = error_of(post(client, path, body.encode()), 422)
        assert error["field"] == field
        assert "not valid Unicode text: a lone surrogate" in error["error"]
        assert "surrogate pair" in error["hint"]
        assert len(client.get("/api/runs", params={"limit": 1000}).json()) == runs_before
        assert_unharmed(daemon, client)


def test_a_surrogate_encoded_in_the_raw_bytes_is_caught_too(daemon: Daemon) -> None:
    # JSON parsers decode with surrogatepass: ED A0 80 becomes the same lone surrogate.
    with daemon.client() as client:
        error = error_of(post(client, "/api/agents/assistant/execute", b'{"input": "a\xed\xa0\x80b"}'), 422)
        assert error["field"] == "body.input"
        assert_unharmed(daemon, client)


def test_proper_surrogate_pairs_and_other_scripts_pass(daemon: Daemon) -> None:
    with daemon.client() as client:
        body = post(client, "/api/agents/assistant/execute", '{"input": "\\ud83d\\ude00 ü 日本"}'.encode()).json()
    assert body["output"] == "Hello from assistant: 😀 ü 日本"


@pytest.mark.parametrize(
    ("body", "contains"),
    [
        (b"{not json", "Expecting property name enclosed in double quotes at position 1 (line 1, column 2)"),
        (b'{"input": "x",\n "stateless": }', "Expecting value at position 29 (line 2, column 15)"),
        (b'{"input": "x"} trailing', "Extra data at position 15"),
        (b'{"input": "a\xffb"}', "not valid UTF-8 (invalid start byte at byte 12)"),
        (b"[" * 100_000, "nested too deeply"),
        (b'{"input": ' + b"7" * 5000 + b"}", "Exceeds the limit (4300 digits) for integer string conversion"),
    ],
)
def test_malformed_json_is_400_with_the_position(daemon: Daemon, body: bytes, contains: str) -> None:
    with daemon.client() as client:
        error = error_of(post(client, "/api/agents/assistant/execute", body), 400)
        assert_unharmed(daemon, client)
    assert error["error"].startswith(("the request body is not valid JSON", "the request body is not valid UTF-8"))
    assert contains in error["error"]
    assert error["field"] == "body"
    assert "set_int_max_str_digits" not in error["error"]  # advice for programmers, not for clients


def test_json_that_breaks_the_schema_stays_422(daemon: Daemon) -> None:
    with daemon.client() as client:
        wrong_type = error_of(post(client, "/api/agents/assistant/execute", b'{"input": 5}'), 422)
        not_object = error_of(post(client, "/api/agents/assistant/execute", b'["input"]'), 422)
        deep_but_parsed = error_of(
            post(client, "/api/agents/assistant/execute", b'{"input": ' + b"[" * 500 + b"]" * 500 + b"}"), 422
        )
    assert wrong_type["field"] == "body.input"
    assert not_object["field"] == "body"
    assert deep_but_parsed["field"] == "body.input"


def test_a_body_that_is_not_json_is_415(daemon: Daemon) -> None:
    with daemon.client() as client:
        error = error_of(
            post(client, "/api/agents/assistant/execute", b'{"input": "x"}', {"content-type": "text/plain"}), 415
        )
    assert error["error"] == "the request body must be JSON, not 'text/plain'"
    assert "application/json" in error["hint"]


# ------------------------------------------------------------------------------- WebSocket


def send_and_expect_error(ws: ClientConnection, frame: str | bytes) -> dict[str, Any]:
    """Send one hostile frame; expect an error frame, then prove the connection still works."""
    ws.send(frame)
    error, _ = recv_until(ws, "error")
    ws.send(json.dumps({"cmd": "ping", "ref": "alive"}))
    pong, _ = recv_until(ws, "pong")
    assert pong["ref"] == "alive"
    return error


@pytest.mark.parametrize(
    ("frame", "contains"),
    [
        ("[" * 100_000, "nested deeper than 32 levels"),  # was: RecursionError, socket gone without a close frame
        ('{"cmd": "ping", "ref": ' + "[" * 50 + "]" * 50 + "}", "ref" + "[0]" * 31 + ": nested deeper than 32 levels"),
        ('{"cmd": "ping", "n": ' + "9" * 5000 + "}", "bad command: not JSON (Exceeds the limit"),
        ("x" * 2_000_000, "larger than 1048576 bytes"),
        ("", "bad command: not JSON"),
        ("null", "expected a JSON object"),
        ('"ping"', "expected a JSON object"),
        ('{"cmd": 5}', "unknown cmd 5"),
        ('{"cmd": null}', "unknown cmd missing"),
        ('{"cmd": ["ping"]}', "unknown cmd ['ping']"),
        ('{"cmd": "chat-turn", "agent": "assistant", "content": 5}', 'needs "content" (a string)'),
        ('{"cmd": "chat-turn", "agent": ["assistant"], "content": "x"}', 'needs "agent"'),
        ('{"cmd": "chat-turn", "agent": "assistant", "content": "x", "model_override": 1}', '"model_override" must be'),
        ('{"cmd": "run-workflow", "id": {"a": 1}}', 'needs "id"'),
        ('{"cmd": "run-workflow", "id": "research", "input": [1]}', '"input" must be a string'),
        ('{"cmd": "subscribe", "runs": [1, 2]}', 'subscribe "runs" must be'),
        ('{"cmd": "subscribe", "agents": {"x": 1}}', 'subscribe "agents" must be'),
    ],
)
def test_hostile_frames_get_error_frames_and_the_connection_stays(daemon: Daemon, frame: str, contains: str) -> None:
    with daemon.ws() as ws:
        recv_until(ws, "ready")
        error = send_and_expect_error(ws, frame)
    assert contains in error["message"], error
    assert "internal error" not in daemon.log()


@pytest.mark.parametrize(
    ("command", "field"),
    [
        ({"cmd": "chat-turn", "agent": "assistant", "content": "a\ud800b"}, "content"),
        ({"cmd": "chat-turn", "agent": "assistant", "content": "x", "system_override": "\udfff"}, "system_override"),
        ({"cmd": "run-workflow", "id": "research", "input": "\ud800"}, "input"),
        ({"cmd": "run-workflow", "id": "res\ud800earch"}, "id"),
        ({"cmd": "subscribe", "runs": ["run-\ud800"]}, "runs[0]"),
        ({"cmd": "ping", "\ud800": 1}, "\\ud800"),
    ],
)
def test_text_that_is_not_unicode_gets_an_error_frame(daemon: Daemon, command: dict[str, Any], field: str) -> None:
    with daemon.ws() as ws, daemon.client() as client:
        recv_until(ws, "ready")
        runs_before = len(client.get("/api/runs", params={"limit": 1000}).json())
        error = send_and_expect_error(ws, json.dumps({**command, "ref": 41}))  # json.dumps escapes as \ud800
        assert error["message"].startswith(f"bad command: {field}: ")
        assert "not valid Unicode text" in error["message"]
        assert error["ref"] == 41
        assert len(client.get("/api/runs", params={"limit": 1000}).json()) == runs_before
        assert_unharmed(daemon, client)


def test_a_ref_that_is_not_unicode_is_not_echoed(daemon: Daemon) -> None:
    with daemon.ws() as ws:
        recv_until(ws, "ready")
        error = send_and_expect_error(ws, '{"cmd": "ping", "ref": "\\ud800"}')
    assert error["message"].startswith("bad command: ref: not valid Unicode text")
    assert "ref" not in error


def test_binary_frames_get_an_error_frame(daemon: Daemon) -> None:
    with daemon.ws() as ws:
        recv_until(ws, "ready")
        error = send_and_expect_error(ws, b'{"cmd": "ping"}')
    assert "JSON text frames" in error["message"]


def test_invalid_utf8_text_frame_closes_cleanly_and_the_daemon_serves_on(daemon: Daemon) -> None:
    # RFC 6455 requires failing the connection with 1007; what matters is a real close frame.
    with daemon.ws() as ws:
        recv_until(ws, "ready")
        ws.send(b'{"cmd": "ping", "ref": "\xff"}', text=True)
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=10)
    assert info.value.rcvd is not None and info.value.rcvd.code == 1007
    with daemon.ws() as ws:
        recv_until(ws, "ready")
        ws.send(json.dumps({"cmd": "ping"}))
        recv_until(ws, "pong")


def test_a_frame_above_the_transport_limit_closes_with_1009(daemon: Daemon) -> None:
    with daemon.ws() as ws:
        recv_until(ws, "ready")
        ws.send("x" * (4 * 1_048_576 + 1))
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=10)
    assert info.value.rcvd is not None and info.value.rcvd.code == 1009
    with daemon.ws() as ws:
        recv_until(ws, "ready")
