"""Where the third-party MCP servers are (scripts/install-mcp-peers.sh puts them there) and small helpers."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import sys
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
NODE_BIN = REPO / "tools" / "mcp" / "node_modules" / ".bin"
SCRIPTED = Path(__file__).resolve().parent / "scripted_server.py"
_INSTALL = "run scripts/install-mcp-peers.sh (scripts/setup.sh does) to install the MCP reference servers"


def peer(name: str) -> str:
    """The path of a reference server's executable; a missing one fails the test (never skips it)."""
    candidates = [NODE_BIN / name, Path(sys.executable).parent / name]
    for path in candidates:
        if path.exists():
            return str(path)
    found = shutil.which(name)
    assert found, f"MCP server '{name}' is not installed: {_INSTALL}"
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def children_matching(text: str) -> list[int]:
    """Pids of this process's direct children whose command line contains ``text``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == os.getpid() and text in cmdline:
            pids.append(int(entry.name))
    return pids


async def until(predicate: Callable[[], bool], what: str, limit: float = 30.0) -> None:
    """Wait until ``predicate()`` holds; fail naming ``what`` after ``limit`` seconds (a hang guard, not a timing)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not predicate():
        assert loop.time() < deadline, f"gave up waiting: {what}"
        await asyncio.sleep(0.05)
