"""A connection stops when the runtime does: when its task is cancelled while the transport fails on the
way out, and when its stdio server never answered.

A server's transport whose teardown raises (an HTTP client meeting a dead server while it is being
cancelled) used to replace the CancelledError with its own error: the connection took that for one
more failed attempt, retried forever, and the runtime's close never returned.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from axocoatl.config.schema import MCPServerConfig
from axocoatl.protocols.mcp import client as mcp_client
from axocoatl.protocols.mcp.client import MCPConnection


async def test_a_cancel_is_not_lost_when_the_transport_fails_while_cancelled(monkeypatch: pytest.MonkeyPatch) -> None:
    entered = asyncio.Event()

    @asynccontextmanager
    async def failing_transport(config: MCPServerConfig, errlog: Any) -> AsyncIterator[Any]:
        entered.set()
        try:
            await asyncio.sleep(3600)  # connecting, until cancelled
        except asyncio.CancelledError:
            raise ConnectionResetError("peer closed the connection") from None
        yield None  # never reached

    monkeypatch.setattr(mcp_client, "open_transport", failing_transport)
    connection = MCPConnection(MCPServerConfig(name="s", command="unused"))
    task = asyncio.create_task(connection.run())
    await asyncio.wait_for(entered.wait(), 30)
    task.cancel()
    try:
        done, _ = await asyncio.wait([task], timeout=30)  # a hang guard, not a timing
        assert done, "the connection kept running after its task was cancelled"
        assert task.cancelled()
        assert connection.state.status == "stopped"
    finally:
        # Failed: stop the runaway task so the test ends (a transport that fails at once sends it to its backoff).
        monkeypatch.setattr(mcp_client, "open_transport", refusing_transport)
        while not task.done():
            task.cancel()
            await asyncio.wait([task], timeout=1)


@asynccontextmanager
async def refusing_transport(config: MCPServerConfig, errlog: Any) -> AsyncIterator[Any]:
    raise ConnectionRefusedError("nothing listens")
    yield None  # never reached


@pytest.mark.slow
def test_a_server_that_never_answers_does_not_hold_up_the_cli(tmp_path: Path) -> None:
    # Not a word on stdout, ever (an npx waiting at a prompt): the listing reports it and the command ends.
    silent = {"name": "silent", "command": sys.executable, "args": ["-c", "import time; time.sleep(3600)"]}
    (tmp_path / "axocoatl.yaml").write_text(
        "mcp_servers: " + json.dumps([{**silent, "startup_timeout_secs": 0.5}]) + "\n"
    )
    env = {**os.environ, "NO_COLOR": "1"}
    listed = subprocess.run(
        [sys.executable, "-m", "axocoatl", "mcp", "servers", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,  # a hang guard: it used to wait forever while stopping the server
    )
    assert listed.returncode == 0, listed.stderr
    [row] = json.loads(listed.stdout)
    # Still "starting" when the listing is taken: the SDK gives a server 2 s to exit before it kills it, and the
    # attempt has not ended by then.
    assert row["name"] == "silent" and row["status"] in ("starting", "failed"), row
