"""`updates`: M open cases and a stream of `confirm` / `reschedule` at a fixed rate.

Each case is confirmed once, then rescheduled (an hour later each time); a reschedule re-arms
its timers and sends a new confirmation. Latency runs from the first try of the update to its
result; an update whose RPC deadline passed is sent again under the same id (Temporal keeps
one), as a careful back office would. The floor, at the same time on the same server: M bare
workflows whose update runs one no-op activity, sent a stream at the same rate.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.client import WorkflowHandle, WorkflowUpdateRPCTimeoutOrCancelledError

from bench import common
from bench.floor import UpdateFloor
from bench.stack import FLOOR_QUEUE, connect, floor_workers, promptly_workers, stack
from promptly.domain.appointments.models import ConfirmInput, RescheduleInput
from promptly.workflows.appointment import AppointmentWorkflow

ATTEMPTS = 5


async def timed_update(
    handle: WorkflowHandle[Any, Any], method: Any, arg: Any, latencies: list[float]
) -> int:
    """Run one update to its result; returns how many times it was sent again."""
    update_id = str(uuid.uuid4())
    began = time.perf_counter()
    for attempt in range(ATTEMPTS):
        try:
            await handle.execute_update(method, arg, id=update_id)
            latencies.append(time.perf_counter() - began)
            return attempt
        except WorkflowUpdateRPCTimeoutOrCancelledError:
            if attempt == ATTEMPTS - 1:
                raise
    return ATTEMPTS


async def run(cases: int, rate: float, seconds: int, workers: int) -> dict[str, object]:
    """Both streams at `rate` per second, side by side on one server."""
    latencies: list[float] = []
    floor_latencies: list[float] = []
    retries = 0
    count = int(rate * seconds)
    with stack("updates") as bench_stack:
        settings = bench_stack.settings()
        with (
            promptly_workers(bench_stack, settings, workers) as running,
            floor_workers(bench_stack, settings, workers),
        ):
            client = await connect(bench_stack)
            start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=10)
            handles = await common.book_all(client, settings, [start] * cases)
            floors = await common.bounded(
                [
                    common.starter(client, UpdateFloor.run, None, f"floor-{i}", FLOOR_QUEUE)
                    for i in range(cases)
                ]
            )
            try:
                await common.wait_settled(bench_stack.database_url, cases, timeout=120 + 3 * cases)
                settled = True
            except TimeoutError:
                settled = False  # reported: the stream met bookings still settling

            async def one(index: int) -> None:
                nonlocal retries
                handle = handles[index % cases]
                if index < cases:
                    confirm = ConfirmInput(actor=common.CLIENT)
                    retries += await timed_update(
                        handle, AppointmentWorkflow.confirm, confirm, latencies
                    )
                else:
                    moved = RescheduleInput(
                        new_start=start + timedelta(hours=index // cases), actor=common.CLIENT
                    )
                    retries += await timed_update(
                        handle, AppointmentWorkflow.reschedule, moved, latencies
                    )

            async def floor(index: int) -> None:
                await timed_update(
                    floors[index % cases], UpdateFloor.change, "x" * 200, floor_latencies
                )

            failures, _ = await asyncio.gather(
                common.paced(count, rate, one), common.paced(count, rate, floor)
            )
            for failure in failures[:3]:
                common.note(f"updates: {failure!r} {getattr(failure, 'cause', None)!r}")
            running.check_alive()
    return {
        "bench": "updates",
        "cases": cases,
        "rate_per_s": rate,
        "seconds": seconds,
        "workers": workers,
        "settled_before_stream": settled,
        "failed": len(failures),
        "retries": retries,
        **common.summary("update", latencies),
        **common.prefixed("floor_", common.summary("update", floor_latencies)),
        "p50_ratio": common.ratio(
            common.percentile(latencies, 0.5), common.percentile(floor_latencies, 0.5)
        ),
        "p99_ratio": common.ratio(
            common.percentile(latencies, 0.99), common.percentile(floor_latencies, 0.99)
        ),
    }
