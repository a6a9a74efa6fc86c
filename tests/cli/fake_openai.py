"""A tiny OpenAI-compatible server on 127.0.0.1 for CLI tests: streams one chat completion, or refuses the key."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GOOD_KEY = "sk-test-good"


class _Handler(BaseHTTPRequestHandler):
    models = ("gpt-4o-mini",)

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        body = json.loads(self.rfile.read(length) or b"{}")
        self.server.requests.append({"path": self.path, "body": body})  # type: ignore[attr-defined]
        if self.headers.get("authorization") != f"Bearer {GOOD_KEY}":
            return self._error(401, "Incorrect API key provided", "invalid_api_key")
        if body.get("model") not in self.models:
            return self._error(404, f"The model `{body.get('model')}` does not exist", "model_not_found")
        chunks = [
            {"choices": [{"index": 0, "delta": {"role": "assistant", "content": "ok"}, "finish_reason": None}]},
            {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
            {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}},
        ]
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.end_headers()
        for chunk in chunks:
            data = json.dumps({"id": "c1", "object": "chat.completion.chunk", **chunk})
            self.wfile.write(f"data: {data}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")

    def _error(self, status: int, message: str, code: str) -> None:
        data = json.dumps({"error": {"message": message, "type": "invalid_request_error", "code": code}}).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@contextmanager
def fake_openai() -> Iterator[tuple[str, list[dict[str, object]]]]:
    """(base_url, the requests it received) while the server runs."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.requests = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", server.requests  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()
