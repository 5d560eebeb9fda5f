"""`steady`: reminders falling due at a steady rate (5/s by default) for a while.

Each second the bench books `rate` appointments whose reminders fall due `LEAD` seconds later,
so bookings and reminders run side by side as in a clinic network's day. Lateness is the
reminder's recorded send time minus its planned time. The floor, at the same time on the same
server: bare workflows started at the same rate that sleep `LEAD` seconds and run one activity
that reads the clock.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from bench import common
from bench.floor import SleepFloor
from bench.stack import FLOOR_QUEUE, connect, floor_workers, promptly_workers, stack
from promptly.services.appointments import book

LEAD = 20.0  # seconds from booking to the reminder


async def run(rate: float, seconds: int, workers: int) -> dict[str, object]:
    """Promptly and the floor side by side on one server, each at `rate` per second."""
    count = int(rate * seconds)
    # Steps after the reminder (ack alert, response deadline) start after the whole run.
    scale = (LEAD + seconds + 120) / timedelta(hours=24).total_seconds()
    due_by_case: dict[str, datetime] = {}
    floor_lateness: list[float] = []
    with stack("steady") as bench_stack:
        settings = bench_stack.settings(time_scale=scale)
        before = settings.appointment_policy().reminder_before
        with (
            promptly_workers(bench_stack, settings, workers) as running,
            floor_workers(bench_stack, settings, workers),
        ):
            client = await connect(bench_stack)

            async def booking(_: int) -> None:
                due = datetime.now(UTC) + timedelta(seconds=LEAD)
                handle = await book(
                    client, common.request(due + before), settings, datetime.now(UTC)
                )
                due_by_case[handle.id] = due

            async def floor(index: int) -> None:
                due = time.time() + LEAD
                ran_at = await client.execute_workflow(
                    SleepFloor.run,
                    due,
                    id=f"floor-{index}",
                    task_queue=FLOOR_QUEUE,
                    execution_timeout=timedelta(seconds=LEAD + seconds + 300),
                )
                floor_lateness.append(ran_at - due)

            failures, _ = await asyncio.gather(
                common.paced(count, rate, booking), common.paced(count, rate, floor)
            )
            deadline = time.perf_counter() + LEAD + 120
            while time.perf_counter() < deadline:
                sent_so_far = await common.sent_count(bench_stack.database_url, "reminder")
                if sent_so_far >= len(due_by_case):
                    break
                await asyncio.sleep(1)
            running.check_alive()
            sent = await common.rows(
                bench_stack.database_url,
                f"SELECT case_id, {common.OUT_AT} FROM messages WHERE template = 'reminder'"
                f" AND {common.OUT}",
            )
    lateness = [(at - due_by_case[case]).total_seconds() for case, at in sent]
    return {
        "bench": "steady",
        "rate_per_s": rate,
        "seconds": seconds,
        "workers": workers,
        "reminders": count,
        "sent": len(lateness),
        "booking_failed": len(failures),
        **common.summary("lateness", lateness),
        **common.prefixed("floor_", common.summary("lateness", floor_lateness)),
        "p99_ratio": common.ratio(
            common.percentile(lateness, 0.99), common.percentile(floor_lateness, 0.99)
        ),
    }
