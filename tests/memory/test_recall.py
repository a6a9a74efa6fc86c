"""Tier 4 and the recall tools through the Runtime: facts outlive the process, passive injection, tool errors."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Callable, Sequence
from datetime import date, timedelta

import numpy as np
import pytest

from axocoatl.memory.embedding import HashedEmbedder, Vectors
from axocoatl.runtime.runtime import Runtime
from axocoatl.store import WriteBatch

from .support import Recorder, count_rows, on_database, system_text

FACT = "My sister Ingrid lives in Reykjavik and keeps bees."


def yaml(tool_calls: str = "[]", recall: str = "") -> str:
    return f"""
    agents:
      - id: ada
        provider: mock
        options:
          reply: "ok"
          tool_calls: {tool_calls}
        {recall}
    """


async def chat(rt: Runtime, *texts: str) -> None:
    for text in texts:
        await rt.execute("ada", text)


async def test_a_fact_told_in_one_process_is_recalled_in_the_next(memory_runtime: Callable[..., Runtime]) -> None:
    async with memory_runtime(yaml()) as rt:
        await chat(rt, FACT, "The weather is grey today.", "Please draft the quarterly report outline.")

    search = '[{name: recall_search, arguments: {query: "Where does Ingrid live, the one with bees?"}}]'
    recorder = Recorder()
    async with memory_runtime(yaml(search), providers={"mock": recorder}) as rt:
        await rt.agent("ada").reset_session()  # nothing left in the live context
        out = await rt.execute("ada", "Where does my sister Ingrid live?")
    result = json.loads(out.tool_calls[0].result)
    assert result["count"] >= 1
    assert FACT in result["results"][0]["text"]
    assert result["results"][0]["score"] > 0.15
    # Passive injection: the first request already carried the fact.
    system = system_text(recorder.turn_requests()[0])
    assert "## Relevant memory from past sessions\n- User: " + FACT in system
    assert "Use recall_search before" in system  # the recall hint


async def test_passive_recall_respects_min_score_and_skips_the_live_context(
    memory_runtime: Callable[..., Runtime],
) -> None:
    strict = "memory: {recall: {min_score: 0.99}}"
    recorder = Recorder()
    async with memory_runtime(yaml(recall=strict), providers={"mock": recorder}) as rt:
        await chat(rt, FACT, "Where does Ingrid live?")
    assert "## Relevant memory" not in system_text(recorder.turn_requests()[1])

    recorder = Recorder()
    async with memory_runtime(yaml(), providers={"mock": recorder}) as rt:
        await chat(rt, "Ingrid keeps bees?")  # the fact's exchange is still in the session: not repeated
        await rt.agent("ada").reset_session()
        await chat(rt, "Tell me about Ingrid and her bees")
    assert "## Relevant memory" not in system_text(recorder.turn_requests()[0])
    assert "Ingrid" in system_text(recorder.turn_requests()[1])


async def test_passive_injection_can_be_turned_off(memory_runtime: Callable[..., Runtime]) -> None:
    recorder = Recorder()
    off = yaml(recall="memory: {recall: {passive_inject: false}}")
    async with memory_runtime(off, providers={"mock": recorder}) as rt:
        await chat(rt, FACT)
        await rt.agent("ada").reset_session()
        await chat(rt, "Where does Ingrid live?")
    assert "## Relevant memory" not in system_text(recorder.turn_requests()[1])


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ("{}", "needs a 'query' (what you want to remember), or 'from' and 'to' dates"),
        ('{query: "  "}', "needs a 'query'"),
        ("{query: 5}", "'query' must be string, got integer"),
        ('{query: bees, k: "many"}', "'k' must be a whole number from 1 to 20"),
    ],
)
async def test_recall_search_argument_errors(
    memory_runtime: Callable[..., Runtime], arguments: str, expected: str
) -> None:
    async with memory_runtime(yaml(f"[{{name: recall_search, arguments: {arguments}}}]")) as rt:
        out = await rt.execute("ada", "search please")
        assert rt.agent("ada").statistics().status == "idle"
    assert out.tool_calls[0].is_error
    assert expected in json.loads(out.tool_calls[0].result)["error"]


async def test_recall_search_clamps_k(memory_runtime: Callable[..., Runtime]) -> None:
    facts = [f"Bee fact number {n}: bees and honey and hives." for n in range(25)]
    async with memory_runtime(yaml(recall="memory: {recall: {min_score: -1.0}}")) as rt:
        await chat(rt, *facts)
    search = '[{name: recall_search, arguments: {query: "bees honey", k: "500"}}]'
    async with memory_runtime(yaml(search, recall="memory: {recall: {min_score: -1.0}}")) as rt:
        out = await rt.execute("ada", "search")
    assert json.loads(out.tool_calls[0].result)["count"] == 20
    search = '[{name: recall_search, arguments: {query: "bees honey", k: 0}}]'
    async with memory_runtime(yaml(search, recall="memory: {recall: {min_score: -1.0}}")) as rt:
        out = await rt.execute("ada", "search")
    assert json.loads(out.tool_calls[0].result)["count"] == 1


async def test_recall_search_with_dates_and_no_query_reads_the_daily_log(
    memory_runtime: Callable[..., Runtime],
) -> None:
    today = date.today()
    async with memory_runtime(yaml()) as rt:
        await chat(rt, FACT)
    ranges = [
        f"{{from: '{today}'}}",  # one day
        f"{{from: '{today}', to: '{today - timedelta(days=3)}'}}",  # reversed: swapped
        f"{{date: '{today}'}}",  # what the retired recall_timeframe took
    ]
    for args in ranges:
        async with memory_runtime(yaml(f"[{{name: recall_search, arguments: {args}}}]")) as rt:
            out = await rt.execute("ada", "what did we talk about?")
        result = json.loads(out.tool_calls[0].result)
        assert result["date_range"].endswith(str(today))
        assert result["truncated"] is False
        assert result["entries"][0]["type"] == "conversation"
        assert result["entries"][0]["content"].startswith(f"User: {FACT}")


async def test_recall_search_with_a_query_and_dates_keeps_the_memories_of_those_days(
    memory_runtime: Callable[..., Runtime],
) -> None:
    today = date.today()
    async with memory_runtime(yaml()) as rt:
        await chat(rt, FACT)
    found = {}
    for first, last in ((today, today), (today - timedelta(days=9), today - timedelta(days=2))):
        args = f"{{query: 'Ingrid bees', from: '{first}', to: '{last}'}}"
        async with memory_runtime(yaml(f"[{{name: recall_search, arguments: {args}}}]")) as rt:
            out = await rt.execute("ada", "where does Ingrid live?")
        found[first] = json.loads(out.tool_calls[0].result)
    assert found[today]["date_range"] == f"{today}..{today}"
    assert FACT in found[today]["results"][0]["text"]
    earlier = found[today - timedelta(days=9)]
    assert (earlier["date_range"], earlier["count"]) == (f"{today - timedelta(days=9)}..{today - timedelta(days=2)}", 0)


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ("{from: 'yesterday'}", "'from' must be a date as YYYY-MM-DD"),
        ("{query: bees, to: '2026-02-30'}", "is not a real date"),
        ("{from: '2026-01-01', to: '2026-03-01'}", "spans 60 days; at most 31"),
    ],
)
async def test_recall_search_date_errors(memory_runtime: Callable[..., Runtime], arguments: str, expected: str) -> None:
    async with memory_runtime(yaml(f"[{{name: recall_search, arguments: {arguments}}}]")) as rt:
        out = await rt.execute("ada", "read the log")
    assert out.tool_calls[0].is_error
    assert expected in json.loads(out.tool_calls[0].result)["error"]


async def test_recall_search_by_day_keeps_the_most_recent_40_with_short_previews(
    memory_runtime: Callable[..., Runtime],
) -> None:
    async with memory_runtime(yaml()) as rt:
        await chat(rt, *[f"message {n} " + "z" * 600 for n in range(45)])
    async with memory_runtime(yaml(f"[{{name: recall_search, arguments: {{from: '{date.today()}'}}}}]")) as rt:
        out = await rt.execute("ada", "log")
    result = json.loads(out.tool_calls[0].result)
    assert (result["count"], result["truncated"]) == (40, True)
    assert result["entries"][-1]["content"].startswith("User: message 44 ")
    assert all(len(e["content"]) <= 501 and e["content"].endswith("…") for e in result["entries"])


class OtherEmbedder:
    """A second embedder id: stored vectors of another embedder must be re-embedded."""

    id = "other-v1"
    dim = 8

    def __init__(self) -> None:
        self.calls = 0

    def embed(self, texts: Sequence[str]) -> Vectors:
        self.calls += 1
        out = HashedEmbedder().embed(texts)[:, :8].copy()
        out[:, 0] += 1.0
        return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


async def test_vectors_are_re_embedded_when_the_embedder_changes_and_not_on_resume(
    memory_runtime: Callable[..., Runtime],
) -> None:
    async with memory_runtime(yaml()) as rt:
        await chat(rt, FACT, "second")

    other = OtherEmbedder()
    async with memory_runtime(yaml(), embedder=other) as rt:
        await chat(rt, "third")

    def embedders(db: sqlite3.Connection) -> list[str]:
        return [r[0] for r in db.execute("SELECT embedder FROM memories ORDER BY seq")]

    async with memory_runtime(yaml(), embedder=other) as rt:
        # Exit never waits for embedding: a row whose vector was not computed yet is embedded on
        # this load, once, and its vector rides along with the next write (or is saved on stop).
        await rt.agent("ada").memory.semantic.load()  # type: ignore[union-attr]
        await rt.agent("ada").memory.semantic.flush()  # type: ignore[union-attr]
    async with memory_runtime(yaml(), embedder=other) as rt:
        assert on_database(rt, embedders) == ["other-v1"] * 3
    calls = other.calls

    async with memory_runtime(yaml(), embedder=other) as rt:
        await chat(rt, "fourth")  # loads 3 stored vectors: nothing is re-embedded
    # Nor the query: all three are still in the thread's live context, so passive recall has nothing
    # to find. The new row waits for a search that could find it.
    assert other.calls == calls
    async with memory_runtime(yaml(), embedder=other) as rt:
        await rt.agent("ada").reset_session()  # now every memory is a candidate
        await chat(rt, "fifth")
    assert other.calls - calls == 2  # the fourth row (not embedded before), then the query


async def test_a_memory_whose_vector_was_never_written_is_embedded_by_the_next_search(
    memory_runtime: Callable[..., Runtime], caplog: pytest.LogCaptureFixture
) -> None:
    async with memory_runtime(yaml()) as rt:
        await chat(rt, FACT)
    async with memory_runtime(yaml()) as rt:
        # Simulate a crash after the turn committed but before its vector was written.
        on_database(rt, lambda db: db.execute("UPDATE memories SET vector = NULL, embedder = NULL"))
    search = '[{name: recall_search, arguments: {query: "Ingrid bees Reykjavik"}}]'
    with caplog.at_level(logging.INFO, logger="axocoatl.memory.semantic"):
        async with memory_runtime(yaml(search)) as rt:
            out = await rt.execute("ada", "where is Ingrid?")
            assert await count_rows(rt, "memories", "ada") == 2
    assert FACT in json.loads(out.tool_calls[0].result)["results"][0]["text"]
    assert "1 stored memories to embed" in caplog.text


async def test_stateless_calls_leave_no_memory(memory_runtime: Callable[..., Runtime]) -> None:
    from axocoatl.core.messages import AgentInput

    async with memory_runtime(yaml()) as rt:
        await rt.execute("ada", AgentInput(FACT, stateless=True))
        assert await count_rows(rt, "memories", "ada") == 0
        assert await count_rows(rt, "daily_log", "ada") == 0
        await rt.store.write(WriteBatch())


async def test_exchanges_that_fell_out_of_the_window_are_recalled(memory_runtime: Callable[..., Runtime]) -> None:
    recorder = Recorder()
    small = yaml(recall="memory: {max_session_messages: 2}")
    async with memory_runtime(small, providers={"mock": recorder}) as rt:
        await chat(rt, FACT, "Something else entirely.", "Ingrid and her bees again?")
    last = recorder.turn_requests()[-1]
    assert [m.content for m in last.messages[1:]] == ["Something else entirely.", "ok", "Ingrid and her bees again?"]
    assert f"- User: {FACT}" in system_text(last)


class StuckEmbedder(OtherEmbedder):
    """An embedder that never finishes (a huge re-embedding on a slow machine)."""

    id = "stuck-v1"

    def __init__(self) -> None:
        super().__init__()
        import threading

        self.release = threading.Event()

    def embed(self, texts: Sequence[str]) -> Vectors:
        self.release.wait(30)
        return super().embed(texts)


async def test_closing_never_waits_for_embedding(memory_runtime: Callable[..., Runtime]) -> None:
    """Exit is O(1): memories whose vectors are not computed yet keep their rows and are embedded later."""
    async with memory_runtime(yaml()) as rt:
        await chat(rt, FACT, "second")
    stuck = StuckEmbedder()
    rt = memory_runtime(yaml(), embedder=stuck)
    await rt.start()
    memory = rt.agent("ada").memory
    assert memory is not None
    await memory.semantic.load()  # finds two rows of another embedder: re-embedding starts in the background
    try:
        async with asyncio.timeout(10):  # a hang guard, not a timing claim: close must not wait for the embedder
            await rt.aclose()
    finally:
        stuck.release.set()
    async with memory_runtime(yaml()) as rt:
        assert await count_rows(rt, "memories", "ada") == 2


@pytest.mark.parametrize("in_steps", [False, True])
async def test_workflow_steps_get_passive_recall_only_when_the_agent_opts_in(
    memory_runtime: Callable[..., Runtime], in_steps: bool
) -> None:
    config = yaml(recall=f"memory: {{recall: {{in_steps: {str(in_steps).lower()}}}}}").rstrip() + (
        "\n    workflows:\n      - id: wf\n        agents: [ada]\n"
    )
    recorder = Recorder()
    async with memory_runtime(config, providers={"mock": recorder}) as rt:
        await rt.run_workflow("wf", FACT)
        await rt.run_workflow("wf", "Where does my sister Ingrid live?")
    first, second = (system_text(r) for r in recorder.turn_requests())
    assert "Relevant memory" not in first
    # Off (the default): the step's prompt is the same size run after run; on: the first run is recalled.
    assert ("## Relevant memory from past sessions\n- User: " + FACT in second) is in_steps


async def test_a_workflow_step_is_embedded_by_the_first_search_that_needs_it(
    memory_runtime: Callable[..., Runtime],
) -> None:
    config = yaml().rstrip() + "\n    workflows:\n      - id: wf\n        agents: [ada]\n"
    async with memory_runtime(config) as rt:
        await rt.run_workflow("wf", FACT)

    def vectors(db: sqlite3.Connection) -> list[object]:
        return [row[0] for row in db.execute("SELECT vector FROM memories WHERE agent_id = 'ada' ORDER BY seq")]

    async with memory_runtime(config) as rt:
        # No search ran: the step cost no embedding, and its row waits for one.
        assert on_database(rt, vectors) == [None]
    search = '[{name: recall_search, arguments: {query: "Where does Ingrid live, the one with bees?"}}]'
    async with memory_runtime(
        yaml(search).rstrip() + "\n    workflows:\n      - id: wf\n        agents: [ada]\n"
    ) as rt:
        out = await rt.execute("ada", "where is Ingrid?")
    result = json.loads(out.tool_calls[0].result)
    assert FACT in result["results"][0]["text"]  # the same memory, found by meaning
    async with memory_runtime(config) as rt:
        stored = on_database(rt, vectors)
    assert stored[0] is not None  # the step's row: computed once, then stored
    assert stored[1:] == [None]  # the turn's own exchange waits for a search that could find it


class CountingEmbedder(HashedEmbedder):
    """hashed-v1, remembering every text it embedded."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def embed(self, texts: Sequence[str]) -> Vectors:
        self.texts.extend(texts)
        return super().embed(texts)


