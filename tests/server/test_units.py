"""In-process unit tests of the server's parts: auth policy, limits, frames, the stream hub, daemon.json."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from axocoatl.config.hosts import HostPort, Origin, parse_host, parse_origin
from axocoatl.config.loader import parse_config_text
from axocoatl.config.schema import AuthConfig, ServerConfig
from axocoatl.core import events as ev
from axocoatl.core.errors import UsageError
from axocoatl.core.events import CallFinished, RuntimeEvent, TextChunk, ToolFinished, ToolStarted, stream_payload
from axocoatl.core.messages import TokenUsage, ToolCall, ToolCallRecord
from axocoatl.runtime.daemon import DaemonInfo, read_daemon_info, remove_daemon_info, write_daemon_info
from axocoatl.server.auth import Credentials, check_exposure, is_loopback
from axocoatl.server.browser import HostPolicy, page_csp
from axocoatl.server.frames import chat_frame, frames_for
from axocoatl.server.middleware import FixedWindowLimiter, RateLimitSettings
from axocoatl.server.stream import ClientStream, StreamHub, Subscription
from axocoatl.server.text import INVALID_TEXT_HINT, Problem, find_problem, json_text, unicode_problem


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.5", False),
        ("example.com", False),
        ("", False),
    ],
)
def test_loopback_detection(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0", "192.0.2.1"])
@pytest.mark.parametrize("keys", [False, True])
@pytest.mark.parametrize("allow", [False, True])
def test_exposure_matrix_fails_closed(host: str, keys: bool, allow: bool) -> None:
    auth = AuthConfig(api_keys=[SecretStr("k")] if keys else [], allow_unauthenticated=allow)
    server = ServerConfig(host=host, auth=auth)
    if host == "127.0.0.1" or keys or allow:
        check_exposure(server)
    else:
        with pytest.raises(UsageError) as info:
            check_exposure(server)
        assert "server.auth.allow_unauthenticated" in str(info.value.hint)
        assert "server.auth.api_keys" in str(info.value.hint)


def test_bearer_tokens_count_as_credentials_for_exposure() -> None:
    check_exposure(ServerConfig(host="0.0.0.0", auth=AuthConfig(bearer_tokens=[SecretStr("t")])))


def test_credentials_accept_only_the_right_secret_in_the_right_place() -> None:
    creds = Credentials.from_config(AuthConfig(api_keys=[SecretStr("key-1")], bearer_tokens=[SecretStr("tok-2")]))
    assert creds.enabled
    assert creds.accepts(api_key="key-1", bearer=None, query_token=None)
    assert creds.accepts(api_key=None, bearer="tok-2", query_token=None)
    assert creds.accepts(api_key=None, bearer=None, query_token="key-1")
    assert creds.accepts(api_key=None, bearer=None, query_token="tok-2")
    assert not creds.accepts(api_key="tok-2", bearer=None, query_token=None)  # a bearer token is not an API key
    assert not creds.accepts(api_key="key-1x", bearer="key-1", query_token=None)
    assert not creds.accepts(api_key="", bearer="", query_token="")
    assert not creds.accepts(api_key="\udcff", bearer=None, query_token=None)
    assert not Credentials.from_config(AuthConfig()).enabled


def test_fixed_window_rate_limit() -> None:
    now = [1000.0]
    limiter = FixedWindowLimiter(clock=lambda: now[0])
    settings = RateLimitSettings(enabled=True, max_requests=3, window_secs=10)
    assert [limiter.hit("a", settings) for _ in range(3)] == [None, None, None]
    wait = limiter.hit("a", settings)
    assert wait is not None and 0 < wait <= 10
    assert limiter.hit("b", settings) is None  # per client
    now[0] += 10
    assert limiter.hit("a", settings) is None  # a new window


def test_frames_for_lattice_and_stream_events() -> None:
    where = {"run_id": "r1", "workflow_id": "w", "agent_id": "a"}
    token = frames_for(RuntimeEvent(ev.TOKEN_DELTA, 1.0, payload={"delta": "hi"}, **where))
    assert token == [{"kind": "token", **where, "delta": "hi"}]
    done = frames_for(
        RuntimeEvent(ev.TASK_COMPLETED, 1.0, payload={"output": "x", "tokens": {"input": 1}}, event_id="e1", **where)
    )
    assert done[0] == {"kind": "step-status", **where, "status": "completed", "output": "x", "tokens": {"input": 1}}
    assert done[1]["kind"] == "event" and done[1]["type"] == "TaskCompleted" and done[1]["id"] == "e1"
    finished = frames_for(RuntimeEvent(ev.WORKFLOW_FAILED, 1.0, run_id="r1", payload={"error": "boom"}))
    assert finished[0] == {
        "kind": "run-status",
        "run_id": "r1",
        "workflow_id": None,
        "status": "failed",
        "error": "boom",
    }
    tool = frames_for(
        RuntimeEvent(ev.TOOL_CALL_FINISHED, 1.0, payload={"id": "c", "name": "echo", "result": "{}"}, **where)
    )
    assert tool[0]["phase"] == "result" and tool[0]["call_id"] == "c" and tool[0]["is_error"] is False


def test_stream_events_have_one_wire_form_everywhere() -> None:
    """Execute's SSE, the bus, the WebSocket and chat all show a stream event as docs/api.md says."""
    args = {"text": "hi"}
    call = ToolCall(id="c1", name="echo", arguments=args)
    record = ToolCallRecord(id="c1", name="echo", arguments=args, result="hi", is_error=False)
    events = [TextChunk("hi"), ToolStarted(call), ToolFinished(record), CallFinished(TokenUsage(5, 2), "m")]
    assert [stream_payload(event) for event in events] == [
        ("token", {"delta": "hi"}),
        ("tool-start", {"call_id": "c1", "name": "echo", "arguments": args}),
        (
            "tool-result",
            {"call_id": "c1", "id": "c1", "name": "echo", "arguments": args, "result": "hi", "is_error": False},
        ),
        ("llm-call", {"input": 5, "output": 2, "model": "m"}),
    ]
    turn = {"agent": "a", "turn_id": "t"}
    assert [chat_frame(event, turn) for event in events] == [
        {"kind": "chat-token", **turn, "delta": "hi"},
        {"kind": "chat-tool-start", **turn, "call_id": "c1", "name": "echo", "arguments": args},
        {"kind": "chat-tool-result", **turn, "call_id": "c1", "name": "echo", "result": "hi", "is_error": False},
        None,
    ]
    where = {"run_id": "r1", "workflow_id": "w", "agent_id": "a"}
    frames = []
    for event in events:
        kind, payload = stream_payload(event)
        frames += frames_for(RuntimeEvent(ev.BUS_TYPES[kind], 1.0, payload=payload, **where))
    assert frames == [
        {"kind": "token", **where, "delta": "hi"},
        {"kind": "tool-call", "phase": "start", **where, "call_id": "c1", "name": "echo", "arguments": args},
        {
            "kind": "tool-call",
            "phase": "result",
            **where,
            "call_id": "c1",
            "name": "echo",
            "arguments": args,
            "result": "hi",
            "is_error": False,
        },
        {"kind": "llm-call", **where, "input": 5, "output": 2, "model": "m"},
    ]


