"""Headless Debian Chromium for the browser tests (`make test` installs it when missing).

Without Chromium a browser test skips, except where `PROMPTLY_REQUIRE_BROWSER` is set (as
`.ci/run` does): there a missing browser fails the run rather than hiding the tests.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI

# Flags for a root user on a machine with no display and a closed network: without the
# background-networking ones Chromium keeps dialling Google's hosts and gets refused.
HEADLESS_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
)


def chromium() -> str:
    """The browser's path; skips the test (fails it under PROMPTLY_REQUIRE_BROWSER) if none."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is not None:
        return found
    reason = "no headless Chromium: `make test` installs Debian's package when run as root"
    if os.environ.get("PROMPTLY_REQUIRE_BROWSER"):
        pytest.fail(reason)
    pytest.skip(reason)


def keep_screenshot(shot: Path) -> None:
    """Copy a screenshot to PROMPTLY_SCREENSHOTS_DIR (docs/img for the docs), if set."""
    keep = os.environ.get("PROMPTLY_SCREENSHOTS_DIR")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / shot.name)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@asynccontextmanager
async def served(app: FastAPI, port: int) -> AsyncIterator[str]:
    """`app` on a real port (uvicorn, this event loop) for a browser; yields its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if serving.done():
                serving.result()  # it could not start: raise why
            await asyncio.sleep(0.05)
        yield f"http://localhost:{port}"
    finally:
        server.should_exit = True
        await serving
