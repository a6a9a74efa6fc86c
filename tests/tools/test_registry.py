"""Tool registry, per-agent allow-lists and the built-in tools."""

from __future__ import annotations

import json
from typing import Any

import pytest

from axocoatl.core.errors import ToolError, ToolNotAllowed
from axocoatl.tools.builtins import BUILTIN_TOOLS
from axocoatl.tools.registry import Tool, ToolRegistry


async def _boom(args: dict[str, Any]) -> Any:
    raise KeyError("missing")


async def _text(args: dict[str, Any]) -> Any:
    return "plain text"


def registry() -> ToolRegistry:
    return ToolRegistry([*BUILTIN_TOOLS, Tool("boom", "Fails.", {"type": "object"}, _boom)])


def test_registry_knows_the_builtins_and_refuses_duplicates() -> None:
    reg = registry()
    assert reg.names() == ["echo", "json_keys", "text_split", "boom"]
    with pytest.raises(ValueError, match="registered twice"):
        reg.register(BUILTIN_TOOLS[0])


def test_view_offers_only_allowed_known_tools() -> None:
    box = registry().view("agent", ["text_split", "echo", "not_a_tool"])
    assert [s.name for s in box.specs()] == ["text_split", "echo"]
    assert "echo" in box and "json_keys" not in box
    assert not registry().view("agent", [])


def test_extra_tools_join_the_allow_list() -> None:
    extra = {"mine": Tool("mine", "Agent-owned.", {"type": "object"}, _text)}
    box = registry().view("agent", ["echo"], extra)
    assert [s.name for s in box.specs()] == ["echo", "mine"]


async def test_calling_a_tool_outside_the_allow_list_is_refused_with_a_hint() -> None:
    box = registry().view("writer", ["echo"])
    with pytest.raises(ToolNotAllowed) as caught:
        await box.call("json_keys", {"json": {}})
    assert caught.value.message == "tool 'json_keys' is not available to agent 'writer'"
    assert caught.value.hint == "add it to agents[writer].tools"
    with pytest.raises(ToolNotAllowed) as nameless:
        await box.call("", {})
    assert nameless.value.hint == "the model sent a call without a name"


async def test_results_are_text_and_tool_bugs_become_tool_errors() -> None:
    box = registry().view("a", ["echo", "boom"], {"text": Tool("text", "", {}, _text)})
    assert json.loads(await box.call("echo", {"text": "ü"})) == {"text": "ü"}
    assert await box.call("text", {}) == "plain text"
    with pytest.raises(ToolError, match=r"tool 'boom' failed: KeyError: 'missing'"):
        await box.call("boom", {})


async def test_builtin_json_keys_and_text_split() -> None:
    box = registry().view("a", ["json_keys", "text_split"])
    assert json.loads(await box.call("json_keys", {"json": {"b": 1, "a": 2}})) == {"keys": ["b", "a"]}
    assert json.loads(await box.call("json_keys", {"json": '{"x": 1}'})) == {"keys": ["x"]}
    with pytest.raises(ToolError, match="not valid JSON"):
        await box.call("json_keys", {"json": "{nope"})
    with pytest.raises(ToolError, match="must be a JSON object"):
        await box.call("json_keys", {"json": [1, 2]})
    assert json.loads(await box.call("text_split", {"text": "a\nb"})) == {"parts": ["a", "b"], "count": 2}
    assert json.loads(await box.call("text_split", {"text": "a,b,c", "delimiter": ","}))["count"] == 3
    with pytest.raises(ToolError, match="'text' must be a string"):
        await box.call("text_split", {})
    with pytest.raises(ToolError, match="non-empty string"):
        await box.call("text_split", {"text": "x", "delimiter": ""})
