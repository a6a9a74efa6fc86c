"""Reading an agent's conversation threads in tests."""

from __future__ import annotations

from axocoatl.core.messages import ChatMessage
from axocoatl.store import Store


async def thread_messages(store: Store, agent_id: str, thread: str = "main") -> tuple[list[ChatMessage], int]:
    """The thread's messages since its last reset, and its next seq."""
    record = await store.load_session(agent_id, thread)
    return record.messages, record.next_seq
