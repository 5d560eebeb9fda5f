"""`steady`: reminders falling due at a steady rate (5/s by default) for a while.

Each second the bench books `rate` appointments whose reminders fall due `LEAD` seconds later,
so bookings and reminders run side by side as in a clinic network's day. Lateness is the
reminder's recorded send time minus its planned time. The floor: bare workflows started at the
same rate that sleep `LEAD` seconds and run one activity that reads the clock.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from temporalio.client import Client

from bench import common
from bench.floor import SleepFloor
from bench.stack import FLOOR_QUEUE, connect, floor_workers, promptly_workers, stack
from promptly.starter.appointments import book

LEAD = 20.0  # seconds from booking to the reminder


async def _promptly(rate: float, seconds: int, workers: int) -> dict[str, object]:
    count = int(rate * seconds)
    # Steps after the reminder (ack alert, response deadline) start after the whole run.
    scale = (LEAD + seconds + 120) / timedelta(hours=24).total_seconds()
    due_by_case: dict[str, datetime] = {}
    with stack("steady") as bench_stack:
        settings = bench_stack.settings(time_scale=scale)
        before = settings.appointment_policy().reminder_before
        with promptly_workers(bench_stack, settings, workers) as running:
            client = await connect(bench_stack)

            async def one(_: int) -> None:
                due = datetime.now(UTC) + timedelta(seconds=LEAD)
                handle = await book(
                    client, common.request(due + before), settings, datetime.now(UTC)
                )
                due_by_case[handle.id] = due

            failures = await common.paced(count, rate, one)
            deadline = time.perf_counter() + LEAD + 60
            while time.perf_counter() < deadline:
                sent_so_far = await common.sent_count(bench_stack.database_url, "reminder")
                if sent_so_far >= len(due_by_case):
                    break
                await asyncio.sleep(1)
            running.check_alive()
            sent = await common.rows(
                bench_stack.database_url,
                "SELECT case_id, sent_at FROM messages WHERE template = 'reminder'"
                " AND status = 'sent'",
            )
    lateness = [(at - due_by_case[case]).total_seconds() for case, at in sent]
    return {
        "reminders": count,
        "sent": len(lateness),
        "booking_failed": len(failures),
        **common.summary("lateness", lateness),
    }


async def _floor(rate: float, seconds: int, workers: int) -> dict[str, object]:
    lateness: list[float] = []
    with stack("steady-floor") as bench_stack:
        with floor_workers(bench_stack, bench_stack.settings(), workers):
            client: Client = await connect(bench_stack)

            async def one(index: int) -> None:
                due = time.time() + LEAD
                ran_at = await client.execute_workflow(
                    SleepFloor.run,
                    due,
                    id=f"floor-{index}",
                    task_queue=FLOOR_QUEUE,
                    execution_timeout=timedelta(seconds=LEAD + 120),
                )
                lateness.append(ran_at - due)

            await common.paced(int(rate * seconds), rate, one)
    return {f"floor_{k}": v for k, v in common.summary("lateness", lateness).items()}


async def run(rate: float, seconds: int, workers: int) -> dict[str, object]:
    promptly = await _promptly(rate, seconds, workers)
    floor = await _floor(rate, seconds, workers)
    return {
        "bench": "steady",
        "rate_per_s": rate,
        "seconds": seconds,
        "workers": workers,
        **promptly,
        **floor,
        "p99_ratio": common.ratio(
            float(promptly["lateness_p99_s"]),  # type: ignore[arg-type]
            float(floor["floor_lateness_p99_s"]),  # type: ignore[arg-type]
        ),
    }
