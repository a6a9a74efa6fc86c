"""The tool names config validation knows are exactly the tools an agent is offered at run time."""

from __future__ import annotations

from pathlib import Path

from tests.memory.support import Recorder

from axocoatl.config import parse_config_text
from axocoatl.core.tool_names import BUILTIN_TOOLS, CORE_MEMORY_TOOLS, MEMORY_TOOLS, RECALL_TOOLS
from axocoatl.memory.embedding import HashedEmbedder
from axocoatl.runtime.runtime import Runtime


async def test_every_known_tool_name_is_offered_and_nothing_else(tmp_path: Path) -> None:
    # A block with text, so the core-memory edit tools are offered too (they are hidden while blocks are empty).
    text = (
        f"agents:\n  - id: a\n    provider: mock\n    tools: [{', '.join(BUILTIN_TOOLS)}]\n"
        "    memory: {core: {blocks: [{label: persona, value: 'a careful agent'}]}}\n"
        "web_search: {provider: searxng, url: 'http://127.0.0.1:9'}\n"  # web_search needs a backend
    )
    loaded = parse_config_text(text, env={})
    assert loaded.warnings == []
    recorder = Recorder()
    runtime = Runtime(loaded.config, data_dir=tmp_path, providers={"mock": recorder}, embedder=HashedEmbedder())
    async with runtime as rt:
        await rt.execute("a", "hello")
    [request] = recorder.turn_requests()
    assert sorted(t.name for t in request.tools) == sorted(BUILTIN_TOOLS + MEMORY_TOOLS)
    assert MEMORY_TOOLS == RECALL_TOOLS + CORE_MEMORY_TOOLS
