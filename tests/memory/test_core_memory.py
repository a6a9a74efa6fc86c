"""Tier 3 through the Runtime: tools edit blocks, edits persist and are visible, bad arguments are tool errors."""

from __future__ import annotations

import json
from collections.abc import Callable

from axocoatl.runtime.runtime import Runtime

from .support import Recorder, system_text


def agent_yaml(tool_calls: str = "[]", blocks: str = "", agent_id: str = "ada", reply: str = "done") -> str:
    return f"""
    agents:
      - id: {agent_id}
        provider: mock
        system_prompt: You are {agent_id}.
        options:
          reply: "{reply}"
          tool_calls: {tool_calls}
        {blocks}
    """


APPEND_NAME = '[{name: core_memory_append, arguments: {block: human, text: "The user is called Grace."}}]'


async def test_core_memory_edit_survives_a_restart(memory_runtime: Callable[..., Runtime]) -> None:
    async with memory_runtime(agent_yaml(APPEND_NAME)) as rt:
        out = await rt.execute("ada", "Hi, I'm Grace.")
    assert [(r.name, r.is_error) for r in out.tool_calls] == [("core_memory_append", False)]
    assert json.loads(out.tool_calls[0].result) == {"ok": True, "block": "human", "chars": 25, "limit": 2000}

    recorder = Recorder()
    async with memory_runtime(agent_yaml(), providers={"mock": recorder}) as rt:
        await rt.execute("ada", "What's my name?")
    system = system_text(recorder.turn_requests()[0])
    assert system.startswith("You are ada.\n\n## Core Memory\n")
    assert "### human\nThe user is called Grace." in system
    assert "### persona" not in system  # an empty block costs no prompt tokens
    assert "Use recall_search before saying you don't remember." in system  # the one-line hint


async def test_an_edit_is_visible_to_the_next_request_of_the_same_turn(memory_runtime: Callable[..., Runtime]) -> None:
    recorder = Recorder()
    async with memory_runtime(agent_yaml(APPEND_NAME), providers={"mock": recorder}) as rt:
        await rt.execute("ada", "Hi, I'm Grace.")
    first, follow_up = recorder.turn_requests()
    assert "The user is called Grace." not in system_text(first)
    assert "### human\nThe user is called Grace." in system_text(follow_up)


async def test_bad_tool_arguments_come_back_as_clear_tool_errors(memory_runtime: Callable[..., Runtime]) -> None:
    calls = (
        "["
        '{name: core_memory_append, arguments: {block: human, text: "' + "x" * 30 + '"}},'
        '{name: core_memory_append, arguments: {block: diary, text: "hello"}},'
        "{name: core_memory_append, arguments: {block: human}},"
        '{name: core_memory_replace, arguments: {block: persona, old: "missing words", new: "y"}},'
        "{name: core_memory_set, arguments: {block: persona, value: 42}},"
        '{name: core_memory_replace, arguments: {block: persona, old: "calm", new: "patient"}}'
        "]"
    )
    blocks = """memory:
          core:
            blocks:
              - {label: persona, value: "I am calm.", limit: 40}
              - {label: human, value: "", limit: 20}"""
    async with memory_runtime(agent_yaml(calls, blocks)) as rt:
        out = await rt.execute("ada", "edit your memory")
        errors = [json.loads(r.result).get("error", "") for r in out.tool_calls]
        flags = [r.is_error for r in out.tool_calls]
        assert rt.agent("ada").statistics().status == "idle"
        again = await rt.execute("ada", "still alive?")
    assert flags == [True, True, True, True, True, False]
    assert "over its limit of 20 by 10" in errors[0]
    assert "'block' must be one of 'persona', 'human', got 'diary'" in errors[1]
    assert "missing required argument 'text'" in errors[2]
    assert "text not found in block 'persona'" in errors[3] and "I am calm." in errors[3]
    assert "'value' must be string, got integer" in errors[4]
    assert again.content == "done"
    assert json.loads(out.tool_calls[5].result)["chars"] == len("I am patient.")


async def test_shared_block_edit_is_seen_by_another_agent_on_its_next_turn(
    memory_runtime: Callable[..., Runtime],
) -> None:
    cfg = """
    agents:
      - id: writer
        provider: mock
        options:
          reply: ok
          tool_calls: [{name: core_memory_append, arguments: {block: team, text: "Release freeze starts Monday."}}]
        memory:
          core:
            blocks:
              - {label: team, shared: true, limit: 500, description: Team-wide facts}
              - {label: notes, value: "writer's own notes"}
      - id: reader
        provider: mock
        options: {reply: ok}
        memory:
          core:
            blocks:
              - {label: team, shared: true, limit: 500}
              - {label: notes, value: "reader's own notes"}
    """
    recorder = Recorder()
    async with memory_runtime(cfg, providers={"mock": recorder}) as rt:
        await rt.execute("reader", "first look")
        await rt.execute("writer", "tell the team")
        await rt.execute("reader", "second look")
    before, after = (system_text(r) for r in recorder.turn_requests("reader"))
    assert "### team" not in before  # empty: not shown
    assert "### team\nRelease freeze starts Monday." in after
    # Local blocks stay local, and local blocks come first.
    assert "reader's own notes" in after and "writer's own notes" not in after
    assert after.index("### notes") < after.index("### team")

    recorder = Recorder()
    async with memory_runtime(cfg, providers={"mock": recorder}) as rt:
        await rt.execute("reader", "after a restart")
    assert "### team\nRelease freeze starts Monday." in system_text(recorder.turn_requests("reader")[0])


async def test_agent_without_blocks_has_no_core_memory_tools(memory_runtime: Callable[..., Runtime]) -> None:
    recorder = Recorder()
    yaml = agent_yaml(blocks="memory: {core: {blocks: []}}")
    async with memory_runtime(yaml, providers={"mock": recorder}) as rt:
        await rt.execute("ada", "hello")
    request = recorder.turn_requests()[0]
    assert [t.name for t in request.tools] == ["recall_search"]
    assert "## Core Memory" not in system_text(request)


async def test_memory_tools_can_be_turned_off_for_small_models(memory_runtime: Callable[..., Runtime]) -> None:
    config = """
    agents:
      - id: tiny
        provider: mock
        memory: {tools: false}
    """
    recorder = Recorder()
    async with memory_runtime(config, providers={"mock": recorder}) as rt:
        await rt.execute("tiny", "hello")
    (request,) = recorder.requests
    assert request.tools == ()
    system = system_text(request)
    assert "## Core Memory" not in system  # its blocks are empty: nothing to show
    assert "recall_search" not in system
    assert "core_memory_append" not in system


async def test_the_edit_tools_are_offered_once_a_block_has_content(memory_runtime: Callable[..., Runtime]) -> None:
    recorder = Recorder()
    async with memory_runtime(agent_yaml(APPEND_NAME), providers={"mock": recorder}) as rt:
        await rt.execute("ada", "Hi, I'm Grace.")
    first, follow_up = recorder.turn_requests()
    # Empty blocks: nothing to replace or rewrite, so those schemas cost no tokens.
    assert [t.name for t in first.tools] == ["recall_search", "core_memory_append"]
    assert [t.name for t in follow_up.tools] == [
        "recall_search",
        "core_memory_append",
        "core_memory_replace",
        "core_memory_set",
    ]
