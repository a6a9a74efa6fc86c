"""The journal's replay rules, on a real store: done → recorded result; in flight → re-run only if read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from axocoatl.core.ids import SystemClock
from axocoatl.core.messages import ToolCall
from axocoatl.store import SQLiteStore
from axocoatl.tools.context import ToolContext
from axocoatl.tools.journal import ToolJournal
from axocoatl.tools.pipeline import ToolPipeline, ToolServices
from axocoatl.tools.registry import Tool, ToolRegistry
from axocoatl.tools.workspace import Workspace

RAN: list[str] = []


def _tool(name: str, effect: str) -> Tool:
    async def handler(args: dict[str, Any], ctx: ToolContext) -> Any:
        RAN.append(name)
        return f"{name} ran"

    return Tool(name, "", {"type": "object"}, handler, effect=effect)  # type: ignore[arg-type]


TOOLS = ToolRegistry([_tool("look", "read"), _tool("change", "write"), _tool("send", "external")])
CALLS = [ToolCall("a", "look", {}), ToolCall("b", "change", {}), ToolCall("c", "send", {}), ToolCall("d", "change", {})]


async def _pipeline(store: SQLiteStore, root: Path) -> ToolPipeline:
    journal = await ToolJournal.open(store, SystemClock(), "run-1", "agent")
    env = ToolServices().environment("agent", Workspace(root), run_id="run-1")
    return ToolPipeline(TOOLS.view("agent", TOOLS.names()), env, journal=journal)


async def test_a_resumed_step_replays_done_calls_and_reruns_only_reads_in_flight(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "db.sqlite")
    await store.open()
    try:
        first = await _pipeline(store, tmp_path)
        assert first.journal is not None and not first.journal.resumed
        await first.journal.record_reply(0, "thinking", CALLS)
        [done] = await first.run_round(0, CALLS[1:2])  # 'change' (idx 0 of that round) completes
        assert done.result == "change ran"
        # A crash while three calls were in flight: their starts are journaled, their ends are not.
        for index, call in enumerate(CALLS):
            if index:
                await first.journal.started(1, index, call, TOOLS.get(call.name).effect)  # type: ignore[union-attr]
        await first.journal.started(1, 0, CALLS[0], "read")
        RAN.clear()

        second = await _pipeline(store, tmp_path)
        assert second.journal is not None and second.journal.resumed
        assert second.journal.activation == first.journal.activation
        assert second.journal.reply(0) == ("thinking", tuple(CALLS))
        [replayed] = await second.run_round(0, CALLS[1:2])
        assert replayed.result == "change ran" and RAN == []  # recorded: not run again
        results = await second.run_round(1, CALLS)
        assert RAN == ["look"]  # the read in flight runs again; the others do not
        assert results[0].result == "look ran"
        for record in results[1:]:
            assert record.is_error and json.loads(record.result)["error"].startswith("interrupted: unknown outcome")

        await store.write(second.journal.close())
        third = await _pipeline(store, tmp_path)
        assert third.journal is not None and not third.journal.resumed  # a new execution starts afresh
        assert third.journal.activation == first.journal.activation + 1
    finally:
        await store.close()
