"""Do `status` reads stay under 1 s (p99) while a burst of bookings and updates runs?

    python -m bench.status_load --n 300

Starts a Temporal dev server and PostgreSQL (embedded, temporary) and one worker with
compressed policy durations. Floor: reads of idle cases. Burst: N bookings and N confirms
at once while readers keep asking for random cases' status three ways — the workflow's
`status` query, the API's `GET /appointments/{id}` (in-process app, which answers from the
case's PostgreSQL row, docs/status-reads.md; `PROMPTLY_STATUS_READS=workflow`: from that
query), and a read of the same case from PostgreSQL (`cases` + `timeline_events`, which the
workflow keeps). Prints one JSON line with p50/p99 of each, floor and burst.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import secrets
import signal
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter

from bench.common import request as appointment_request
from promptly import db
from promptly.api.app import create_app
from promptly.api.auth import hash_key
from promptly.config import ApiKey, ApiRole, Settings
from promptly.dev.stack import embedded_postgres, temporal_dev_server
from promptly.domain.appointments.models import AppointmentView, ConfirmInput
from promptly.domain.common import Actor, ActorKind
from promptly.services.appointments import book
from promptly.services.setup import register_search_attributes
from promptly.worker import create_worker, data_converter, open_pool
from promptly.workflows.appointment import AppointmentWorkflow

TIME_SCALE = 5e-4
AHEAD = timedelta(hours=72)
API_KEY = "status-load-key-0123456789"
READERS = 8
IN_FLIGHT = 25  # bookings and confirms at once, as a busy back office sends them
READ_TIMEOUT_S = 10.0
CLIENT = Actor(kind=ActorKind.CLIENT, id="bench")


def _cuts(samples: list[float]) -> dict[str, float | None]:
    if len(samples) < 2:
        return {"p50": None, "p99": None, "max": None}
    cuts = statistics.quantiles(samples, n=100)
    return {"p50": round(cuts[49], 3), "p99": round(cuts[98], 3), "max": round(max(samples), 3)}


async def _read_loop(
    read: Callable[[str], Awaitable[Any]], ids: list[str], until: asyncio.Event, out: list[float]
) -> int:
    """Reads random cases until `until` is set; returns how many failed or timed out."""
    failures = 0
    while not until.is_set():
        began = time.perf_counter()
        try:
            async with asyncio.timeout(READ_TIMEOUT_S):
                await read(random.choice(ids))
            out.append(time.perf_counter() - began)
        except Exception:  # noqa: BLE001 - a timed-out or failed read is the finding
            failures += 1
            out.append(time.perf_counter() - began)
        await asyncio.sleep(0.01)
    return failures


async def measure(n: int, data: Path) -> dict[str, Any]:
    with (
        embedded_postgres(data / "pg") as database_url,
        temporal_dev_server(
            data / "temporal", 17533, 18533, retention_days=1, log_file=data / "temporal.log"
        ) as address,
    ):
        db.upgrade(database_url)
        settings = Settings(
            database_url=database_url,
            temporal_address=address,
            time_scale=TIME_SCALE,
            task_queue="status-load",
            link_secret=secrets.token_urlsafe(48),  # no default secret: a random one per run
            api_keys={"bench": ApiKey(key_sha256=hash_key(API_KEY), role=ApiRole.ADMIN)},
        )
        runtime = Runtime(
            telemetry=TelemetryConfig(
                logging=LoggingConfig(
                    filter=TelemetryFilter(core_level="ERROR", other_level="ERROR")
                )
            )
        )
        client = await Client.connect(
            address, data_converter=data_converter(settings), runtime=runtime
        )
        await register_search_attributes(client, "default")
        async with open_pool(settings) as pool, create_worker(client, settings, pool=pool):
            app = create_app(settings, client=client, pool=pool)
            async with (
                app.router.lifespan_context(app),
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url="http://bench"
                ) as http,
            ):

                async def query(case: str) -> Any:
                    handle = client.get_workflow_handle(case, result_type=AppointmentView)
                    return await handle.query(AppointmentWorkflow.status)

                async def get(case: str) -> Any:
                    response = await http.get(
                        f"/appointments/{case.removeprefix('appointment-')}",
                        headers={"X-API-Key": API_KEY},
                    )
                    response.raise_for_status()
                    return response

                async def from_postgres(case: str) -> Any:
                    async with pool.connection() as conn:
                        row = await (
                            await conn.execute(
                                "SELECT status, details FROM cases WHERE case_id = %s", (case,)
                            )
                        ).fetchone()
                        entries = await (
                            await conn.execute(
                                "SELECT * FROM timeline_events WHERE case_id = %s ORDER BY seq",
                                (case,),
                            )
                        ).fetchall()
                    if row is None:
                        raise LookupError(case)
                    return row, entries

                async def start_one() -> str:
                    now = datetime.now(UTC)
                    handle = await book(
                        client, appointment_request(now + AHEAD * TIME_SCALE), settings, now
                    )
                    return handle.id

                idle = [await start_one() for _ in range(10)]
                await asyncio.sleep(2)
                readers = {"query": query, "get": get, "postgres": from_postgres}
                floor: dict[str, list[float]] = {name: [] for name in readers}
                for name, read in readers.items():
                    for _ in range(50):
                        began = time.perf_counter()
                        await read(random.choice(idle))
                        floor[name].append(time.perf_counter() - began)

                burst: dict[str, list[float]] = {name: [] for name in readers}
                done = asyncio.Event()
                loops = [
                    asyncio.create_task(_read_loop(read, idle, done, burst[name]))
                    for name, read in readers.items()
                    for _ in range(READERS // len(readers) + 1)
                ]
                began = time.perf_counter()
                gate = asyncio.Semaphore(IN_FLIGHT)

                async def book_and_confirm() -> str:
                    async with gate:
                        wid = await start_one()
                        handle = client.get_workflow_handle(wid, result_type=AppointmentView)
                        await handle.execute_update(
                            AppointmentWorkflow.confirm,
                            ConfirmInput(actor=CLIENT),
                            id=str(uuid.uuid4()),
                        )
                        return wid

                outcomes = await asyncio.gather(
                    *(book_and_confirm() for _ in range(n)), return_exceptions=True
                )
                booked = [o for o in outcomes if isinstance(o, str)]
                burst_s = time.perf_counter() - began
                done.set()
                failures = sum(await asyncio.gather(*loops))
                for wid in [*idle, *booked]:
                    await client.get_workflow_handle(wid).terminate("status load bench over")

    result: dict[str, Any] = {"bench": "status_under_burst", "n": n, "burst_s": round(burst_s, 1)}
    for name in readers:
        result[f"{name}_floor"] = _cuts(floor[name])
        result[f"{name}_burst"] = _cuts(burst[name])
        result[f"{name}_reads"] = len(burst[name])
    result["failed_reads"] = failures
    result["failed_bookings"] = n - len(booked)
    return result


def _interrupt_on_sigterm() -> None:
    """SIGTERM (a `timeout`, a CI cancel) unwinds like Ctrl-C, so every server and worker
    this benchmark started is stopped."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def main() -> None:
    _interrupt_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="promptly-status-") as data:
        print(json.dumps(asyncio.run(measure(args.n, Path(data)))), flush=True)


if __name__ == "__main__":
    main()
