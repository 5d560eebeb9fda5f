"""What every benchmark stands on: a fresh Temporal dev server and PostgreSQL in a temporary
directory, worker processes started the way production starts them, and a client.

Everything started here is stopped on the way out, also on Ctrl-C, SIGTERM or an error:
servers and workers are context managers, and SIGTERM is turned into KeyboardInterrupt.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from temporalio.client import Client
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter

from promptly import db
from promptly.config import Settings
from promptly.dev.stack import embedded_postgres, installed_binary, temporal_dev_server
from promptly.worker import data_converter

PROMPTLY_QUEUE = "bench"
# `python -m bench --set NAME=VALUE`: settings for the Promptly worker processes (not floors).
WORKER_SETTINGS: dict[str, str] = {}
FLOOR_QUEUE = "bench-floor"


def free_port() -> int:
    """A port nobody listens on now (other engineers run dev servers on this machine too)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def stop_on_sigterm() -> None:
    """SIGTERM unwinds like Ctrl-C, so every context manager stops what it started."""
    signal.signal(signal.SIGTERM, _interrupt)


@dataclass
class Stack:
    data: Path
    database_url: str
    address: str
    link_secret: str = field(default_factory=lambda: secrets.token_urlsafe(48))

    def settings(self, **overrides: object) -> Settings:
        return Settings.model_validate(
            {
                "database_url": self.database_url,
                "temporal_address": self.address,
                "task_queue": PROMPTLY_QUEUE,
                # No default secret: one random secret per stack, shared by its workers.
                "link_secret": self.link_secret,
                **overrides,
            }
        )

    def worker_env(
        self, settings: Settings, extra: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """The environment of a `promptly worker` process running these settings."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PROMPTLY_")}
        env.update(
            PROMPTLY_DATABASE_URL=settings.database_url,
            PROMPTLY_TEMPORAL_ADDRESS=settings.temporal_address,
            PROMPTLY_TASK_QUEUE=settings.task_queue,
            PROMPTLY_TIME_SCALE=repr(settings.time_scale),
            PROMPTLY_MAX_CONCURRENT_ACTIVITIES=str(settings.max_concurrent_activities),
            PROMPTLY_MAX_CONCURRENT_WORKFLOW_TASKS=str(settings.max_concurrent_workflow_tasks),
            PROMPTLY_MAX_CACHED_WORKFLOWS=str(settings.max_cached_workflows),
            PROMPTLY_LOG_LEVEL="WARNING",
            PROMPTLY_LINK_SECRET=settings.master_secret(),
            # A throwaway stack with no codec keys, measured as before (without encryption).
            PROMPTLY_PLAINTEXT_PAYLOADS="true",
        )
        env.update(extra or {})
        return env


@contextmanager
def stack(prefix: str) -> Iterator[Stack]:
    """PostgreSQL (migrated) and a Temporal dev server on free ports, removed afterwards."""
    stop_on_sigterm()
    with tempfile.TemporaryDirectory(prefix=f"promptly-bench-{prefix}-") as tmp:
        data = Path(tmp)
        with (
            embedded_postgres(data / "pg") as database_url,
            temporal_dev_server(
                data / "temporal",
                free_port(),
                free_port(),
                retention_days=1,
                log_file=data / "temporal.log",
            ) as address,
        ):
            db.upgrade(database_url)
            yield Stack(data, database_url, address)


_quiet_runtime: Runtime | None = None


async def connect(stack: Stack) -> Client:
    """The bench's own client: Promptly's converter; core SDK warnings kept off stdout."""
    global _quiet_runtime
    if _quiet_runtime is None:
        _quiet_runtime = Runtime(
            telemetry=TelemetryConfig(
                logging=LoggingConfig(
                    filter=TelemetryFilter(core_level="ERROR", other_level="ERROR")
                )
            )
        )
    return await Client.connect(
        stack.address, data_converter=data_converter(stack.settings()), runtime=_quiet_runtime
    )


@dataclass
class Workers:
    processes: list[subprocess.Popen[bytes]]

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def rss_mib(self) -> float:
        """Resident memory of the worker processes together, MiB."""
        total = 0
        for pid in self.pids:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        return total / 1024

    def check_alive(self) -> None:
        for process in self.processes:
            if process.poll() is not None:
                raise RuntimeError(f"worker {process.args!r} exited with {process.returncode}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def workers(command: list[str], env: Mapping[str, str], count: int, log: Path) -> Iterator[Workers]:
    """`count` worker processes running `command`, stopped (SIGINT, then kill) on the way out."""
    with ExitStack() as cleanup:
        output = cleanup.enter_context(open(log, "ab"))
        started: list[subprocess.Popen[bytes]] = []
        for _ in range(count):
            process = subprocess.Popen(
                command, env=dict(env), stdin=subprocess.DEVNULL, stdout=output, stderr=output
            )
            cleanup.callback(_stop, process)
            started.append(process)
        time.sleep(0.5)
        result = Workers(started)
        result.check_alive()
        yield result


def promptly_workers(
    stack: Stack, settings: Settings, count: int, extra_env: Mapping[str, str] | None = None
) -> AbstractContextManager[Workers]:
    env = stack.worker_env(settings, extra_env)
    env.update({f"PROMPTLY_{name.upper()}": value for name, value in WORKER_SETTINGS.items()})
    return workers(
        [installed_binary("promptly"), "worker"],
        env,
        count,
        stack.data / "promptly-worker.log",
    )


def floor_workers(stack: Stack, settings: Settings, count: int) -> AbstractContextManager[Workers]:
    """Floor workers with the Promptly worker's concurrency and cache settings."""
    env = stack.worker_env(settings.model_copy(update={"task_queue": FLOOR_QUEUE}))
    return workers(
        [sys.executable, "-m", "bench.floor_worker"], env, count, stack.data / "floor-worker.log"
    )
