"""A provider's API faked on 127.0.0.1, served from a thread: what the Twilio fake of
`make run` and the tests' SendGrid fake share (start, stop, `with`, the URL to point a real
client library at)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar, Self


class FakeServer(ThreadingHTTPServer):
    daemon_threads = True
    fake: Any  # the LocalFake whose handler answers


class LocalFake:
    """Subclasses set `handler`; it reaches the fake as `self.server.fake`."""

    handler: ClassVar[type[BaseHTTPRequestHandler]]
    name: ClassVar[str] = "fake"

    def __init__(self, port: int = 0) -> None:
        self._port = port
        self._server: FakeServer | None = None
        self._thread: threading.Thread | None = None

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
