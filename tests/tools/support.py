"""Calling tools the way a turn does: through a ToolPipeline, in a workspace."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from axocoatl.config.schema import ToolsConfig, WebSearchConfig
from axocoatl.core.messages import ToolCall, ToolCallRecord
from axocoatl.tools.builtins import BUILTIN_TOOLS
from axocoatl.tools.pipeline import ToolPipeline, ToolServices
from axocoatl.tools.registry import Tool, ToolRegistry
from axocoatl.tools.workspace import Workspace


def pipeline(
    root: Path,
    allowed: list[str] | None = None,
    *,
    extra: Sequence[Tool] = (),
    settings: ToolsConfig | None = None,
    web_search: WebSearchConfig | None = None,
    services: ToolServices | None = None,
) -> ToolPipeline:
    registry = ToolRegistry([*BUILTIN_TOOLS, *extra])
    names = registry.names() if allowed is None else allowed
    services = services or ToolServices(settings=settings or ToolsConfig(), web_search=web_search)
    env = services.environment("tester", Workspace(root))
    return ToolPipeline(registry.view("tester", names), env)


async def call(tools: ToolPipeline, name: str, **arguments: Any) -> ToolCallRecord:
    [record] = await tools.run_round(0, [ToolCall("c1", name, arguments)])
    return record


async def ok(tools: ToolPipeline, name: str, **arguments: Any) -> Any:
    record = await call(tools, name, **arguments)
    assert not record.is_error, record.result
    try:
        return json.loads(record.result)
    except json.JSONDecodeError:
        return record.result


async def error(tools: ToolPipeline, name: str, **arguments: Any) -> str:
    record = await call(tools, name, **arguments)
    assert record.is_error, record.result
    message: str = json.loads(record.result)["error"]
    return message
