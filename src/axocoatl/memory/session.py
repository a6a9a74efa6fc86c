"""Tier 1: one conversation thread of an agent, loaded from the store and appended turn by turn.

An agent has any number of named threads (chat and ``execute`` conversations, and the thread
an agent's workflow steps share when it opts in with ``thread:``). A workflow step without a
thread has no session at all: its context is built afresh from long-term memory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from axocoatl.core.messages import ChatMessage
from axocoatl.store import ThreadRecord, ThreadState

DEFAULT_THREAD = "main"


@dataclass
class Compaction:
    """Messages with seq < ``through_seq`` are represented by ``summary`` in requests."""

    summary: str = ""
    through_seq: int = 0
    archived_through: int = 0  # raw messages below this seq are already in the daily log


class Session:
    """The messages of one thread since its last reset, and its compaction state.

    Only committed messages live here: a turn's messages are added after its
    transaction committed, so memory and database never disagree.
    """

    def __init__(
        self,
        agent_id: str,
        messages: Sequence[ChatMessage] = (),
        next_seq: int = 0,
        *,
        thread: str = DEFAULT_THREAD,
        compaction: Compaction | None = None,
    ) -> None:
        self.agent_id = agent_id
        self.thread = thread
        self.messages: list[ChatMessage] = list(messages)
        self.next_seq = next_seq
        self.compaction = compaction or Compaction()

    @classmethod
    def from_record(cls, record: ThreadRecord) -> Session:
        state = record.state
        compaction = Compaction(state.summary, state.through_seq, state.archived_through)
        return cls(record.agent_id, record.messages, record.next_seq, thread=record.thread, compaction=compaction)

    def state_row(self) -> ThreadState:
        c = self.compaction
        return ThreadState(self.agent_id, self.thread, c.summary, c.through_seq, c.archived_through)

    def __len__(self) -> int:
        return len(self.messages)

    def extend(self, messages: Sequence[ChatMessage], first_seq: int | None = None) -> None:
        if first_seq is not None and first_seq != self.next_seq:
            # Another process appended to this thread meanwhile: the caller reloads before its next turn.
            self.stale = True
        self.messages.extend(messages)
        self.next_seq += len(messages)

    stale = False

    def reset(self) -> None:
        self.messages.clear()
        self.compaction = Compaction()

    @property
    def first_seq(self) -> int:
        """Sequence number of ``messages[0]`` (messages are numbered contiguously)."""
        return self.next_seq - len(self.messages)

    def since(self, seq: int) -> list[ChatMessage]:
        """The messages numbered ``seq`` or later."""
        return self.messages[max(0, seq - self.first_seq) :]

    def window(self, max_messages: int) -> list[ChatMessage]:
        """The most recent messages, at most ``max_messages``, starting at a user turn."""
        return window_of(self.messages, max_messages)


def window_of(messages: Sequence[ChatMessage], max_messages: int) -> list[ChatMessage]:
    """The last ``max_messages`` of ``messages``, starting at a user turn.

    Starting at a user message keeps tool results from losing the assistant
    message that asked for them.
    """
    if len(messages) <= max_messages:
        return list(messages)
    recent = messages[-max_messages:]
    for index, message in enumerate(recent):
        if message.role == "user":
            return list(recent[index:])
    return []
