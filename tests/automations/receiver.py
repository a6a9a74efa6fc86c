"""A webhook receiver on 127.0.0.1 (a thread of the test process) that answers from a script.

Each request takes the next behaviour of the script (then the last one forever): an HTTP status
(with optional headers), or "stall" (hold the request past the sender's timeout). Every request
that arrived is recorded with its headers and body.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Behaviour = int | str | tuple[int, dict[str, str]]


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    answered: Behaviour

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)  # type: ignore[no-any-return]

    def signed_by(self, secret: str) -> bool:
        expected = "sha256=" + hmac.new(secret.encode(), self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(self.headers.get("x-axocoatl-signature", ""), expected)


class Receiver:
    def __init__(self, script: list[Behaviour] | None = None, *, stall_secs: float = 5.0) -> None:
        self.script: list[Behaviour] = list(script or [200])
        self.stall_secs = stall_secs
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self._release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length)
                with receiver._lock:
                    behaviour = receiver.script.pop(0) if len(receiver.script) > 1 else receiver.script[0]
                    receiver.received.append(
                        Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body, behaviour)
                    )
                if behaviour == "stall":
                    receiver._release.wait(receiver.stall_secs)
                    return  # no answer at all: the sender timed out long ago
                status, headers = behaviour if isinstance(behaviour, tuple) else (int(behaviour), {})
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        self.server.shutdown()
        self.server.server_close()

    def answered(self, status: int) -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.answered == status]

    def wait_for(self, predicate: Any, what: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if predicate(list(self.received)):
                    return
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}; received {[r.answered for r in self.received]}")
