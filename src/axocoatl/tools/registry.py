"""Tools: what a tool is, the registry of them (fed by sources), and an agent's allow-listed view.

A source is anything that yields tools: the built-ins, the project's Python tools, an
agent's memory tools (agent-owned, added to its view), MCP servers (whose tools come and go:
``replace_source``). The registry refuses two tools with one name, whichever sources they come
from. An allow-list entry is a name or a glob (``mcp__fs__*``).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from axocoatl.core.messages import ToolSpec

if TYPE_CHECKING:
    from axocoatl.tools.context import ToolContext

# read: no effect outside the call (may run concurrently, re-run after a crash);
# write: changes the workspace or the agent's state; external: acts beyond the machine (network).
Effect = Literal["read", "write", "external"]
EFFECTS: tuple[Effect, ...] = ("read", "write", "external")
ToolHandler = Callable[[dict[str, Any], "ToolContext"], Awaitable[Any]]


@dataclass(frozen=True)
class Tool:
    """A callable tool. The handler returns any JSON-serialisable value or raises ToolError.

    ``timeout_secs`` None: the configured default (tools.timeout_secs). ``transactional``: the tool's
    only effect is on ``ToolContext.writes``, which commit with the turn; a resumed turn runs it again
    rather than replaying it (its first run's writes never committed). ``source`` names where it comes
    from (builtin, python, memory…): approval settings and decisions saved by scope refer to it.
    """

    name: str
    description: str
    parameters: dict[str, Any]
    handler: ToolHandler
    effect: Effect = "read"
    timeout_secs: float | None = None
    transactional: bool = False
    source: str = "builtin"
    requires_approval: bool = False  # every call waits for a person's decision (tools/approval.py)
    parks: bool = False  # a call may park the workflow step (ask_human): its round runs one call at a time
    # None: always offered. Else the tool is described to the model only while this returns True (its
    # schema costs tokens on every call); it stays callable either way.
    offered: Callable[[], bool] | None = None

    @property
    def spec(self) -> ToolSpec:
        return ToolSpec(self.name, self.description, self.parameters)


class ToolRegistry:
    """Every tool the runtime knows, by name, from every source."""

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        self.add_source(tools)

    def add_source(self, tools: Iterable[Tool]) -> None:
        for tool in tools:
            self.register(tool)

    def register(self, tool: Tool) -> None:
        if tool.effect not in EFFECTS:
            raise ValueError(f"tool {tool.name!r}: effect must be one of {', '.join(EFFECTS)}, not {tool.effect!r}")
        if tool.name in self._tools:
            other = self._tools[tool.name].source
            raise ValueError(f"tool {tool.name!r} is registered twice (by {other} and by {tool.source})")
        self._tools[tool.name] = tool

    def replace_source(self, source: str, tools: Iterable[Tool]) -> list[str]:
        """Make ``tools`` all that ``source`` offers (a server relisted its tools); returns the names
        refused because another source already has them."""
        self._tools = {name: tool for name, tool in self._tools.items() if tool.source != source}
        refused: list[str] = []
        for tool in tools:
            if tool.name in self._tools:
                refused.append(tool.name)
            else:
                self.register(tool)
        return refused

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
            elif any(c in name for c in "*?["):
                chosen.update((n, t) for n, t in self._tools.items() if fnmatch.fnmatchcase(n, name))
        if extra:
            chosen.update(extra)
        return AgentToolbox(agent_id, chosen)


class AgentToolbox:
    """The tools one agent may call."""

    def __init__(self, agent_id: str, tools: Mapping[str, Tool]) -> None:
        self.agent_id = agent_id
        self._tools = dict(tools)

    def specs(self) -> tuple[ToolSpec, ...]:
        """The schemas to send with the next request: the tools offered right now."""
        return tuple(tool.spec for tool in self._tools.values() if tool.offered is None or tool.offered())

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __bool__(self) -> bool:
        return bool(self._tools)