async def test_passive_recall_embeds_an_exchange_once_it_left_the_live_context_and_finds_it(
    memory_runtime: Callable[..., Runtime],
) -> None:
    embedder, recorder = CountingEmbedder(), Recorder()
    config = yaml(recall="memory: {max_session_messages: 4}")
    async with memory_runtime(config, embedder=embedder, providers={"mock": recorder}) as rt:
        await chat(rt, FACT, "The weather is grey today.", "What should I cook tonight?")
        # Every exchange was still in the window of 4 messages: recall had nothing to find, and
        # neither the queries nor the exchanges were embedded.
        assert embedder.texts == []
        assert all("Relevant memory" not in system_text(r) for r in recorder.turn_requests())
        await chat(rt, "Where does my sister Ingrid live?")  # the first exchange has left the window
        assert embedder.texts == [f"User: {FACT}\nAssistant: ok", "Where does my sister Ingrid live?"]
        assert "## Relevant memory from past sessions\n- User: " + FACT in system_text(recorder.turn_requests()[-1])
        other = await rt.execute("ada", "Where does my sister Ingrid live?", thread="other")
    # From another thread every exchange is a candidate: the other three are embedded (once), then the query.
    asked = ["The weather is grey today.", "What should I cook tonight?", "Where does my sister Ingrid live?"]
    assert embedder.texts[2:] == [f"User: {q}\nAssistant: ok" for q in asked] + [asked[-1]]
    assert other.content == "ok"
    assert "- User: " + FACT in system_text(recorder.turn_requests()[-1])
