"""HTTP keep-alive of the daemon: an idle connection outlives the usual client pool expiry."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
from tests.server.support import running_daemon

pytestmark = pytest.mark.slow

# Longer than uvicorn's default keep-alive (5 s) and httpx's pool expiry (5 s): a client that
# reuses a connection after this long must still be answered, not reset.
IDLE_SECS = 6.5


def _request(sock: socket.socket, path: str) -> bytes:
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = sock.recv(65536)
        if not chunk:
            return answer  # the daemon closed the connection
        answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    length = next(int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length:"))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "the daemon closed the connection in the middle of an answer"
        body += chunk
    return head


def test_an_idle_keep_alive_connection_is_still_answered_after_the_client_pool_expiry(tmp_path: Path) -> None:
    with running_daemon(tmp_path) as daemon, socket.create_connection(("127.0.0.1", daemon.port), timeout=30) as sock:
        assert _request(sock, "/health").startswith(b"HTTP/1.1 200")
        time.sleep(IDLE_SECS)  # idle on purpose: what a busy or slow client does between two requests
        try:
            second = _request(sock, "/health")
        except ConnectionResetError:
            second = b""
        assert second.startswith(b"HTTP/1.1 200"), f"the idle connection was closed by the daemon: {second!r}"
