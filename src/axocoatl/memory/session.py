"""Tier 1: an agent's conversation, loaded from the store and appended turn by turn."""

from __future__ import annotations

from collections.abc import Sequence

from axocoatl.core.messages import ChatMessage


class Session:
    """The messages of one agent's conversation since its last reset.

    Only committed messages live here: a turn's messages are added after its
    transaction committed, so memory and database never disagree.
    """

    def __init__(self, agent_id: str, messages: Sequence[ChatMessage] = (), next_seq: int = 0) -> None:
        self.agent_id = agent_id
        self.messages: list[ChatMessage] = list(messages)
        self.next_seq = next_seq

    def __len__(self) -> int:
        return len(self.messages)

    def extend(self, messages: Sequence[ChatMessage]) -> None:
        self.messages.extend(messages)
        self.next_seq += len(messages)

    def reset(self) -> None:
        self.messages.clear()

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
