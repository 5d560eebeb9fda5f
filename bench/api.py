"""`api`: booking through the HTTP API (a uvicorn process, as deployed) at a fixed rate, side
by side with starting the same workflows straight from the Python client (`book`: the
start_workflow call the API makes) at the same rate, with the worker running."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import httpx

from bench import common
from bench.stack import WORKER_SETTINGS, Stack, connect, free_port, promptly_workers, stack
from bench.stack import workers as processes
from promptly.api.auth import hash_key
from promptly.config import Settings
from promptly.dev.stack import installed_binary
from promptly.services.appointments import book

KEY = "bench-key-not-a-secret"
HEADERS = {"X-API-Key": KEY}


async def wait_healthy(url: str) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(300):
            try:
                if (await http.get(f"{url}/health")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("the API did not answer /health in 30 s")


@contextmanager
def api_process(bench_stack: Stack, settings: Settings) -> Iterator[str]:
    """The API as deployed (a uvicorn process with a backoffice key, `KEY`); yields its URL.

    `python -m bench --set NAME=VALUE` settings apply to it as to the workers (e.g.
    `status_reads=workflow`)."""
    port = free_port()
    api_env = bench_stack.worker_env(
        settings,
        {
            "PROMPTLY_API_KEYS": json.dumps(
                {"bench": {"key_sha256": hash_key(KEY), "role": "backoffice"}}
            )
        },
    )
    api_env.update({f"PROMPTLY_{name.upper()}": value for name, value in WORKER_SETTINGS.items()})
    with processes(
        [
            installed_binary("uvicorn"),
            "--factory",
            "promptly.api.app:create_app",
            "--port",
            str(port),
            "--no-access-log",
        ],
        api_env,
        1,
        bench_stack.data / "api.log",
    ):
        yield f"http://127.0.0.1:{port}"


async def run(rate: float, seconds: int, workers: int) -> dict[str, object]:
    count = int(rate * seconds)
    api_latencies: list[float] = []
    raw_latencies: list[float] = []
    with stack("api") as bench_stack:
        settings = bench_stack.settings()
        with (
            promptly_workers(bench_stack, settings, workers) as running,
            api_process(bench_stack, settings) as url,
        ):
            await wait_healthy(url)
            start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=10)
            client = await connect(bench_stack)
            # No cap on connections: the raw side's calls share one gRPC channel without a
            # limit, and a capped pool would time the bench's own queue for a connection.
            limits = httpx.Limits(max_connections=None, max_keepalive_connections=200)
            async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as http:

                async def through_api(_: int) -> None:
                    body = common.request(start).model_dump(mode="json")
                    began = time.perf_counter()
                    answer = await http.post("/appointments", json=body, headers=HEADERS)
                    answer.raise_for_status()
                    api_latencies.append(time.perf_counter() - began)

                async def raw(_: int) -> None:
                    began = time.perf_counter()
                    await book(client, common.request(start), settings, datetime.now(UTC))
                    raw_latencies.append(time.perf_counter() - began)

                # Side by side, so both meet the same server, worker backlog and neighbours.
                api_failed, raw_failed = await asyncio.gather(
                    common.paced(count, rate, through_api), common.paced(count, rate, raw)
                )
            running.check_alive()
    for failure in (api_failed + raw_failed)[:3]:
        common.note(f"api: {failure!r}")
    api = common.summary("api", api_latencies)
    raw_start = common.summary("raw_start", raw_latencies)
    return {
        "bench": "api",
        "rate_per_s": rate,
        "seconds": seconds,
        "workers": workers,
        "api_failed": len(api_failed),
        "raw_failed": len(raw_failed),
        **api,
        **raw_start,
        "p99_ratio": common.ratio(api["api_p99_s"], raw_start["raw_start_p99_s"]),
    }
