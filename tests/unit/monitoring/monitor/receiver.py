"""A real webhook receiver for the monitor tests: an HTTP server in a thread that records every
POST (it dedupes nothing) and can answer the first attempts of each idempotency key with errors."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson


class Receiver:
    def __init__(self, fail_first: int = 0, fail_status: int = 503) -> None:
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.posts: list[tuple[str | None, dict[str, Any], dict[str, str]]] = []  # (key, body, headers)
        self.answers: list[int] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = orjson.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                key = self.headers.get("Idempotency-Key")
                with receiver._lock:
                    receiver.posts.append((key, body, dict(self.headers.items())))
                    seen = sum(1 for k, _, _ in receiver.posts if k == key)
                    code = receiver.fail_status if seen <= receiver.fail_first else 200
                    receiver.answers.append(code)
                self.send_response(code)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def keys(self) -> Counter[str | None]:
        with self._lock:
            return Counter(k for k, _, _ in self.posts)

    def bodies(self) -> list[dict[str, Any]]:
        with self._lock:
            return [b for _, b, _ in self.posts]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def wait_for(condition: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


async def await_for(condition: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    import asyncio

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
