"""Tools: what a tool is, the registry of them, and an agent's allow-listed view."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from axocoatl.core.errors import ToolError, ToolNotAllowed
from axocoatl.core.messages import ToolSpec

ToolHandler = Callable[[dict[str, Any]], Awaitable[Any]]


@dataclass(frozen=True)
class Tool:
    """A callable tool. The handler returns any JSON-serialisable value or raises ToolError."""

    name: str
    description: str
    parameters: dict[str, Any]
    handler: ToolHandler

    @property
    def spec(self) -> ToolSpec:
        return ToolSpec(self.name, self.description, self.parameters)


class ToolRegistry:
    """Every tool the runtime knows, by name."""

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools:
            self.register(tool)

    def register(self, tool: Tool) -> None:
        if tool.name in self._tools:
            raise ValueError(f"tool {tool.name!r} is registered twice")
        self._tools[tool.name] = tool

    def names(self) -> list[str]:
        return list(self._tools)

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def view(self, agent_id: str, allowed: Iterable[str], extra: Mapping[str, Tool] | None = None) -> AgentToolbox:
        """The tools ``agent_id`` may call: its allow-list, plus agent-owned tools (memory)."""
        chosen: dict[str, Tool] = {}
        for name in allowed:
            tool = self._tools.get(name)
            if tool is not None:
                chosen[name] = tool
        if extra:
            chosen.update(extra)
        return AgentToolbox(agent_id, chosen)


class AgentToolbox:
    """The tools one agent may call; calls to anything else are refused as tool errors."""

    def __init__(self, agent_id: str, tools: Mapping[str, Tool]) -> None:
        self.agent_id = agent_id
        self._tools = dict(tools)

    def specs(self) -> tuple[ToolSpec, ...]:
        return tuple(tool.spec for tool in self._tools.values())

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __bool__(self) -> bool:
        return bool(self._tools)

    async def call(self, name: str, arguments: dict[str, Any]) -> str:
        """Run a tool and return its result as text; raises ToolError on any failure."""
        tool = self._tools.get(name)
        if tool is None:
            raise ToolNotAllowed(
                f"tool '{name}' is not available to agent '{self.agent_id}'",
                hint=f"add it to agents[{self.agent_id}].tools" if name else "the model sent a call without a name",
            )
        try:
            result = await tool.handler(arguments)
        except ToolError:
            raise
        except Exception as exc:  # a tool's own bug must not crash the agent: the model sees it
            raise ToolError(f"tool '{name}' failed: {type(exc).__name__}: {exc}") from exc
        if isinstance(result, str):
            return result
        return json.dumps(result, ensure_ascii=False, default=str)
