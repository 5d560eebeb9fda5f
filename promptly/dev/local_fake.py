"""A provider's API faked on 127.0.0.1, served from a thread: what the Twilio fake of
`make run` and the tests' SendGrid fake share (start, stop, `with`, the URL to point a real
client library at, and the faults of an answer that never comes back in time)."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar, Self


class FakeServer(ThreadingHTTPServer):
    daemon_threads = True
    fake: Any  # the LocalFake whose handler answers


@dataclass(frozen=True)
class AnswerFault:
    """What happens to one answer after the fake handled its request (a message taken)."""

    delay: float = 0.0  # seconds before the answer goes out
    hang_up: bool = False  # the connection closes without an answer


class LocalFake:
    """Subclasses set `handler`; it reaches the fake as `self.server.fake`. The handler
    calls `answer_now()` after handling a request and before writing its answer."""

    handler: ClassVar[type[BaseHTTPRequestHandler]]
    name: ClassVar[str] = "fake"

    def __init__(self, port: int = 0) -> None:
        self._port = port
        self._server: FakeServer | None = None
        self._thread: threading.Thread | None = None
        self._faults: deque[AnswerFault] = deque()
        self._faults_lock = threading.Lock()

    def answer_late(self, seconds: float, times: int = 1) -> None:
        """The next `times` requests are handled as ever (a message is taken), and each
        answer comes `seconds` later: a client with a shorter timeout has given up by then."""
        self._add_fault(AnswerFault(delay=seconds), times)

    def hang_up(self, times: int = 1) -> None:
        """The next `times` requests are handled as ever, then the connection closes
        without an answer (a proxy or the network dropped it)."""
        self._add_fault(AnswerFault(hang_up=True), times)

    def _add_fault(self, fault: AnswerFault, times: int) -> None:
        with self._faults_lock:
            self._faults.extend([fault] * times)

    def answer_now(self) -> bool:
        """Called by the handler between handling a request and answering it: waits out a
        queued delay; False when the connection must close without an answer."""
        fault = self._next_fault()
        if fault is None:
            return True
        time.sleep(fault.delay)
        return not fault.hang_up

    def _next_fault(self) -> AnswerFault | None:
        with self._faults_lock:
            return self._faults.popleft() if self._faults else None

    def start(self) -> Self:
        if self._server is not None:
            raise RuntimeError(f"{self.name} is already running")
        server = FakeServer(("127.0.0.1", self._port), self.handler)
        server.fake = self
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name=self.name,
        )
        thread.start()
        self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Where to point the provider's client library (no path, no trailing slash)."""
        if self._server is None:
            raise RuntimeError(f"{self.name} is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"
