"""Tier 2a: an agent's checkpoint — its small durable state beyond the raw session messages.

Session messages and each thread's compaction state are rows of their own, so a
checkpoint holds only the agent-wide counters: cumulative usage and turn count, the
last activity and the consolidation clock. Its size never grows, and it is written in
the same transaction as the turn it follows. Only the newest ``keep`` versions are kept;
the store numbers each version inside its transaction.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from axocoatl.core.messages import TokenUsage
from axocoatl.store import CheckpointWrite

log = logging.getLogger(__name__)

FORMAT = 2
# Format 1 also held the one session's compaction state and the next memory seq: the first now
# lives in the threads table (migrated there), the second is numbered by the store.
_FORMAT_1_ONLY = ("compaction", "memory_seq")


@dataclass
class AgentState:
    version: int = 0
    turns: int = 0
    usage_in: int = 0
    usage_out: int = 0
    last_active: float | None = None
    last_consolidated: float | None = None
    consolidated_through: float = 0.0  # newest daily-log timestamp a consolidation pass has read

    @property
    def usage(self) -> TokenUsage:
        return TokenUsage(self.usage_in, self.usage_out)

    def to_json(self) -> str:
        # vars() instead of asdict(): asdict deep-copies every field, once per turn.
        data: dict[str, Any] = {"format": FORMAT, **vars(self)}
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> AgentState:
        data: dict[str, Any] = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("unknown checkpoint format")
        version = data.pop("format", None)
        if version == 1:
            for key in _FORMAT_1_ONLY:
                data.pop(key, None)
        elif version != FORMAT:
            raise ValueError("unknown checkpoint format")
        state = cls(**data)
        if not isinstance(state.version, int) or not isinstance(state.turns, int):
            raise ValueError("checkpoint fields have the wrong types")
        return state

    def write(self, agent_id: str, now: float, keep: int) -> CheckpointWrite:
        """The row to write (in the caller's transaction); the store gives it the next version."""
        return CheckpointWrite(agent_id, self.to_json(), now, keep)


def restore(agent_id: str, rows: list[tuple[int, str]]) -> AgentState:
    """The newest readable checkpoint; unreadable ones are skipped with a warning, never fatal."""
    # New checkpoints are numbered above every stored row, discarded ones included.
    newest = rows[0][0] if rows else 0
    for version, text in rows:
        try:
            state = AgentState.from_json(text)
        except (ValueError, TypeError) as exc:
            log.warning("agent %s: discarding unreadable checkpoint version %d (%s)", agent_id, version, exc)
            continue
        state.version = max(state.version, newest)
        return state
    return AgentState(version=newest)
