"""The nodes of a cluster: a daemon's row in the shared database (join, beat, drain, leave), and what
`axocoatl cluster status` reads back (each node's state, heartbeat age and the runs it holds)."""

from __future__ import annotations

import asyncio
import os
import socket
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from axocoatl.config.schema import ClusterConfig
from axocoatl.core.errors import ClusterError, UsageError
from axocoatl.core.ids import Clock, iso
from axocoatl.runtime.cluster import NatsConnection, QueueStatus, WorkQueue
from axocoatl.runtime.ownership import STALE_AFTER, owner_alive
from axocoatl.store import NodeRecord, NodeState, Store

FORGET_AFTER = 24 * 3600.0  # a node that has not beaten for a day is dropped from the table by the next to join

NodeHealth = Literal["live", "stale", "draining"]


class NodePresence:
    """This daemon's row in the nodes table, kept fresh by the runtime's heartbeat."""

    def __init__(
        self, store: Store, clock: Clock, *, node_id: str, owner: str, version: str, url: str | None = None
    ) -> None:
        self.store = store
        self.clock = clock
        now = clock.now()
        self.record = NodeRecord(
            node_id=node_id,
            owner=owner,
            host=socket.gethostname(),
            pid=os.getpid(),
            version=version,
            url=url,
            state="running",
            started_at=now,
            heartbeat_at=now,
        )
        # The runtime's heartbeat may still beat while the daemon leaves: a beat after the row's removal
        # would put it back (a node listed for a day after a clean exit). One lock orders them; after
        # leaving, nothing is saved again.
        self._lock = asyncio.Lock()
        self._left = False

    async def join(self) -> None:
        """Register; refused (UsageError) when a live node already uses this node id."""
        now = self.clock.now()
        other = await self.store.get_node(self.record.node_id)
        if other is not None and not self._is_us(other) and owner_alive(other.owner, other.heartbeat_at, now):
            raise UsageError(
                f"node id '{other.node_id}' is in use by a live node ({other.owner}, "
                f"last beat {now - other.heartbeat_at:.0f} s ago)",
                hint="give each node its own node id (--node-id or cluster.node_id)",
            )
        await self.store.forget_nodes(before=now - FORGET_AFTER)
        await self._save(state="running")

    def _is_us(self, other: NodeRecord) -> bool:
        # This process, or a dead node whose pid this process happens to reuse on the same host.
        me = self.record
        return other.owner == me.owner or (other.host, other.pid) == (me.host, me.pid)

    async def beat(self) -> None:
        await self._save(state=self.record.state)

    async def drain(self) -> None:
        """Say this node takes no more work (SIGTERM); it stays listed until it leaves."""
        await self._save(state="draining")

    async def leave(self) -> None:
        """A clean exit: the row goes (the runs it still holds are adopted as after a crash)."""
        async with self._lock:
            self._left = True
            await self.store.remove_node(self.record.node_id, owner=self.record.owner)

    async def _save(self, *, state: NodeState) -> None:
        async with self._lock:
            if self._left:
                return
            self.record = replace(self.record, state=state, heartbeat_at=self.clock.now())
            await self.store.save_node(self.record)


def node_health(node: NodeRecord, now: float) -> NodeHealth:
    """Stale once its heartbeat is as old as the point where other nodes adopt its runs."""
    if now - node.heartbeat_at >= STALE_AFTER:
        return "stale"
    return "draining" if node.state == "draining" else "live"


@dataclass(frozen=True)
class NodeStatus:
    node: NodeRecord
    health: NodeHealth
    heartbeat_age: float
    runs: int  # running runs it owns
    steps: int = 0  # steps it claimed over the work queue (cluster.nats) and runs now

    def to_json(self) -> dict[str, Any]:
        n = self.node
        return {
            "node_id": n.node_id,
            "state": self.health,
            "heartbeat_age_secs": round(self.heartbeat_age, 1),
            "heartbeat_at": iso(n.heartbeat_at),
            "started_at": iso(n.started_at),
            "version": n.version,
            "host": n.host,
            "pid": n.pid,
            "url": n.url,
            "owner": n.owner,
            "runs": self.runs,
            "steps": self.steps,
        }


@dataclass(frozen=True)
class NatsStatus:
    """The NATS side of a cluster: the servers, the one answering, and the work stream (or why not)."""

    servers: list[str]
    url: str | None = None
    queue: QueueStatus | None = None
    error: str | None = None
    hint: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "servers": self.servers,
            "url": self.url,
            "stream": self.queue.to_json() if self.queue is not None else None,
            "error": self.error,
            "hint": self.hint,
        }


@dataclass(frozen=True)
class ClusterStatus:
    store: str
    nodes: list[NodeStatus]
    # Running runs whose owner is no registered node: a CLI process running one in-process, or a node
    # whose row is gone (it left or was forgotten) — a stale one is adopted by the live nodes.
    other_owners: dict[str, int] = field(default_factory=dict)
    nats: NatsStatus | None = None  # None: no cluster.nats (a single node, or nodes on PostgreSQL alone)

    def to_json(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "nodes": [n.to_json() for n in self.nodes],
            "other_owners": dict(sorted(self.other_owners.items())),
            "nats": self.nats.to_json() if self.nats is not None else None,
        }


async def nats_status(settings: ClusterConfig) -> NatsStatus:
    """Connect to ``settings.nats`` as a client of its own and read the work stream's state."""
    connection = NatsConnection(settings, name="axocoatl cluster status")
    try:
        await connection.connect()
        queue = await WorkQueue(connection, settings).status()
        return NatsStatus(servers=connection.servers(), url=connection.url, queue=queue)
    except ClusterError as exc:
        return NatsStatus(servers=connection.servers(), url=connection.url, error=exc.message, hint=exc.hint)
    finally:
        await connection.close()


async def cluster_status(store: Store, where: str, now: float) -> ClusterStatus:
    """The nodes of the store's database and the runs each holds."""
    claims = await store.run_claims()
    steps = await store.step_claims()
    nodes = await store.list_nodes()
    statuses = [
        NodeStatus(
            node=n,
            health=node_health(n, now),
            heartbeat_age=max(0.0, now - n.heartbeat_at),
            runs=claims.get(n.owner, 0),
            steps=steps.get(n.node_id, 0),
        )
        for n in nodes
    ]
    owners = {n.owner for n in nodes}
    return ClusterStatus(
        store=where,
        nodes=statuses,
        other_owners={owner: count for owner, count in claims.items() if owner not in owners},
    )