def test_subscription_routing() -> None:
    frame = {"kind": "token", "run_id": "r1", "agent_id": "a"}
    assert Subscription(runs="*").wants(frame)
    assert Subscription(runs={"r1"}).wants(frame)
    assert not Subscription(runs={"r2"}).wants(frame)
    assert Subscription(agents={"a"}).wants(frame)
    assert not Subscription(agents={"b"}).wants(frame)
    assert not Subscription(runs="*").wants({"kind": "agent-status", "agent_id": "a"})
    assert Subscription(agents="*").wants({"kind": "agent-status", "agent_id": "a"})


async def test_slow_client_drops_frames_never_blocks_and_is_told() -> None:
    hub = StreamHub(lambda agent_id: None)
    client = hub.connect()
    client.queue = type(client.queue)(5)  # a tiny queue stands for a client that stopped reading
    client.subscription = Subscription(runs="*")
    for index in range(20):
        hub.on_event(RuntimeEvent(ev.TOKEN_DELTA, 1.0, run_id="r", agent_id="a", payload={"delta": str(index)}))
    assert client.queue.qsize() == 5
    assert client.dropped == 15
    notice = client.lag_notice()
    assert notice is not None and notice["kind"] == "lagged" and notice["dropped"] == 15
    assert client.lag_notice() is None  # told once per gap
    client.reply({"kind": "pong"})  # direct answers still get through, evicting the oldest frame
    frames = [json.loads(client.queue.get_nowait()) for _ in range(client.queue.qsize())]
    assert frames[-1] == {"kind": "pong"}


