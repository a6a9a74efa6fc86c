"""Which process runs which run: owner ids and liveness, to tell running from interrupted."""

from __future__ import annotations

import os
import socket

HEARTBEAT_INTERVAL = 10.0
STALE_AFTER = 60.0  # a run whose owner has not beaten for this long is interrupted


def process_owner() -> str:
    """This process's owner id: ``host:pid:token`` (the token tells a reused pid apart in logs)."""
    return f"{socket.gethostname()}:{os.getpid()}:{os.urandom(3).hex()}"


def owner_alive(owner: str | None, heartbeat_at: float | None, now: float) -> bool:
    """Whether the process that owns a run still runs it."""
    if not owner:
        return False
    fresh = heartbeat_at is not None and now - heartbeat_at < STALE_AFTER
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return fresh
    pid = int(pid_text)
    if not pid_alive(pid):
        return False
    return fresh or pid == os.getpid()


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists and is not a zombie (a killed, unreaped child)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A killed child that its parent has not reaped yet still answers kill(pid, 0).
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            return handle.read().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return True
