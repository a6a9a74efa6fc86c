"""The thread lease through Runtime: on a shared database a thread's turn runs under the thread's lease.

Two runtimes on one database stand for two nodes (the store says it is shared, as PostgreSQL's does);
the single-node default takes no lease at all.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from axocoatl.config.loader import parse_config_text
from axocoatl.runtime.runtime import Runtime
from axocoatl.store import SQLiteStore

CONFIG = """
agents:
  - id: chat
    provider: mock
    options: {latency_ms: 30, reply: "turn {turn}: {input}"}
"""


class CountingStore(SQLiteStore):
    def __init__(self, path: Path, *, shared: bool) -> None:
        super().__init__(path, synchronous="normal")
        self.shared = shared
        self.leases_taken = 0

    async def take_thread_lease(self, agent_id: str, thread: str, *, token: str, now: float, expires_at: float) -> bool:
        self.leases_taken += 1
        return await super().take_thread_lease(agent_id, thread, token=token, now=now, expires_at=expires_at)


def runtime(tmp_path: Path, name: str, store: SQLiteStore) -> Runtime:
    return Runtime(parse_config_text(CONFIG).config, data_dir=tmp_path / name, store=store)


async def test_the_single_node_default_takes_no_lease(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "axocoatl.db", shared=False)
    async with runtime(tmp_path, "node", store) as rt:
        await asyncio.gather(*(rt.execute("chat", f"m{i}", thread="t") for i in range(3)))
        assert store.leases_taken == 0


async def test_turns_of_one_thread_on_two_runtimes_sharing_a_database_run_in_order(tmp_path: Path) -> None:
    stores = [CountingStore(tmp_path / "axocoatl.db", shared=True) for _ in range(2)]
    async with runtime(tmp_path, "n1", stores[0]) as one, runtime(tmp_path, "n2", stores[1]) as two:
        nodes = [one, two]
        outputs = await asyncio.gather(*(nodes[i % 2].execute("chat", f"m{i}", thread="t") for i in range(8)))
        session = await one.agent("chat").session("t")
    assert sorted(int(o.content.split(":")[0].removeprefix("turn ")) for o in outputs) == list(range(1, 9))
    pairs = [(session.messages[i].content, session.messages[i + 1].content) for i in range(0, 16, 2)]
    assert [answer for _, answer in pairs] == [f"turn {k + 1}: {asked}" for k, (asked, _) in enumerate(pairs)]
    assert sorted(asked for asked, _ in pairs) == sorted(f"m{i}" for i in range(8))
    assert all(s.leases_taken > 0 for s in stores)


async def test_a_lease_left_by_a_dead_node_is_taken_once_it_expired(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "axocoatl.db", shared=True)
    async with runtime(tmp_path, "node", store) as rt:
        now = time.time()
        assert await store.take_thread_lease("chat", "t", token="dead-node", now=now, expires_at=now + 0.3)
        output = await rt.execute("chat", "after the dead node", thread="t")
        assert output.content == "turn 1: after the dead node"
        assert store.leases_taken > 2  # it found the lease held and polled until it expired
        # The turn released its lease: another token takes the thread at once.
        assert await store.take_thread_lease("chat", "t", token="next", now=time.time(), expires_at=time.time() + 30)
