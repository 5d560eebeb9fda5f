"""Helpers the benchmarks share: appointment requests, paced and bounded booking, waiting on
PostgreSQL for the worker to settle, percentiles and the one JSON line."""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import psycopg
from temporalio.client import Client, WorkflowHandle

from promptly.config import Settings
from promptly.domain.appointments.models import AppointmentRequest, AppointmentView
from promptly.domain.common import Actor, ActorKind
from promptly.services.appointments import book
from promptly.workflows.appointment import AppointmentWorkflow

CLIENT = Actor(kind=ActorKind.CLIENT, id="bench")
DESK = Actor(kind=ActorKind.STAFF, id="bench")
PROVIDER = Actor(kind=ActorKind.PROVIDER, id="bench")
T = TypeVar("T")

AppointmentHandle = WorkflowHandle[AppointmentWorkflow, AppointmentView]


def request(start: datetime, appointment_id: str | None = None) -> AppointmentRequest:
    return AppointmentRequest.model_validate(
        {
            "appointment_id": appointment_id or f"B-{uuid.uuid4().hex[:12]}",
            "client": {
                "id": "C-1",
                "name": "Bench Client",
                "email": "bench@example.com",
                "preferred_channel": "email",
                "locale": "en",
                "timezone": "Europe/Warsaw",
            },
            "provider": {"id": "P-1", "name": "Bench Provider", "email": "p@example.com"},
            "service": "Consultation",
            "location": "Room 1",
            "start": start.isoformat(),
            "duration_minutes": 50,
        }
    )


async def bounded(jobs: Sequence[Callable[[], Awaitable[T]]], limit: int = 32) -> list[T]:
    """Run the jobs at most `limit` at a time, in order of their results."""
    gate = asyncio.Semaphore(limit)

    async def one(job: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await job()

    return list(await asyncio.gather(*(one(job) for job in jobs)))


async def book_all(
    client: Client, settings: Settings, starts: Sequence[datetime], limit: int = 32
) -> list[AppointmentHandle]:
    def booking(start: datetime) -> Callable[[], Awaitable[AppointmentHandle]]:
        return lambda: book(client, request(start), settings, datetime.now(UTC))

    return await bounded([booking(start) for start in starts], limit)


async def paced(
    count: int, rate: float, job: Callable[[int], Coroutine[Any, Any, None]]
) -> list[BaseException]:
    """Start job(i) at i / rate seconds (open loop: a slow answer does not slow the stream)."""
    began = time.perf_counter()
    tasks: list[asyncio.Task[None]] = []
    for index in range(count):
        delay = began + index / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(job(index)))
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    return [o for o in outcomes if isinstance(o, BaseException)]


async def scalar(database_url: str, sql: str, *params: object) -> Any:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cursor = await conn.execute(sql, params)
        row = await cursor.fetchone()
        return row[0] if row else None


async def rows(database_url: str, sql: str, *params: object) -> list[tuple[Any, ...]]:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cursor = await conn.execute(sql, params)
        return list(await cursor.fetchall())


# The benchmarks' workers have no provider keys: their messages go to the outbox, which the
# ledger calls `queued_in_outbox` (never `sent`) and stamps with no `sent_at`. A message is out
# when its ledger row says so; it went out when the send activity wrote the row.
OUT = "status IN ('sent', 'queued_in_outbox')"
OUT_AT = "COALESCE(sent_at, created_at)"


async def sent_count(database_url: str, template: str) -> int:
    return int(
        await scalar(
            database_url,
            f"SELECT count(*) FROM messages WHERE template = %s AND {OUT}",
            template,
        )
    )


async def wait_settled(database_url: str, booked: int, timeout: float) -> float:
    """Wait until every booked appointment has sent its confirmation and provider notice and
    stored the case after them (the case parked on its next timer); returns the seconds taken."""
    began = time.perf_counter()
    last: object = None
    while time.perf_counter() - began < timeout:
        confirmations = await sent_count(database_url, "confirmation")
        notices = await sent_count(database_url, "provider_booking")
        changed = await scalar(database_url, "SELECT max(updated_at) FROM cases")
        if confirmations >= booked and notices >= booked and changed == last:
            return time.perf_counter() - began
        last = changed
        await asyncio.sleep(1.0)
    raise TimeoutError(f"{booked} bookings did not settle in {timeout:.0f}s")


CALIBRATION = 40  # bookings `booking_seconds` makes


async def booking_seconds(
    client: Client, settings: Settings, database_url: str, count: int = CALIBRATION
) -> float:
    """Seconds one booking takes to settle on this worker now (a batch parked 10 days out), so
    a benchmark can leave enough time for its own bookings before its timers fall due."""
    before = await sent_count(database_url, "provider_booking")
    began = time.perf_counter()
    far = datetime.now(UTC) + timedelta(days=10)
    await book_all(client, settings, [far] * count)
    await wait_settled(database_url, before + count, timeout=60 + 5 * count)
    return (time.perf_counter() - began) / count


def starter(
    client: Client, workflow: Callable[..., Any], arg: Any, workflow_id: str, task_queue: str
) -> Callable[[], Awaitable[WorkflowHandle[Any, Any]]]:
    """A job for `bounded` that starts one workflow."""
    args = [] if arg is None else [arg]
    return lambda: client.start_workflow(workflow, args=args, id=workflow_id, task_queue=task_queue)


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile (share in 0..1); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(math.ceil(share * len(ordered)) - 1, 0)
    return ordered[rank]


def summary(prefix: str, values: Sequence[float]) -> dict[str, float]:
    return {
        f"{prefix}_p50_s": round(percentile(values, 0.50), 3),
        f"{prefix}_p99_s": round(percentile(values, 0.99), 3),
        f"{prefix}_max_s": round(max(values), 3) if values else math.nan,
    }


def prefixed(prefix: str, values: dict[str, float]) -> dict[str, float]:
    return {f"{prefix}{key}": value for key, value in values.items()}


def ratio(value: float, floor: float) -> float:
    return round(value / floor, 2) if floor > 0 else math.inf


def emit(line: dict[str, object]) -> None:
    print(json.dumps(line), flush=True)


def note(message: str) -> None:
    """Progress for the person watching, on stderr (stdout has only the JSON lines)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def add_settings_option(parser: argparse.ArgumentParser) -> None:
    """`--set NAME=VALUE`, repeatable: a Promptly setting for every worker the bench starts."""
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a Promptly worker setting, e.g. --set workflow_sandbox=false",
    )


def worker_settings(assignments: Sequence[str]) -> dict[str, str]:
    """`--set`'s assignments as {name: value}."""
    pairs = (assignment.partition("=") for assignment in assignments)
    return {name.strip(): value.strip() for name, _, value in pairs}
