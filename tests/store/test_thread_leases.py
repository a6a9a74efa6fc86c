"""Thread leases (shared databases) on SQLite and PostgreSQL alike: a token holds a thread until it releases
the lease or lets it expire; another token is refused meanwhile, and only the holder can release it."""

from __future__ import annotations

import pytest

from axocoatl.core.errors import OwnershipLost
from axocoatl.core.messages import ChatMessage
from axocoatl.store import SessionAppend, SQLiteStore, WriteBatch


async def test_a_held_lease_refuses_another_token_until_it_expires(store: SQLiteStore) -> None:
    assert await store.take_thread_lease("a", "chat", token="t1", now=10.0, expires_at=40.0)
    assert not await store.take_thread_lease("a", "chat", token="t2", now=11.0, expires_at=41.0)
    assert await store.take_thread_lease("a", "chat", token="t1", now=30.0, expires_at=60.0)  # renewed
    assert not await store.take_thread_lease("a", "chat", token="t2", now=45.0, expires_at=75.0)  # 60 > 45
    # t1 stops renewing: once its lease expired, t2 takes the thread.
    assert await store.take_thread_lease("a", "chat", token="t2", now=60.0, expires_at=90.0)
    assert not await store.take_thread_lease("a", "chat", token="t1", now=61.0, expires_at=91.0)  # t1 lost it


async def test_leases_of_other_threads_and_agents_are_independent(store: SQLiteStore) -> None:
    assert await store.take_thread_lease("a", "chat", token="t1", now=10.0, expires_at=40.0)
    assert await store.take_thread_lease("a", "other", token="t2", now=10.0, expires_at=40.0)
    assert await store.take_thread_lease("b", "chat", token="t3", now=10.0, expires_at=40.0)


async def test_only_the_holder_releases_a_lease(store: SQLiteStore) -> None:
    assert await store.take_thread_lease("a", "chat", token="t1", now=10.0, expires_at=40.0)
    await store.release_thread_lease("a", "chat", token="t2")  # not its lease: nothing changes
    assert not await store.take_thread_lease("a", "chat", token="t2", now=11.0, expires_at=41.0)
    await store.release_thread_lease("a", "chat", token="t1")
    assert await store.take_thread_lease("a", "chat", token="t2", now=12.0, expires_at=42.0)
    await store.release_thread_lease("a", "chat", token="t1")  # t1's lease is gone: t2's stays
    assert not await store.take_thread_lease("a", "chat", token="t3", now=13.0, expires_at=43.0)


async def test_an_append_under_a_lost_lease_is_refused_whole(store: SQLiteStore) -> None:
    assert await store.take_thread_lease("a", "chat", token="t1", now=10.0, expires_at=40.0)
    assert await store.take_thread_lease("a", "chat", token="t2", now=50.0, expires_at=80.0)  # t1's expired
    late = WriteBatch(
        session=[SessionAppend("a", "chat", (ChatMessage.user("late"),), 51.0, lease="t1")],
    )
    with pytest.raises(OwnershipLost) as caught:
        await store.write(late)
    assert "no longer leased to this node" in caught.value.message
    assert (await store.load_session("a", "chat")).messages == []
    await store.write(
        WriteBatch(session=[SessionAppend("a", "chat", (ChatMessage.user("on time"),), 52.0, lease="t2")])
    )
    assert [m.content for m in (await store.load_session("a", "chat")).messages] == ["on time"]
