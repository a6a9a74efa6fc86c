"""The shared HTTP plumbing: SSE/NDJSON framing, Retry-After, retries, error mapping, cancellation."""

from __future__ import annotations

import asyncio
import email.utils
import random
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from axocoatl.core.errors import (
    AuthenticationFailed,
    ContextLengthExceeded,
    ModelNotFound,
    ProviderResponseError,
    ProviderUnavailable,
    RateLimited,
)
from axocoatl.providers.base import StreamEvent, TextDelta
from axocoatl.providers.http import (
    HttpEndpoint,
    SSEMessage,
    backoff_delay,
    error_detail,
    ndjson_objects,
    parse_retry_after,
    redact,
    sse_messages,
)


async def lines_of(text: str) -> AsyncIterator[str]:
    for line in text.split("\n"):
        yield line


async def sse(text: str) -> list[SSEMessage]:
    return [m async for m in sse_messages(lines_of(text))]


class ChunkStream(httpx.AsyncByteStream):
    """A response body delivered in the given byte chunks, then an optional failure or a hang."""

    def __init__(self, chunks: list[bytes], *, fail: Exception | None = None, hang: bool = False) -> None:
        self.chunks, self.fail, self.hang = chunks, fail, hang
        self.closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk
        if self.fail is not None:
            raise self.fail
        if self.hang:
            await asyncio.Event().wait()

    async def aclose(self) -> None:
        self.closed = True


async def echo_lines(lines: AsyncIterator[str]) -> AsyncIterator[StreamEvent]:
    """A decoder that turns every non-empty line into a TextDelta."""
    async for line in lines:
        if line:
            yield TextDelta(line)


def endpoint(client: httpx.AsyncClient, sleep: Any, **kwargs: Any) -> HttpEndpoint:
    return HttpEndpoint(
        provider="acme",
        base_url="http://acme.test/v1",
        headers={"authorization": "Bearer sk-secret-123456789"},
        key_env="ACME_API_KEY",
        client=client,
        sleep=sleep,
        secrets=("sk-secret-123456789",),
        **kwargs,
    )


async def run(ep: HttpEndpoint) -> list[StreamEvent]:
    return [e async for e in ep.stream("/chat", {"q": 1}, echo_lines, model="acme-1")]


def sequence(*responses: httpx.Response | Exception) -> tuple[Callable[[httpx.Request], httpx.Response], list[str]]:
    """A MockTransport handler answering with ``responses`` in turn; also records the request paths."""
    pending = list(responses)
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        item = pending.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    return handler, seen


# ---------------------------------------------------------------------------------------- framing


async def test_sse_skips_comments_and_joins_multiline_data() -> None:
    text = ': OPENROUTER PROCESSING\n\nevent: delta\ndata: {"a":\ndata: 1}\n\n:keepalive\ndata: [DONE]\n\n'
    assert await sse(text) == [SSEMessage("delta", '{"a":\n1}'), SSEMessage("message", "[DONE]")]


async def test_sse_accepts_fields_without_space_and_a_last_event_without_blank_line() -> None:
    assert await sse("data:x\nid: 7\nretry: 10\n\ndata: y") == [SSEMessage("message", "x"), SSEMessage("message", "y")]


async def test_sse_lines_split_across_network_chunks(mock_client: Any) -> None:
    body = b'data: {"t": "hel'
    rest = [b'lo"}\r\n', b"\r\n: ping\r\n\r\nda", b"ta: [DONE]\r\n\r\n"]
    client = mock_client(lambda r: httpx.Response(200, stream=ChunkStream([body, *rest])))
    async with client.stream("GET", "http://x.test/") as response:
        got = [m.data async for m in sse_messages(response.aiter_lines())]
    assert got == ['{"t": "hello"}', "[DONE]"]


