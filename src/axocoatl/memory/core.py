"""Tier 3: core memory — named, character-limited blocks the agent edits and always sees.

Local blocks belong to one agent. A ``shared: true`` block is one team memory: every
agent that declares its label holds the same CoreBlock object (from SharedBlocks, owned
by the Runtime), so an edit by one agent is in the next request of every other.
An edit is applied in memory at once and its row joins the turn's transaction (``stage``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from axocoatl.config.schema import CoreBlockConfig
from axocoatl.core.errors import ToolError
from axocoatl.core.ids import Clock
from axocoatl.store import SHARED_SCOPE, CoreBlockRecord, Store, WriteBatch


@dataclass
class CoreBlock:
    label: str
    value: str
    limit: int  # characters; 0 = unlimited
    description: str | None
    scope: str  # owning agent id, or SHARED_SCOPE

    @property
    def shared(self) -> bool:
        return self.scope == SHARED_SCOPE

    def render(self) -> str:
        return f"### {self.label}\n{self.value}" if self.value else ""

    def record(self, now: float) -> CoreBlockRecord:
        return CoreBlockRecord(self.scope, self.label, self.value, self.limit, self.description, now)

    def check_limit(self, value: str, what: str) -> None:
        if self.limit and len(value) > self.limit:
            over = len(value) - self.limit
            raise ToolError(
                f"{what} would make block '{self.label}' {len(value)} characters, over its limit of "
                f"{self.limit} by {over}; shorten the text, or use core_memory_replace / core_memory_set "
                "to tighten what the block already holds"
            )


def _block_from(spec: CoreBlockConfig, scope: str, stored: CoreBlockRecord | None) -> CoreBlock:
    # The stored value wins (the agent edited it); limit and description follow the config.
    value = stored.value if stored is not None else spec.value
    return CoreBlock(spec.label, value, spec.limit, spec.description, scope)


class SharedBlocks:
    """The team blocks of one runtime, one object per label.

    The first agent in the config declaring a label sets its limit, description and
    initial value (agents declare in config order when the Runtime builds them).
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._specs: dict[str, CoreBlockConfig] = {}
        self._blocks: dict[str, CoreBlock] = {}
        self._lock = asyncio.Lock()

    def declare(self, specs: Iterable[CoreBlockConfig]) -> None:
        for spec in specs:
            if spec.shared:
                self._specs.setdefault(spec.label, spec)

    async def get(self, specs: Sequence[CoreBlockConfig]) -> list[CoreBlock]:
        wanted = [s.label for s in specs if s.shared]
        self.declare(s for s in specs if s.shared)
        missing = [label for label in wanted if label not in self._blocks]
        if missing:
            async with self._lock:
                missing = [label for label in missing if label not in self._blocks]
                if missing:
                    stored = {r.label: r for r in await self._store.load_core_blocks([SHARED_SCOPE])}
                    for label in missing:
                        spec = self._specs[label]
                        self._blocks[label] = _block_from(spec, SHARED_SCOPE, stored.get(label))
        return [self._blocks[label] for label in wanted]


class CoreMemory:
    """One agent's blocks (local first, then shared) and the three edit operations."""

    def __init__(self, agent_id: str, blocks: list[CoreBlock], store: Store, clock: Clock) -> None:
        self.agent_id = agent_id
        self._blocks = {b.label: b for b in blocks}
        self._store = store
        self._clock = clock
        self._rendered: tuple[tuple[str, ...], str] | None = None

    @classmethod
    async def load(
        cls, agent_id: str, specs: list[CoreBlockConfig], shared: SharedBlocks, store: Store, clock: Clock
    ) -> CoreMemory:
        local_specs = [s for s in specs if not s.shared]
        stored = {r.label: r for r in await store.load_core_blocks([agent_id])} if local_specs else {}
        blocks = [_block_from(s, agent_id, stored.get(s.label)) for s in local_specs]
        blocks.extend(await shared.get(specs))
        return cls(agent_id, blocks, store, clock)

    @property
    def blocks(self) -> list[CoreBlock]:
        return list(self._blocks.values())

    def labels(self) -> list[str]:
        return list(self._blocks)

    def block(self, label: object) -> CoreBlock:
        if not isinstance(label, str) or not label.strip():
            raise ToolError(f"'block' must be the label of one of your blocks: {', '.join(self._blocks)}")
        block = self._blocks.get(label.strip())
        if block is None:
            raise ToolError(f"unknown block '{label}'; your blocks are: {', '.join(self._blocks) or '(none)'}")
        return block

    def render(self) -> str:
        """The '## Core Memory' section; re-rendered only when a value changed (shared edits included).

        Empty blocks are not shown (the core-memory tools name every label): an agent whose blocks
        are all empty pays no prompt tokens for them.
        """
        if not self._blocks:
            return ""
        key = tuple(b.value for b in self._blocks.values())
        if self._rendered is None or self._rendered[0] != key:
            body = "\n\n".join(r for r in (b.render() for b in self._blocks.values()) if r)
            self._rendered = (key, f"## Core Memory\n{body}" if body else "")
        return self._rendered[1]

    # ------------------------------------------------------------------ edits

    def plan_append(self, label: object, text: object) -> tuple[CoreBlock, str]:
        block = self.block(label)
        text = _required_text(text, "text", "core_memory_append")
        value = f"{block.value}\n{text}" if block.value else text
        block.check_limit(value, "appending this")
        return block, value

    def plan_replace(self, label: object, old: object, new: object) -> tuple[CoreBlock, str]:
        block = self.block(label)
        old = _required_text(old, "old", "core_memory_replace")
        if new is None:
            new = ""
        if not isinstance(new, str):
            raise ToolError("core_memory_replace: 'new' must be a string (it may be empty to delete 'old')")
        if old not in block.value:
            current = block.value if len(block.value) <= 300 else block.value[:300] + "…"
            raise ToolError(
                f"text not found in block '{block.label}': {old!r}; copy the exact text to replace from the "
                f"block, which currently reads: {current!r}"
            )
        value = block.value.replace(old, new, 1)
        block.check_limit(value, "this replacement")
        return block, value

    def plan_set(self, label: object, value: object) -> tuple[CoreBlock, str]:
        block = self.block(label)
        if not isinstance(value, str):
            raise ToolError("core_memory_set: 'value' must be a string (the whole new content of the block)")
        block.check_limit(value, "this value")
        return block, value

    def stage(
        self, block: CoreBlock, value: str, writes: WriteBatch, undo: list[Callable[[], None]]
    ) -> dict[str, object]:
        """Apply a planned edit in memory at once (later requests see it); its row goes into ``writes``,
        which commit with the turn, and ``undo`` reverts it if the turn is abandoned."""
        before = block.value
        block.value = value

        def revert() -> None:
            if block.value == value:  # unless another turn edited it since
                block.value = before

        undo.append(revert)
        writes.core_blocks.append(block.record(self._clock.now()))
        return {"ok": True, "block": block.label, "chars": len(value), "limit": block.limit or None}


def _required_text(value: object, name: str, tool: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ToolError(f"{tool} needs a non-empty '{name}' string")
    return value
