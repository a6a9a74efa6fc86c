"""The tool framework: registry and sources, allow-lists, argument checks, output caps, timeouts, ordering."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from tests.tools.support import call, error, ok, pipeline

from axocoatl.config.schema import ToolsConfig
from axocoatl.core.messages import ToolCall
from axocoatl.core.tool_names import BUILTIN_TOOLS as BUILTIN_NAMES
from axocoatl.tools.builtins import BUILTIN_TOOLS
from axocoatl.tools.context import ToolContext
from axocoatl.tools.registry import Tool, ToolRegistry


async def _boom(args: dict[str, Any], ctx: ToolContext) -> Any:
    raise KeyError("missing")


async def _text(args: dict[str, Any], ctx: ToolContext) -> Any:
    return "plain text"


BOOM = Tool("boom", "Fails.", {"type": "object"}, _boom)


def test_the_registry_holds_every_source_and_refuses_a_name_twice() -> None:
    reg = ToolRegistry(BUILTIN_TOOLS)
    reg.add_source([BOOM])
    assert reg.names() == [*BUILTIN_NAMES, "boom"]
    with pytest.raises(ValueError, match=r"registered twice \(by builtin and by builtin\)"):
        reg.register(BUILTIN_TOOLS[0])
    with pytest.raises(ValueError, match="effect must be one of read, write, external"):
        reg.register(Tool("odd", "", {}, _text, effect="delete"))  # type: ignore[arg-type]


def test_a_view_offers_only_allowed_known_tools_plus_agent_owned_ones() -> None:
    reg = ToolRegistry(BUILTIN_TOOLS)
    box = reg.view("agent", ["text_split", "echo", "not_a_tool"], {"mine": Tool("mine", "", {}, _text)})
    assert [s.name for s in box.specs()] == ["text_split", "echo", "mine"]
    assert "echo" in box and "json_keys" not in box
    assert not reg.view("agent", [])


async def test_a_call_outside_the_allow_list_is_a_tool_error_with_a_hint(tmp_path: Path) -> None:
    tools = pipeline(tmp_path, ["echo"])
    assert await error(tools, "json_keys", json={}) == (
        "tool 'json_keys' is not available to agent 'tester' (add it to agents[tester].tools)"
    )
    nameless = await error(tools, "")
    assert "the model sent a call without a name" in nameless


async def test_arguments_are_checked_against_the_schema_before_the_call(tmp_path: Path) -> None:
    calls: list[dict[str, Any]] = []

    async def spy(args: dict[str, Any], ctx: ToolContext) -> Any:
        calls.append(args)
        return "ran"

    schema = {
        "type": "object",
        "properties": {
            "path": {"type": "string"},
            "count": {"type": "integer", "minimum": 1, "maximum": 5},
            "mode": {"enum": ["fast", "slow"]},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["path"],
        "additionalProperties": False,
    }
    tools = pipeline(tmp_path, ["spy"], extra=[Tool("spy", "", schema, spy)])
    message = await error(tools, "spy", count=9, mode="odd", tags=["a", 2], colour="red")
    assert message.startswith("invalid arguments for tool 'spy': ")
    for part in (
        "missing required argument 'path'",
        "'count' must be at most 5, got 9",
        "'mode' must be one of 'fast', 'slow', got 'odd'",
        "'tags[1]' must be string, got integer",
        "unknown argument 'colour' (known: path, count, mode, tags)",
        "Call it again with corrected arguments.",
    ):
        assert part in message
    assert await error(tools, "spy", path=True) == (
        "invalid arguments for tool 'spy': 'path' must be string, got boolean. Call it again with corrected arguments."
    )
    assert calls == []  # never called with bad arguments
    assert await ok(tools, "spy", path="x", count=2.0) == "ran"
    assert calls == [{"path": "x", "count": 2.0}]


async def test_results_are_text_and_tool_bugs_become_tool_errors(tmp_path: Path) -> None:
    tools = pipeline(tmp_path, ["echo", "boom", "text"], extra=[BOOM, Tool("text", "", {}, _text)])
    assert await ok(tools, "echo", text="ü") == {"text": "ü"}
    assert await ok(tools, "text") == "plain text"
    assert await error(tools, "boom") == "tool 'boom' failed: KeyError: 'missing'"


async def test_outputs_are_capped_and_the_cut_is_marked(tmp_path: Path) -> None:
    async def big(args: dict[str, Any], ctx: ToolContext) -> Any:
        return "x" * 5000

    tools = pipeline(tmp_path, ["big"], extra=[Tool("big", "", {}, big)], settings=ToolsConfig(max_output_chars=1000))
    record = await call(tools, "big")
    assert record.result.startswith("x" * 1000 + "\n[truncated: 4000 more characters not shown (limit 1000)]")
    assert len(record.result) < 1100


async def test_a_tool_that_overruns_its_timeout_is_stopped(tmp_path: Path) -> None:
    async def hang(args: dict[str, Any], ctx: ToolContext) -> Any:
        await asyncio.sleep(3600)

    tools = pipeline(tmp_path, ["hang"], extra=[Tool("hang", "", {}, hang, timeout_secs=0.05)])
    message = await error(tools, "hang")
    assert message.startswith("tool 'hang' timed out after 0.05 s and was stopped")


async def test_read_calls_run_together_anything_else_in_the_models_order(tmp_path: Path) -> None:
    log: list[str] = []
    gate = asyncio.Event()

    def make(name: str, effect: str) -> Tool:
        async def handler(args: dict[str, Any], ctx: ToolContext) -> Any:
            log.append(f"start {args['n']}")
            if args["n"] == 0 and effect == "read":
                await gate.wait()  # finishes only once the second read started: they run at once
            if args["n"] == 1 and effect == "read":
                gate.set()
            await asyncio.sleep(0)
            log.append(f"end {args['n']}")
            return args["n"]

        return Tool(name, "", {"type": "object"}, handler, effect=effect)  # type: ignore[arg-type]

    tools = pipeline(tmp_path, ["r", "w"], extra=[make("r", "read"), make("w", "write")])
    reads = await tools.run_round(0, [ToolCall("a", "r", {"n": 0}), ToolCall("b", "r", {"n": 1})])
    assert [r.result for r in reads] == ["0", "1"]
    assert log[:2] == ["start 0", "start 1"]
    log.clear()
    mixed = await tools.run_round(1, [ToolCall("a", "w", {"n": 0}), ToolCall("b", "r", {"n": 1})])
    assert [r.result for r in mixed] == ["0", "1"]
    assert log == ["start 0", "end 0", "start 1", "end 1"]


async def test_builtin_json_keys_and_text_split(tmp_path: Path) -> None:
    tools = pipeline(tmp_path, ["json_keys", "text_split"])
    assert await ok(tools, "json_keys", json={"b": 1, "a": 2}) == {"keys": ["b", "a"]}
    assert await ok(tools, "json_keys", json='{"x": 1}') == {"keys": ["x"]}
    assert "not valid JSON" in await error(tools, "json_keys", json="{nope")
    assert "must be a JSON object" in await error(tools, "json_keys", json=[1, 2])
    assert await ok(tools, "text_split", text="a\nb") == {"parts": ["a", "b"], "count": 2}
    assert (await ok(tools, "text_split", text="a,b,c", delimiter=","))["count"] == 3
    assert "missing required argument 'text'" in await error(tools, "text_split")
    assert "non-empty string" in await error(tools, "text_split", text="x", delimiter="")
    assert json.loads((await call(tools, "echo")).result)["error"].startswith("tool 'echo' is not available")
