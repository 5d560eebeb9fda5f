"""A local back office receiving Promptly's webhooks: records every request, answers scripted codes.

    with WebhookReceiver() as receiver:
        url = receiver.url("crm")                      # http://127.0.0.1:<port>/crm
        receiver.script("crm", "appointment-A-1/0", 500, 200)   # per (path, event id), in order
        ...
        [first] = receiver.received("crm")
        assert first.event["status"] == "Booked"

Unscripted requests get 200. It serves from a daemon thread on 127.0.0.1 (a free port).
"""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, cast


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    answered: int
    at: float  # time.monotonic()

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)

    @property
    def event(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed


class WebhookReceiver:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._scripts: dict[tuple[str, str], deque[int]] = defaultdict(deque)
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.receiver = self
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name="webhook-receiver",
        )

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def url(self, path: str) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/{path}"

    def script(self, path: str, event_id: str, *codes: int) -> None:
        """The answers to the next requests for `event_id` on `/path`, in order."""
        with self._lock:
            self._scripts[(f"/{path}", event_id)].extend(codes)

    def received(self, path: str | None = None) -> list[Received]:
        """The requests so far (on `/path` if given), oldest first."""
        with self._lock:
            return [r for r in self._received if path is None or r.path == f"/{path}"]

    def answer(self, path: str, headers: dict[str, str], body: bytes) -> int:
        event_id = next((v for k, v in headers.items() if k.lower() == "promptly-event-id"), "")
        with self._lock:
            script = self._scripts.get((path, event_id))
            code = script.popleft() if script else 200
            self._received.append(Received(path, headers, body, code, time.monotonic()))
        return code


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    receiver: WebhookReceiver


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        receiver = cast(_Server, self.server).receiver
        code = receiver.answer(self.path, dict(self.headers.items()), body)
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's name
        pass