async def test_frames_wait_behind_the_snapshot() -> None:
    client = ClientStream(1)
    client.subscription = Subscription(runs="*")
    client.hold()
    client.offer({"kind": "token", "run_id": "r"})
    client.reply({"kind": "snapshot"})
    client.release()
    order = [json.loads(client.queue.get_nowait())["kind"] for _ in range(2)]
    assert order == ["snapshot", "token"]


def test_daemon_info_round_trip_and_stale_detection(tmp_path: Path) -> None:
    info = DaemonInfo(pid=os.getpid(), host="127.0.0.1", port=8080, started_at=1.0, version="x")
    path = write_daemon_info(tmp_path, info)
    assert json.loads(path.read_text())["url"] == "http://127.0.0.1:8080"
    assert read_daemon_info(tmp_path) == info
    # A file left behind by a process that is gone is ignored.
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    write_daemon_info(tmp_path, DaemonInfo(pid=int(dead.stdout), host="127.0.0.1", port=1, started_at=1.0))
    assert read_daemon_info(tmp_path) is None
    # Only the owner removes it.
    write_daemon_info(tmp_path, info)
    remove_daemon_info(tmp_path, pid=os.getpid() + 1)
    assert path.exists()
    remove_daemon_info(tmp_path, pid=os.getpid())
    assert not path.exists()
    (tmp_path / "daemon.json").write_text("{half")
    assert read_daemon_info(tmp_path) is None


@pytest.mark.parametrize(
    ("host", "url"), [("0.0.0.0", "http://127.0.0.1:1"), ("::", "http://[::1]:1"), ("::1", "http://[::1]:1")]
)
def test_daemon_url_for_wildcard_binds(host: str, url: str) -> None:
    assert DaemonInfo(pid=1, host=host, port=1, started_at=0).url == url


# ---------------------------------------------------------------- the doors: credentials, hosts, text


@pytest.mark.parametrize("secret", ["", "   ", "\t\n"])
def test_exposure_is_judged_on_usable_credentials(secret: str) -> None:
    # A config built in code skips the schema's checks; the exposure rule must still fail closed.
    auth = AuthConfig.model_construct(api_keys=[SecretStr(secret)], bearer_tokens=[SecretStr(secret)])
    server = ServerConfig.model_construct(host="0.0.0.0", port=8080, auth=auth)
    assert not Credentials.from_config(auth).enabled
    with pytest.raises(UsageError, match=r"refusing to listen on 0\.0\.0\.0:8080 without authentication"):
        check_exposure(server)


def test_blank_secrets_are_schema_errors() -> None:
    with pytest.raises(ValidationError) as info:
        AuthConfig(api_keys=[SecretStr("ok"), SecretStr(" ")], bearer_tokens=[SecretStr("")])
    assert [e["loc"] for e in info.value.errors()] == [("api_keys", 1), ("bearer_tokens", 0)]


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("localhost", HostPort("localhost")),
        ("LocalHost.:8080", HostPort("localhost", 8080)),
        ("127.0.0.1:1", HostPort("127.0.0.1", 1)),
        ("[::1]:8080", HostPort("::1", 8080)),
        ("[0:0::1]", HostPort("::1")),
        ("::1", HostPort("::1")),
        ("under_score.internal", HostPort("under_score.internal")),
        ("", None),
        (" localhost", None),
        ("localhost:", None),
        ("localhost:0", None),
        ("localhost:65536", None),
        ("localhost:80;x", None),
        ("local host", None),
        ("http://localhost", None),
        ("localhost/path", None),
        ("user@localhost", None),
        ("[::1", None),
        ("[::1]x", None),
        ("[nonsense]", None),
        ("-bad.example", None),
        ("a" * 64 + ".example", None),
    ],
)
def test_parse_host(text: str, parsed: HostPort | None) -> None:
    assert parse_host(text) == parsed


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("http://localhost:3000", Origin("http", "localhost", 3000)),
        ("https://App.Example", Origin("https", "app.example", 443)),
        ("HTTP://app.example:80", Origin("http", "app.example", 80)),
        ("http://[::1]:8080", Origin("http", "::1", 8080)),
        ("null", None),
        ("http://app.example/", None),
        ("http://app.example/path", None),
        ("ftp://app.example", None),
        ("http://user@app.example", None),
        ("app.example", None),
        ("http://", None),
    ],
)
def test_parse_origin(text: str, parsed: Origin | None) -> None:
    assert parse_origin(text) == parsed


