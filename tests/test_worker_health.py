"""The worker's health check says whether it reaches Temporal: /metrics, which the SDK serves
regardless, answered 200 while Temporal was frozen (ops review, finding 4)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from promptly import worker_health
from promptly.config import Settings
from promptly.worker import run_worker
from tests.conftest import start_dev_server


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_pid(target: str) -> int:
    """The pid of the dev server serving `target` (host:port)."""
    port = target.rsplit(":", 1)[1]
    for proc in Path("/proc").iterdir():
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"--port" in args and args[args.index(b"--port") + 1 :][:1] == [port.encode()]:
            if any(b"temporal" in arg for arg in args[:1]):
                return int(proc.name)
    raise AssertionError(f"no dev server process on port {port}")


def _check_exits(path: Path) -> int:
    """`python -m promptly.worker_health` (compose's check) on `path`: its exit code."""
    return subprocess.run(
        [sys.executable, "-m", "promptly.worker_health", str(path)],
        capture_output=True,
        timeout=60,
    ).returncode


async def _until(condition: Callable[[], bool], within: float = 20.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def test_the_worker_is_healthy_only_while_temporal_answers_it(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(worker_health, "CONTACT_EVERY", timedelta(seconds=0.2))
    monkeypatch.setattr(worker_health, "ASK_TIMEOUT", timedelta(seconds=0.5))
    path = tmp_path / "worker-health"
    metrics = _free_port()
    async with await start_dev_server() as env:
        target = env.client.service_client.config.target_host
        server = _server_pid(target)
        config = settings.model_copy(
            update={
                "temporal_address": target,
                "task_queue": f"promptly-health-{uuid.uuid4().hex[:8]}",
                "worker_health_file": path,
                "metrics_bind": f"127.0.0.1:{metrics}",
                "graceful_shutdown_timeout": timedelta(seconds=1),
            }
        )
        loop = asyncio.get_running_loop()
        running = asyncio.create_task(run_worker(config))
        try:
            await _until(lambda: worker_health.last_contact(path) is not None)
            assert await asyncio.to_thread(_check_exits, path) == 0
            os.kill(server, signal.SIGSTOP)  # Temporal frozen: the worker's polls get no answer
            await asyncio.sleep(1.5)
            frozen_at = worker_health.last_contact(path)
            assert frozen_at is not None
            await asyncio.sleep(2)  # ten contacts' time: none recorded
            assert worker_health.last_contact(path) == frozen_at
            assert worker_health.check(path, frozen_at + 46) is not None
            async with httpx.AsyncClient() as http:  # what compose used to check
                served = await http.get(f"http://127.0.0.1:{metrics}/metrics", timeout=3)
            assert served.status_code == 200
            os.kill(server, signal.SIGCONT)
            await _until(lambda: (worker_health.last_contact(path) or 0) > frozen_at)
            assert worker_health.check(path, time.time()) is None
        finally:
            os.kill(server, signal.SIGCONT)  # never leave it frozen
            running.cancel()
            with_cancel = await asyncio.gather(running, return_exceptions=True)
            assert all(isinstance(e, (asyncio.CancelledError, type(None))) for e in with_cancel)
            for sig in (signal.SIGINT, signal.SIGTERM):  # run_worker's, on the test's loop
                loop.remove_signal_handler(sig)
