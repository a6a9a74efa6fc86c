"""Fixtures for the provider tests: a recording fake ``sleep``, and aimock (npm) as a real loopback server.

aimock is installed once into ``.cache/tools/aimock`` of the checkout with npm (idempotent,
guarded by a file lock), started on a free 127.0.0.1 port for the whole session and stopped
at the end. Its fixture file is written by :data:`AIMOCK_FIXTURES` below.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import importlib
import json
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import TypeAdapter

AIMOCK_VERSION = "1.43.0"
REPO = Path(__file__).resolve().parents[2]
AIMOCK_DIR = REPO / ".cache" / "tools" / "aimock"
AIMOCK_CLI = AIMOCK_DIR / "node_modules" / "@copilotkit" / "aimock" / "dist" / "cli.js"

_BROKEN = "This answer is cut off in the middle of the stream and never finishes."

# One fixture pool serves every provider: aimock normalises each API to one request shape.
AIMOCK_FIXTURES: list[dict[str, Any]] = [
    {
        "match": {"userMessage": "say hello"},
        "response": {
            "content": "Hello from aimock",
            "usage": {"prompt_tokens": 11, "completion_tokens": 4, "total_tokens": 15},
        },
    },
    {
        "match": {"userMessage": "tell a long story"},
        "response": {"content": "Once upon a time a small agent learned to stream its answers."},
        "chunkSize": 6,
    },
    {
        "match": {"userMessage": "weather in Paris", "hasToolResult": False},
        "response": {"toolCalls": [{"name": "get_weather", "arguments": {"city": "Paris"}}]},
    },
    {
        "match": {"userMessage": "weather in Paris", "hasToolResult": True},
        "response": {"content": "It is 21 degrees and sunny in Paris."},
    },
    {
        "match": {"userMessage": "rate limited once", "sequenceIndex": 0},
        "response": {"error": {"message": "slow down", "type": "rate_limit_error"}, "status": 429, "retryAfter": 2},
    },
    {"match": {"userMessage": "rate limited once", "sequenceIndex": 1}, "response": {"content": "after the wait"}},
    {
        "match": {"userMessage": "server error once", "sequenceIndex": 0},
        "response": {"error": {"message": "boom", "type": "server_error"}, "status": 500},
    },
    {"match": {"userMessage": "server error once", "sequenceIndex": 1}, "response": {"content": "recovered"}},
    {
        "match": {"userMessage": "always rate limited"},
        "response": {"error": {"message": "quota", "type": "rate_limit_error"}, "status": 429, "retryAfter": 90},
    },
    # A two-agent workflow (tests/providers/test_aimock_workflows.py): the researcher calls the
    # built-in echo tool, then answers; the summarizer gets the researcher's output upstream.
    {"match": {"userMessage": "[researcher]: Paris is 21C"}, "response": {"content": "Summary: sunny Paris at 21C."}},
    {
        "match": {"userMessage": "workflow weather report", "hasToolResult": False},
        "response": {"toolCalls": [{"name": "echo", "arguments": {"text": "Paris 21C"}}]},
    },
    {
        "match": {"userMessage": "workflow weather report", "hasToolResult": True},
        "response": {"content": "Paris is 21C and sunny."},
    },
    {
        "match": {"userMessage": "break the stream"},
        "response": {"content": _BROKEN},
        "chunkSize": 4,
        "truncateAfterChunks": 6,
        "latency": 5,  # lets the first chunks leave the server before the connection is destroyed
    },
]


@dataclass
class SleepRecorder:
    """A fake ``asyncio.sleep`` that records the delays and returns at once."""

    delays: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def mock_client() -> Iterator[Callable[[Callable[[httpx.Request], Any]], httpx.AsyncClient]]:
    """Builds AsyncClients on an httpx.MockTransport; the handler may be sync or async."""
    clients: list[httpx.AsyncClient] = []

    def build(handler: Callable[[httpx.Request], Any]) -> httpx.AsyncClient:
        client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        clients.append(client)
        return client

    yield build


# ----------------------------------------------------------------- request-shape oracles (vendor SDKs)
# The official SDKs' request types, used only to validate the bodies we build. TypedDicts ignore
# unknown keys and pydantic validates ``Iterable`` fields lazily, so nested items are checked one by one.

Check = Callable[[dict[str, Any]], None]
ORACLES = frozenset({"openai_shape", "anthropic_shape", "gemini_shape", "ollama_shape"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Importing a vendor SDK costs 1-4 s, so the tests that use one as an oracle are marked slow."""
    for item in items:
        if ORACLES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@functools.cache
def _adapter(kind: Any) -> TypeAdapter[Any]:
    return TypeAdapter(kind)


@pytest.fixture
def openai_shape() -> Check:
    pytest.importorskip("openai")
    return _openai_check()