async def test_ndjson_skips_blank_lines_and_rejects_garbage() -> None:
    assert [o async for o in ndjson_objects(lines_of('{"a": 1}\n\n{"b": 2}\n'), "p")] == [{"a": 1}, {"b": 2}]
    with pytest.raises(ProviderResponseError, match="not valid JSON"):
        _ = [o async for o in ndjson_objects(lines_of('{"a": 1}\n{"b": '), "p")]
    with pytest.raises(ProviderResponseError, match="not a JSON object"):
        _ = [o async for o in ndjson_objects(lines_of("[1, 2]"), "p")]


# ------------------------------------------------------------------------------------ retry-after


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "2"}, 2.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after": "3600"}, 60.0),
        ({"retry-after": "-4"}, 0.0),
        ({"retry-after": "soon"}, None),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(httpx.Headers(headers)) == expected


def test_parse_retry_after_http_date() -> None:
    now = 1_800_000_000.0
    later = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(httpx.Headers({"retry-after": later}), now=now) == pytest.approx(30.0)
    much_later = email.utils.formatdate(now + 600, usegmt=True)
    assert parse_retry_after(httpx.Headers({"retry-after": much_later}), now=now) == 60.0


def test_backoff_is_full_jitter_under_an_exponential_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(random, "uniform", lambda low, high: high)
    assert [backoff_delay(n) for n in range(8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 20.0, 20.0]
    monkeypatch.setattr(random, "uniform", lambda low, high: low)
    assert backoff_delay(3) == 0.0


# ---------------------------------------------------------------------------------------- retries


async def test_429_waits_retry_after_then_succeeds(mock_client: Any, sleeps: Any) -> None:
    handler, seen = sequence(
        httpx.Response(429, headers={"retry-after": "2"}, json={"error": {"message": "slow down"}}),
        httpx.Response(200, text="hello\n"),
    )
    assert await run(endpoint(mock_client(handler), sleeps)) == [TextDelta("hello")]
    assert sleeps.delays == [2.0]
    assert seen == ["/v1/chat", "/v1/chat"]


@pytest.mark.parametrize("status", [500, 502, 503, 504, 529])
async def test_server_errors_are_retried_with_backoff(mock_client: Any, sleeps: Any, status: int) -> None:
    handler, seen = sequence(httpx.Response(status), httpx.Response(status), httpx.Response(200, text="ok"))
    assert await run(endpoint(mock_client(handler), sleeps)) == [TextDelta("ok")]
    assert len(seen) == 3 and len(sleeps.delays) == 2
    assert 0 <= sleeps.delays[0] <= 0.5 and 0 <= sleeps.delays[1] <= 1.0


async def test_network_errors_are_retried(mock_client: Any, sleeps: Any) -> None:
    handler, seen = sequence(httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.Response(200, text="fine"))
    assert await run(endpoint(mock_client(handler), sleeps)) == [TextDelta("fine")]
    assert len(seen) == 3


async def test_retries_are_bounded_by_max_retries(mock_client: Any, sleeps: Any) -> None:
    handler, seen = sequence(*[httpx.Response(503, json={"error": {"message": "overloaded"}})] * 3)
    with pytest.raises(ProviderUnavailable, match="overloaded"):
        await run(endpoint(mock_client(handler), sleeps, max_retries=2))
    assert len(seen) == 3 and len(sleeps.delays) == 2


async def test_rate_limit_after_the_last_retry_keeps_retry_after(mock_client: Any, sleeps: Any) -> None:
    handler, _ = sequence(httpx.Response(429, headers={"retry-after": "7"}))
    with pytest.raises(RateLimited) as info:
        await run(endpoint(mock_client(handler), sleeps, max_retries=0))
    assert info.value.retry_after == 7.0
    assert info.value.retryable and sleeps.delays == []


async def test_connect_errors_end_as_provider_unavailable(mock_client: Any, sleeps: Any) -> None:
    handler, seen = sequence(*[httpx.ConnectError("connection refused")] * 4)
    with pytest.raises(ProviderUnavailable, match=r"could not be reached after 4 attempt\(s\)") as info:
        await run(endpoint(mock_client(handler), sleeps))
    assert "providers.acme.base_url" in str(info.value)
    assert len(seen) == 4


async def test_read_timeouts_end_as_provider_unavailable(mock_client: Any, sleeps: Any) -> None:
    handler, _ = sequence(httpx.ReadTimeout("x"), httpx.ReadTimeout("x"))
    with pytest.raises(ProviderUnavailable, match="timed out"):
        await run(endpoint(mock_client(handler), sleeps, max_retries=1))


# --------------------------------------------------------------------------------- error mapping


async def test_401_is_not_retried_and_names_the_env_var(mock_client: Any, sleeps: Any) -> None:
    body = {"error": {"message": "Incorrect API key provided: sk-secret-123456789. Find your key at ..."}}
    handler, seen = sequence(httpx.Response(401, json=body))
    with pytest.raises(AuthenticationFailed) as info:
        await run(endpoint(mock_client(handler), sleeps))
    text = str(info.value)
    assert "ACME_API_KEY" in text and ".env" in text
    assert "sk-secret" not in text and "123456789" not in text
    assert len(seen) == 1 and sleeps.delays == []


@pytest.mark.parametrize(
    ("status", "body", "error"),
    [
        (403, {"error": {"message": "forbidden"}}, AuthenticationFailed),
        (404, {"error": {"message": "The model `acme-1` does not exist"}}, ModelNotFound),
        (400, {"error": {"message": "This model's maximum context length is 8192 tokens"}}, ContextLengthExceeded),
        (
            400,
            {"error": {"type": "invalid_request_error", "message": "prompt is too long: 300000"}},
            ContextLengthExceeded,
        ),
        (400, {"error": {"message": "temperature must be <= 2"}}, ProviderResponseError),
        (422, {"detail": "Extra inputs are not permitted"}, ProviderResponseError),
        (501, {"error": "not implemented"}, ProviderResponseError),
    ],
)
async def test_status_mapping_without_retry(
    mock_client: Any, sleeps: Any, status: int, body: dict[str, Any], error: type[Exception]
) -> None:
    handler, seen = sequence(httpx.Response(status, json=body))
    with pytest.raises(error) as info:
        await run(endpoint(mock_client(handler), sleeps))
    assert type(info.value) is error
    assert len(seen) == 1 and sleeps.delays == []
    assert f"HTTP {status}" in str(info.value)


async def test_model_not_found_names_the_model(mock_client: Any, sleeps: Any) -> None:
    handler, _ = sequence(httpx.Response(404, text="not here"))
    with pytest.raises(ModelNotFound, match="'acme-1'"):
        await run(endpoint(mock_client(handler), sleeps))


async def test_unprocessable_keeps_the_status(mock_client: Any, sleeps: Any) -> None:
    handler, _ = sequence(httpx.Response(422, json={"message": "bad field"}))
    with pytest.raises(ProviderResponseError) as info:
        await run(endpoint(mock_client(handler), sleeps))
    assert info.value.status == 422 and "bad field" in str(info.value)


def test_error_detail_shapes() -> None:
    assert error_detail(b'{"error": {"message": "m"}}') == "m"
    assert error_detail(b'{"error": "model not found"}') == "model not found"
    assert error_detail(b'[{"error": {"code": 400, "message": "gem"}}]') == "gem"
    assert error_detail(b'{"message": "plain"}') == "plain"
    assert error_detail(b"<html>bad gateway</html>") == "<html>bad gateway</html>"


def test_redact_removes_keys() -> None:
    text = "key sk-abcdef123456 and AIzaSyABCDEFGH123 and mine-secret-value"
    assert redact(text, ["mine-secret-value"]) == "key *** and *** and ***"


# -------------------------------------------------------------------------- streams that break


async def test_a_cut_after_output_is_an_error_and_not_retried(mock_client: Any, sleeps: Any) -> None:
    cut = ChunkStream([b"part one\n"], fail=httpx.RemoteProtocolError("peer closed connection"))
    handler, seen = sequence(httpx.Response(200, stream=cut), httpx.Response(200, text="never asked"))
    got: list[StreamEvent] = []
    with pytest.raises(ProviderResponseError, match="broke in the middle"):
        async for event in endpoint(mock_client(handler), sleeps).stream("/c", {}, echo_lines, model="m"):
            got.append(event)
    assert got == [TextDelta("part one")]
    assert len(seen) == 1


async def test_a_cut_before_any_output_is_retried(mock_client: Any, sleeps: Any) -> None:
    cut = ChunkStream([b""], fail=httpx.RemoteProtocolError("incomplete chunked read"))
    handler, seen = sequence(httpx.Response(200, stream=cut), httpx.Response(200, text="whole\n"))
    assert await run(endpoint(mock_client(handler), sleeps)) == [TextDelta("whole")]
    assert len(seen) == 2


async def test_repeated_cuts_before_output_end_as_a_response_error(mock_client: Any, sleeps: Any) -> None:
    def cut() -> httpx.Response:
        return httpx.Response(200, stream=ChunkStream([], fail=httpx.RemoteProtocolError("cut")))

    handler, _ = sequence(cut(), cut())
    with pytest.raises(ProviderResponseError, match="closed the stream before it was complete"):
        await run(endpoint(mock_client(handler), sleeps, max_retries=1))


async def test_cancellation_closes_the_response(mock_client: Any, sleeps: Any) -> None:
    body = ChunkStream([b"first\n"], hang=True)
    client = mock_client(lambda r: httpx.Response(200, stream=body))
    first = asyncio.Event()

    async def consume() -> None:
        async for _ in endpoint(client, sleeps).stream("/c", {}, echo_lines, model="m"):
            first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert body.closed


async def test_stopping_early_closes_the_response(mock_client: Any, sleeps: Any) -> None:
    body = ChunkStream([b"a\n", b"b\n", b"c\n"])
    stream = endpoint(mock_client(lambda r: httpx.Response(200, stream=body)), sleeps).stream(
        "/c", {}, echo_lines, model="m"
    )
    assert await anext(stream) == TextDelta("a")
    await stream.aclose()  # type: ignore[attr-defined]
    assert body.closed


# ----------------------------------------------------------------------- real sockets, real timeouts


async def test_read_timeout_on_a_silent_server(sleeps: Any) -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # read nothing, answer nothing

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    ep = HttpEndpoint(
        provider="acme", base_url=f"http://127.0.0.1:{port}", headers={}, key_env="",
        timeout_secs=0.2, connect_timeout_secs=1, max_retries=1, sleep=sleeps,
    )  # fmt: skip
    try:
        with pytest.raises(ProviderUnavailable, match="timed out after 2 attempt"):
            await run(ep)
    finally:
        await ep.aclose()
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()
    assert len(accepted) == 2


async def test_connection_refused_on_a_closed_port(sleeps: Any) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again at once: nothing listens there
    ep = HttpEndpoint(provider="acme", base_url=f"http://127.0.0.1:{port}", headers={}, key_env="", sleep=sleeps)
    try:
        with pytest.raises(ProviderUnavailable, match="could not be reached after 4 attempt"):
            await run(ep)
    finally:
        await ep.aclose()
    assert len(sleeps.delays) == 3


async def test_owned_client_uses_configured_timeouts() -> None:
    ep = HttpEndpoint(provider="a", base_url="http://x", headers={}, key_env="", timeout_secs=7, connect_timeout_secs=2)
    timeout = ep._client.timeout
    assert (timeout.connect, timeout.read, timeout.write) == (2, 7, 7)
    await ep.aclose()
    assert ep._client.is_closed


async def test_injected_client_is_left_open(mock_client: Any) -> None:
    client = mock_client(lambda r: httpx.Response(200))
    ep = HttpEndpoint(provider="a", base_url="http://x", headers={}, key_env="", client=client)
    await ep.aclose()
    assert not client.is_closed
