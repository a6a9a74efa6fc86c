"""A node joining the nodes table: a node id in use by a live node is refused, one left by a dead node is taken."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from axocoatl.core.errors import UsageError
from axocoatl.core.ids import SystemClock
from axocoatl.runtime.nodes import NodePresence, cluster_status
from axocoatl.store import NodeRecord, SQLiteStore


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    s = SQLiteStore(tmp_path / "axocoatl.db", synchronous="normal")
    await s.open()
    yield s
    await s.close()


def row(owner: str, beat: float) -> NodeRecord:
    host, pid, _ = owner.split(":")
    return NodeRecord("n1", owner, host, int(pid), "0.0.1", None, "running", beat - 5, beat)


async def test_a_node_id_of_a_live_node_is_refused_and_a_dead_ones_is_taken(store: SQLiteStore) -> None:
    clock = SystemClock()
    now = clock.now()
    me = NodePresence(store, clock, node_id="n1", owner="me:1:aa", version="1.0")
    await store.save_node(row("elsewhere.invalid:7:bb", now - 5))  # another machine, beating
    with pytest.raises(UsageError, match="node id 'n1' is in use by a live node") as refused:
        await me.join()
    assert "--node-id" in (refused.value.hint or "")
    await store.save_node(row("elsewhere.invalid:7:bb", now - 120))  # it stopped beating 2 minutes ago
    await me.join()
    assert (await store.get_node("n1")) == me.record
    dead_here = f"{socket.gethostname()}:999999:cc"  # this host, a pid that does not run
    await store.save_node(row(dead_here, now))
    await me.join()
    await me.drain()
    [status] = (await cluster_status(store, "db", clock.now())).nodes
    assert (status.node.owner, status.health) == ("me:1:aa", "draining")
    await me.leave()
    assert await store.list_nodes() == []


async def test_a_beat_racing_the_leave_does_not_put_the_row_back(store: SQLiteStore) -> None:
    me = NodePresence(store, SystemClock(), node_id="n1", owner="me:1:aa", version="1.0")
    await me.join()
    # The runtime's heartbeat still runs while the daemon leaves: whichever of the two goes first,
    # the node is gone once it left, and later beats save nothing.
    await asyncio.gather(me.beat(), me.leave(), me.beat())
    await me.beat()
    await me.drain()
    assert await store.list_nodes() == []
