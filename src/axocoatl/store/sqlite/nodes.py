"""Nodes: the daemons that share a database, each one row it keeps fresh while it runs."""

from __future__ import annotations

import sqlite3
from typing import Any

from axocoatl.store.records import NodeRecord

_COLUMNS = "node_id, owner, host, pid, version, url, state, started_at, heartbeat_at"


def save(db: sqlite3.Connection, node: NodeRecord) -> None:
    """Write a node's row whole (a beat rewrites it, so a row lost with a reset database comes back)."""
    db.execute(
        f"INSERT OR REPLACE INTO nodes ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            node.node_id,
            node.owner,
            node.host,
            node.pid,
            node.version,
            node.url,
            node.state,
            node.started_at,
            node.heartbeat_at,
        ),
    )


def remove(db: sqlite3.Connection, node_id: str, owner: str) -> None:
    """Drop a node's row, but only its own (a node restarted under the same id may have replaced it)."""
    db.execute("DELETE FROM nodes WHERE node_id = ? AND owner = ?", (node_id, owner))


def forget(db: sqlite3.Connection, before: float) -> None:
    """Drop the rows of nodes that have not beaten since ``before`` (they died long ago)."""
    db.execute("DELETE FROM nodes WHERE heartbeat_at < ?", (before,))


def get(db: sqlite3.Connection, node_id: str) -> NodeRecord | None:
    row = db.execute(f"SELECT {_COLUMNS} FROM nodes WHERE node_id = ?", (node_id,)).fetchone()
    return None if row is None else _node(row)


def listing(db: sqlite3.Connection) -> list[NodeRecord]:
    return [_node(row) for row in db.execute(f"SELECT {_COLUMNS} FROM nodes ORDER BY node_id")]


def run_claims(db: sqlite3.Connection) -> dict[str, int]:
    """How many running runs each owner holds."""
    rows = db.execute(
        "SELECT owner, COUNT(*) FROM runs WHERE status = 'running' AND owner IS NOT NULL GROUP BY owner"
    ).fetchall()
    return {str(owner): int(count) for owner, count in rows}


def step_claims(db: sqlite3.Connection) -> dict[str, int]:
    """How many steps each node holds (claimed over the work queue, result not committed yet)."""
    rows = db.execute("SELECT node, COUNT(*) FROM step_claims WHERE result IS NULL GROUP BY node").fetchall()
    return {str(node): int(count) for node, count in rows}


def _node(row: tuple[Any, ...]) -> NodeRecord:
    return NodeRecord(
        node_id=str(row[0]),
        owner=str(row[1]),
        host=str(row[2]),
        pid=int(row[3]),
        version=str(row[4]),
        url=row[5],
        state=row[6],
        started_at=float(row[7]),
        heartbeat_at=float(row[8]),
    )