def test_host_policy_defaults_and_entries() -> None:
    wildcard = HostPolicy.from_config(ServerConfig(host="0.0.0.0", auth=AuthConfig(api_keys=[SecretStr("k")])))
    assert wildcard.allows(HostPort("localhost", 1)) and wildcard.allows(HostPort("::1"))
    assert not wildcard.allows(HostPort("0.0.0.0"))  # a wildcard bind is not a name clients use
    bound = HostPolicy.from_config(
        ServerConfig(
            host="192.168.1.5",
            allowed_hosts=["d.example", "p.example:8443"],
            auth=AuthConfig(api_keys=[SecretStr("k")]),
        )
    )
    assert bound.allows(HostPort("192.168.1.5", 8080)) and bound.allows(HostPort("d.example", 1))
    assert bound.allows(HostPort("p.example", 8443)) and not bound.allows(HostPort("p.example", 443))
    assert not bound.allows(HostPort("p.example")) and not bound.allows(HostPort("e.example"))
    assert HostPolicy.from_config(ServerConfig(allowed_hosts=["*"])).allows(HostPort("anything.example"))


def test_server_section_normalises_hosts_and_origins() -> None:
    config = parse_config_text(
        "server:\n  allowed_hosts: ['Daemon.Example.', '[::1]:8080', '::1']\n"
        "  cors_origins: ['HTTP://App.Example:80', 'https://x.example:8443']\n",
        env={},
    ).config
    assert config.server.allowed_hosts == ["daemon.example", "[::1]:8080", "[::1]"]
    assert config.server.cors_origins == ["http://app.example", "https://x.example:8443"]


def test_unicode_problems_and_safe_json() -> None:
    assert unicode_problem("plain") is None and unicode_problem("😀 ü") is None
    assert unicode_problem("a\ud800") == "not valid Unicode text: a lone surrogate \\ud800 at position 1"
    text = json_text({"error": "bad \udc80 key"})
    assert text.encode("utf-8") and json.loads(text) == {"error": "bad \udc80 key"}
    assert json_text({"ok": "ü"}) == '{"ok": "ü"}'  # UTF-8 as is when it can be


def test_find_problem_walks_any_depth_without_recursion() -> None:
    deep: list[object] = []
    node = deep
    for _ in range(100_000):
        child: list[object] = []
        node.append(child)
        node = child
    problem = find_problem({"cmd": "x", "data": deep})
    assert problem is not None and problem.message == "nested deeper than 32 levels"
    assert problem.field == "data" + "[0]" * 31
    assert find_problem({"a": [{"b": "ok"}, {"c": "x\ud800"}]}) == Problem(
        "a[1].c", "not valid Unicode text: a lone surrogate \\ud800 at position 1", INVALID_TEXT_HINT
    )
    assert find_problem({"cmd": "ping", "ref": [1, {"k": None}]}) is None


def test_page_csp_hashes_inline_code_only() -> None:
    html = "<style>b{}</style><script>go()</script><script src='x.js'></script>"
    csp = page_csp(html, scripts=["https://cdn.example"])
    digest = base64.b64encode(hashlib.sha256(b"go()").digest()).decode()
    assert f"script-src https://cdn.example 'sha256-{digest}';" in csp
    assert "style-src 'sha256-" in csp and "frame-ancestors 'none'" in csp
    assert "script-src 'none'" in page_csp("<p>static</p>")
