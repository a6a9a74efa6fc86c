"""Tier 2a: an agent's checkpoint — its small durable state beyond the raw session messages.

The session messages are already rows (written once each), so a checkpoint holds only
what is not derivable from them: the compaction summary and the window pointer,
cumulative usage and turn count, and the consolidation clock. Its size does not grow
with the conversation (the summary is bounded), and it is written in the same
transaction as the turn it follows. Only the newest ``keep`` versions are kept.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

from axocoatl.core.messages import TokenUsage
from axocoatl.store import CheckpointWrite

log = logging.getLogger(__name__)

FORMAT = 1


@dataclass
class Compaction:
    """Messages with seq < ``through_seq`` are represented by ``summary`` in requests."""

    summary: str = ""
    through_seq: int = 0
    archived_through: int = 0  # raw messages below this seq are already in the daily log


@dataclass
class AgentState:
    version: int = 0
    turns: int = 0
    usage_in: int = 0
    usage_out: int = 0
    last_active: float | None = None
    last_consolidated: float | None = None
    consolidated_through: float = 0.0  # newest daily-log timestamp a consolidation pass has read
    memory_seq: int = 0  # next semantic-memory sequence number
    compaction: Compaction = field(default_factory=Compaction)

    @property
    def usage(self) -> TokenUsage:
        return TokenUsage(self.usage_in, self.usage_out)

    def to_json(self) -> str:
        # vars() instead of asdict(): asdict deep-copies every field, once per turn.
        data: dict[str, Any] = {"format": FORMAT, **vars(self), "compaction": vars(self.compaction)}
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> AgentState:
        data: dict[str, Any] = json.loads(text)
        if not isinstance(data, dict) or data.pop("format", None) != FORMAT:
            raise ValueError("unknown checkpoint format")
        compaction = Compaction(**data.pop("compaction", {}))
        state = cls(**data, compaction=compaction)
        if not isinstance(state.version, int) or not isinstance(state.turns, int):
            raise ValueError("checkpoint fields have the wrong types")
        return state

    def next_write(self, agent_id: str, now: float, keep: int) -> CheckpointWrite:
        """Advance the version and return the row to write (in the caller's transaction)."""
        self.version += 1
        return CheckpointWrite(agent_id, self.version, self.to_json(), now, keep)


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
