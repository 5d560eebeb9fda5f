"""Throughput of whole appointment lifecycles against a floor measured in the same run.

Run as `python -m bench.lifecycle -n 500` from the repository root (`make bench`).
Starts a Temporal dev server and PostgreSQL (embedded, temporary), runs N appointments
booking → confirm → reminder → check-in → complete with compressed policy durations, then
N floor workflows with the same number of no-op activities and timers over the same
wall-clock span. Prints one JSON line:
{n, failed, wf_per_s, floor_wf_per_s, ratio, update_p50_s, update_p99_s, update_retries, ...}.

The driver behaves like a careful back office: an update whose RPC deadline passes (the
worker is saturated) is sent again under the same update id, which Temporal deduplicates, up
to UPDATE_ATTEMPTS times; `update_retries` counts those, and the update latencies run from the
first try. A lifecycle still failing after that counts in `failed`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter
from temporalio.worker import Worker

from bench.floor import FloorInput, FloorWorkflow, noop
from promptly import db
from promptly.config import Settings
from promptly.domain.models import (
    Actor,
    ActorKind,
    AppointmentRequest,
    AppointmentView,
    CheckInInput,
    CompleteInput,
    ConfirmInput,
)
from promptly.starter.appointments import book
from promptly.starter.devstack import embedded_postgres, temporal_dev_server
from promptly.starter.setup import register_search_attributes
from promptly.worker import create_worker, data_converter, open_pool
from promptly.workflows.appointment import AppointmentWorkflow

TIME_SCALE = 5e-4  # 72h → ~2.2 min: every timer still fires, a loaded worker keeps up
AHEAD = timedelta(hours=72)
CLIENT = Actor(kind=ActorKind.CLIENT, id="bench")
DESK = Actor(kind=ActorKind.STAFF, id="bench")


def request(start: datetime) -> AppointmentRequest:
    return AppointmentRequest.model_validate(
        {
            "appointment_id": f"B-{uuid.uuid4().hex[:12]}",
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


async def _sleep_until(moment: datetime) -> None:
    await asyncio.sleep(max((moment - datetime.now(UTC)).total_seconds(), 0))


UPDATE_ATTEMPTS = 5


@dataclass
class Driver:
    """Sends the updates of every lifecycle and keeps their latencies and retries."""

    latencies: list[float] = field(default_factory=list)
    retries: int = 0

    async def update(
        self, handle: WorkflowHandle[AppointmentWorkflow, AppointmentView], method: Any, arg: Any
    ) -> None:
        update_id = str(uuid.uuid4())
        began = time.perf_counter()
        for attempt in range(UPDATE_ATTEMPTS):
            try:
                await handle.execute_update(method, arg, id=update_id)
                self.latencies.append(time.perf_counter() - began)
                return
            except WorkflowUpdateRPCTimeoutOrCancelledError:
                if attempt == UPDATE_ATTEMPTS - 1:
                    raise
                self.retries += 1

    async def one_lifecycle(
        self, client: Client, settings: Settings
    ) -> WorkflowHandle[AppointmentWorkflow, AppointmentView]:
        now = datetime.now(UTC)
        start = now + AHEAD * TIME_SCALE
        handle = await book(client, request(start), settings, now)
        await self.update(handle, AppointmentWorkflow.confirm, ConfirmInput(actor=CLIENT))
        # Check-in opens 2h (scaled: ~3.6s) before the start; no-show is 15 min (~0.45s) after.
        await _sleep_until(start - timedelta(seconds=2.5))
        await self.update(handle, AppointmentWorkflow.check_in, CheckInInput(actor=DESK))
        await _sleep_until(start + timedelta(seconds=0.01))
        await self.update(handle, AppointmentWorkflow.complete, CompleteInput(actor=DESK))
        await handle.result()
        return handle


async def measure(n: int, data: Path) -> dict[str, float | int]:
    with (
        embedded_postgres(data / "pg") as database_url,
        temporal_dev_server(
            data / "temporal", 17233, 18233, retention_days=1, log_file=data / "temporal.log"
        ) as address,
    ):
        db.upgrade(database_url)
        settings = Settings(
            database_url=database_url,
            temporal_address=address,
            time_scale=TIME_SCALE,
            task_queue="bench",
            link_secret=secrets.token_urlsafe(48),  # no default secret: a random one per run
        )
        # Core SDK warnings (slow tasks under load) go to stderr-level noise, not our JSON line.
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
            driver = Driver()
            began = time.perf_counter()
            outcomes = await asyncio.gather(
                *(driver.one_lifecycle(client, settings) for _ in range(n)),
                return_exceptions=True,
            )
            lifecycle_seconds = time.perf_counter() - began
            failures = [o for o in outcomes if isinstance(o, BaseException)]
            for failure in failures[:3]:
                cause = getattr(failure, "cause", None)
                print(f"lifecycle failed: {failure!r} {cause!r}", file=sys.stderr)
            sample = next(o for o in outcomes if not isinstance(o, BaseException))
            history = await sample.fetch_history()
            activities = sum(
                1
                for e in history.events
                if e.event_type
                in (
                    EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
                    EventType.EVENT_TYPE_MARKER_RECORDED,
                )
            )
            timers = sum(
                1 for e in history.events if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED
            )
            span = (
                history.events[-1].event_time.ToDatetime()
                - history.events[0].event_time.ToDatetime()
            ).total_seconds()

        async with Worker(
            client, task_queue="bench-floor", workflows=[FloorWorkflow], activities=[noop]
        ):
            plan = FloorInput(activities=activities, timers=timers, span_seconds=span)
            began = time.perf_counter()
            await asyncio.gather(
                *(
                    client.execute_workflow(
                        FloorWorkflow.run,
                        plan,
                        id=f"floor-{uuid.uuid4()}",
                        task_queue="bench-floor",
                    )
                    for _ in range(n)
                )
            )
            floor_seconds = time.perf_counter() - began

    cuts = statistics.quantiles(driver.latencies, n=100)
    wf_per_s = n / lifecycle_seconds
    floor_wf_per_s = n / floor_seconds
    return {
        "n": n,
        "failed": len(failures),
        "wf_per_s": round(wf_per_s, 2),
        "floor_wf_per_s": round(floor_wf_per_s, 2),
        "ratio": round(wf_per_s / floor_wf_per_s, 3),
        "update_p50_s": round(cuts[49], 3),
        "update_p99_s": round(cuts[98], 3),
        "update_retries": driver.retries,
        "events_per_history": len(history.events),
        "activities_per_history": activities,
        "timers_per_history": timers,
        "lifecycle_span_s": round(span, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="promptly-bench-") as data:
        print(json.dumps(asyncio.run(measure(args.n, Path(data)))))


if __name__ == "__main__":
    main()
