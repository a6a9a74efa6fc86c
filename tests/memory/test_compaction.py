"""Context compaction: a long conversation on a small window is summarized, and nothing is lost."""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections.abc import Callable

from axocoatl.core.messages import ChatMessage
from axocoatl.memory.prompts import POST_COMPACTION_HINT, SUMMARY_HEADER
from axocoatl.providers.base import estimate_prompt_tokens
from axocoatl.runtime.runtime import Runtime

from .support import Recorder, ledger_kinds, on_database, system_text

WINDOW = 2000
FACT = "Remember this: the vault combination is 31-41-59 and only Marta knows it."
YAML = """
agents:
  - id: ada
    provider: mock
    options: {reply: "Noted, point {turn}: {input_head}"}
"""


def filler(n: int) -> str:
    return f"Point {n}: " + " ".join(f"detail{n}x{i}" for i in range(40))


async def long_conversation(rt: Runtime, turns: int) -> None:
    await rt.execute("ada", FACT)
    for n in range(1, turns):
        await rt.execute("ada", filler(n))


async def test_a_long_conversation_is_compacted_without_losing_anything(
    memory_runtime: Callable[..., Runtime],
) -> None:
    recorder = Recorder(context_tokens=WINDOW)
    async with memory_runtime(YAML, providers={"mock": recorder}) as rt:
        await long_conversation(rt, 30)
        archives, _ = await rt.store.read_log("ada", entry_types=("compaction",), limit=1000)
        conversations, _ = await rt.store.read_log("ada", entry_types=("conversation",), limit=1000)
        kinds = await ledger_kinds(rt, "ada")
        compacted = (await rt.agent("ada").session()).compaction

        def raw(db: sqlite3.Connection) -> list[str]:
            rows = db.execute("SELECT message FROM thread_messages WHERE agent_id = 'ada' ORDER BY seq")
            return [r[0] for r in rows]

        stored = [ChatMessage.from_json(text) for text in on_database(rt, raw)]

    summaries = recorder.purpose("summary")
    assert summaries, "the conversation never triggered a compaction"
    assert kinds.count("summary") == len(summaries)
    turns = recorder.turn_requests()
    # Every request fit the window; late ones carry the summary and the post-compaction hint.
    assert max(estimate_prompt_tokens(r) for r in turns) <= WINDOW
    assert SUMMARY_HEADER in system_text(turns[-1]) and POST_COMPACTION_HINT in system_text(turns[-1])
    assert FACT not in [m.content for m in turns[-1].messages]

    # The raw record: every message stays in the session table, and every compacted message was
    # archived to the daily log, in order, with nothing skipped.
    assert len(stored) == 60
    archived = [m for entry in archives for m in entry.content["messages"]]
    assert archives[0].content["first_seq"] == 0
    for before, after in itertools.pairwise(archives):
        assert after.content["first_seq"] == before.content["last_seq"] + 1
    assert archives[-1].content["last_seq"] + 1 == compacted.through_seq
    assert archived == [m.to_dict() for m in stored[: compacted.through_seq]]
    assert archived[0]["content"] == FACT
    assert len(conversations) == 30

    # The early fact is still retrievable.
    search = '[{name: recall_search, arguments: {query: "vault combination Marta"}}]'
    yaml = YAML.replace("options: {", "options: {tool_calls: " + search + ", ")
    async with memory_runtime(yaml, providers={"mock": Recorder(context_tokens=WINDOW)}) as rt:
        out = await rt.execute("ada", "What is the vault combination?")
    assert FACT in json.loads(out.tool_calls[0].result)["results"][0]["text"]


async def test_summary_spend_counts_toward_the_turn_and_the_ledger(memory_runtime: Callable[..., Runtime]) -> None:
    recorder = Recorder(context_tokens=WINDOW)
    async with memory_runtime(YAML, providers={"mock": recorder}) as rt:
        outputs = [await rt.execute("ada", FACT)]
        while not recorder.purpose("summary"):
            outputs.append(await rt.execute("ada", filler(len(outputs))))
    compacting = outputs[-1]
    assert compacting.llm_calls == 2  # the summary, then the reply
    assert compacting.usage.total > outputs[-2].usage.total
    # The reply of the compacting turn already carries the new summary.
    first_summary = next(i for i, r in enumerate(recorder.requests) if r.metadata.get("purpose") == "summary")
    assert SUMMARY_HEADER in system_text(recorder.requests[first_summary + 1])


async def test_a_failed_summary_trims_instead_and_the_turn_succeeds(memory_runtime: Callable[..., Runtime]) -> None:
    recorder = Recorder(context_tokens=WINDOW, fail_purposes=("summary",))
    async with memory_runtime(YAML, providers={"mock": recorder}) as rt:
        await long_conversation(rt, 25)
        compacted = (await rt.agent("ada").session()).compaction
        kinds = await ledger_kinds(rt, "ada")
    assert recorder.purpose("summary")
    assert "summary" not in kinds
    assert "earlier messages were trimmed from the live context" in compacted.summary
    assert max(estimate_prompt_tokens(r) for r in recorder.turn_requests()) <= WINDOW


async def test_compaction_state_survives_a_restart_and_a_reset_clears_it(
    memory_runtime: Callable[..., Runtime],
) -> None:
    async with memory_runtime(YAML, providers={"mock": Recorder(context_tokens=WINDOW)}) as rt:
        await long_conversation(rt, 25)
        through = (await rt.agent("ada").session()).compaction.through_seq
    assert through > 0
    recorder = Recorder(context_tokens=WINDOW)
    async with memory_runtime(YAML, providers={"mock": recorder}) as rt:
        await rt.execute("ada", "and one more")
        assert SUMMARY_HEADER in system_text(recorder.turn_requests()[0])
        await rt.agent("ada").reset_session()
        await rt.execute("ada", "fresh start")
    assert SUMMARY_HEADER not in system_text(recorder.turn_requests()[-1])