def _openai_check() -> Check:
    chat = importlib.import_module("openai.types.chat")
    params = importlib.import_module("openai.types.chat.completion_create_params")

    def check(body: dict[str, Any]) -> None:
        body = {k: v for k, v in body.items() if not k.startswith("_")}  # aimock adds _endpointType
        _adapter(params.CompletionCreateParamsStreaming).validate_python(body)
        for message in body["messages"]:
            _adapter(chat.ChatCompletionMessageParam).validate_python(message)
            for call in message.get("tool_calls") or ():
                _adapter(chat.ChatCompletionMessageFunctionToolCallParam).validate_python(call)
        for tool in body.get("tools", ()):
            _adapter(chat.ChatCompletionFunctionToolParam).validate_python(tool)

    return check


@pytest.fixture
def anthropic_shape() -> Check:
    types = pytest.importorskip("anthropic.types")
    params = pytest.importorskip("anthropic.types.message_create_params")

    def check(body: dict[str, Any]) -> None:
        _adapter(params.MessageCreateParamsStreaming).validate_python(body)
        for message in body["messages"]:
            _adapter(types.MessageParam).validate_python(message)
            for block in message["content"] if isinstance(message["content"], list) else ():
                _adapter(types.ContentBlockParam).validate_python(block)
        for tool in body.get("tools", ()):
            _adapter(types.ToolParam).validate_python(tool)

    return check


@pytest.fixture
def gemini_shape() -> Check:
    types = pytest.importorskip("google.genai.types")  # pydantic models with extra="forbid"

    def check(body: dict[str, Any]) -> None:
        assert set(body) <= {"contents", "systemInstruction", "tools", "generationConfig"}, set(body)
        for content in body["contents"]:
            types.Content.model_validate(content)
        if "systemInstruction" in body:
            types.Content.model_validate(body["systemInstruction"])
        for tool in body.get("tools", ()):
            types.Tool.model_validate(tool)
        if "generationConfig" in body:
            types.GenerationConfig.model_validate(body["generationConfig"])

    return check


@pytest.fixture
def ollama_shape() -> Check:
    types = pytest.importorskip("ollama._types")

    def check(body: dict[str, Any]) -> None:
        assert set(body) <= set(types.ChatRequest.model_fields), set(body)
        types.ChatRequest.model_validate(body)
        for message in body["messages"]:
            assert set(message) <= set(types.Message.model_fields), set(message)
            types.Message.model_validate(message)
        for tool in body.get("tools", ()):
            types.Tool.model_validate(tool)
        assert set(body.get("options", {})) <= set(types.Options.model_fields)

    return check


# ---------------------------------------------------------------------------------------- aimock


@dataclass(frozen=True)
class Aimock:
    url: str
    control: httpx.Client  # one client for the whole session: building a client costs ~50 ms

    def journal(self, test_id: str) -> list[dict[str, Any]]:
        response = self.control.get(f"{self.url}/__aimock/journal", params={"testId": test_id})
        response.raise_for_status()
        entries: list[dict[str, Any]] = response.json()
        return entries


def _install_aimock() -> None:
    if AIMOCK_CLI.exists():
        return
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        pytest.skip("npm/node are not installed; the aimock end-to-end tests need Node.js >= 20 and npm")
    AIMOCK_DIR.mkdir(parents=True, exist_ok=True)
    with open(AIMOCK_DIR / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another pytest process may be installing right now
        if AIMOCK_CLI.exists():
            return
        if not (AIMOCK_DIR / "package.json").exists():
            subprocess.run([npm, "init", "-y"], cwd=AIMOCK_DIR, check=True, capture_output=True)
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", f"@copilotkit/aimock@{AIMOCK_VERSION}"],
            cwd=AIMOCK_DIR,
            check=True,
            capture_output=True,
            timeout=300,
        )


def _wait_for_port(log: Path, proc: subprocess.Popen[bytes], deadline: float) -> int:
    while time.monotonic() < deadline:
        match = re.search(r"listening on http://127\.0\.0\.1:(\d+)", log.read_text(errors="replace"))
        if match:
            return int(match.group(1))
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    raise RuntimeError(f"aimock did not start:\n{log.read_text(errors='replace')[-2000:]}")


@pytest.fixture(scope="session")
def aimock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Aimock]:
    _install_aimock()
    node = shutil.which("node")
    assert node is not None
    workdir = tmp_path_factory.mktemp("aimock")
    fixtures = workdir / "fixtures.json"
    fixtures.write_text(json.dumps({"fixtures": AIMOCK_FIXTURES}, indent=1))
    log = workdir / "aimock.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [node, str(AIMOCK_CLI), "-h", "127.0.0.1", "-p", "0", "-f", str(fixtures), "--log-level", "info"],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        port = _wait_for_port(log, proc, time.monotonic() + 20)
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            time.sleep(0.05)
        with httpx.Client(timeout=5) as control:
            yield Aimock(url, control)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
