"""`lifecycle`: whole appointments, booking → the client confirms, the provider acknowledges →
reminder → check-in → complete (every step of the scheduling procedure), with compressed
policy durations, against a floor measured in the same run.

The floor is built from a real history of this run: a bare workflow with the same number of
activities (local ones included), timers and updates, the same mean payload sizes for
activity inputs and results, over the same wall-clock span. Throughput is lifecycles per
second from the first booking to the last result; the history of a sample of cases gives the
events per lifecycle.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import History
from temporalio.client import Client

from bench import common
from bench.floor import LifecycleFloor
from bench.stack import FLOOR_QUEUE, connect, floor_workers, promptly_workers, stack
from bench.updates import timed_update
from promptly.domain.appointments.models import (
    AcknowledgeInput,
    CheckInInput,
    CompleteInput,
    ConfirmInput,
)
from promptly.services.appointments import book
from promptly.workflows.appointment import AppointmentWorkflow

TIME_SCALE = 5e-4  # 50h → 90 s: every timer still fires, a loaded worker keeps up
AHEAD = timedelta(hours=50)
SAMPLES = 5  # histories read for the event count and the floor's plan

_ACTIVITY_EVENTS = (
    EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
    EventType.EVENT_TYPE_MARKER_RECORDED,
)


def plan_of(history: History) -> dict[str, float]:
    """What the floor must do to match this history: counts, payload sizes, span."""
    events = history.events
    inputs = [
        sum(p.ByteSize() for p in e.activity_task_scheduled_event_attributes.input.payloads)
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]
    results = [
        sum(p.ByteSize() for p in e.activity_task_completed_event_attributes.result.payloads)
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
    ]
    return {
        "activities": sum(1 for e in events if e.event_type in _ACTIVITY_EVENTS),
        "timers": sum(1 for e in events if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED),
        "updates": sum(
            1
            for e in events
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
        ),
        "payload_bytes": statistics.mean(inputs) if inputs else 0,
        "result_bytes": statistics.mean(results) if results else 0,
        "span_seconds": (
            events[-1].event_time.ToDatetime() - events[0].event_time.ToDatetime()
        ).total_seconds(),
    }


async def _sleep_until(moment: datetime) -> None:
    await asyncio.sleep(max((moment - datetime.now(UTC)).total_seconds(), 0))


async def _promptly(n: int, workers: int) -> tuple[dict[str, object], dict[str, float]]:
    latencies: list[float] = []
    with stack("lifecycle") as bench_stack:
        settings = bench_stack.settings(time_scale=TIME_SCALE)
        with promptly_workers(bench_stack, settings, workers) as running:
            client = await connect(bench_stack)

            async def one_lifecycle() -> Any:
                now = datetime.now(UTC)
                start = now + AHEAD * TIME_SCALE
                handle = await book(client, common.request(start), settings, now)
                await timed_update(
                    handle,
                    AppointmentWorkflow.confirm,
                    ConfirmInput(actor=common.CLIENT),
                    latencies,
                )
                await timed_update(
                    handle,
                    AppointmentWorkflow.acknowledge,
                    AcknowledgeInput(actor=common.PROVIDER),
                    latencies,
                )
                # Check-in opens 2h (scaled: 3.6 s) before the start; no-show 15 min (0.45 s) after.
                await _sleep_until(start - timedelta(seconds=2.5))
                await timed_update(
                    handle, AppointmentWorkflow.check_in, CheckInInput(actor=common.DESK), latencies
                )
                await _sleep_until(start + timedelta(seconds=0.01))
                await timed_update(
                    handle,
                    AppointmentWorkflow.complete,
                    CompleteInput(actor=common.DESK),
                    latencies,
                )
                await handle.result()
                return handle

            began = time.perf_counter()
            outcomes = await asyncio.gather(
                *(
                    asyncio.wait_for(one_lifecycle(), AHEAD.total_seconds() * TIME_SCALE * 3 + 300)
                    for _ in range(n)
                ),
                return_exceptions=True,
            )
            elapsed = time.perf_counter() - began
            running.check_alive()
            failures = [o for o in outcomes if isinstance(o, BaseException)]
            for failure in failures[:3]:
                common.note(f"lifecycle failed: {failure!r} {getattr(failure, 'cause', None)!r}")
            finished = [o for o in outcomes if not isinstance(o, BaseException)]
            histories = [await h.fetch_history() for h in finished[:SAMPLES]]
    plans = [plan_of(h) for h in histories]
    plan = {key: statistics.mean(p[key] for p in plans) for key in plans[0]}
    for key in ("activities", "timers", "updates"):
        plan[key] = round(plan[key])
    return (
        {
            "failed": len(failures),
            "wf_per_s": round(n / elapsed, 3),
            **common.summary("update", latencies),
            "events_per_lifecycle": round(statistics.mean(len(h.events) for h in histories), 1),
            "activities_per_lifecycle": plan["activities"],
            "timers_per_lifecycle": plan["timers"],
            "activity_input_bytes": round(plan["payload_bytes"]),
            "activity_result_bytes": round(plan["result_bytes"]),
            "lifecycle_span_s": round(plan["span_seconds"], 1),
        },
        plan,
    )


async def _floor(n: int, workers: int, plan: dict[str, float]) -> dict[str, object]:
    with stack("lifecycle-floor") as bench_stack:
        with floor_workers(bench_stack, bench_stack.settings(), workers):
            client: Client = await connect(bench_stack)

            async def one(index: int) -> None:
                handle = await client.start_workflow(
                    LifecycleFloor.run,
                    plan,
                    id=f"floor-{index}",
                    task_queue=FLOOR_QUEUE,
                    execution_timeout=timedelta(seconds=plan["span_seconds"] * 3 + 300),
                )
                for _ in range(int(plan["updates"])):
                    await handle.execute_update(LifecycleFloor.change, "x" * 200)
                await handle.result()

            began = time.perf_counter()
            await asyncio.gather(*(one(i) for i in range(n)))
            elapsed = time.perf_counter() - began
    return {"floor_wf_per_s": round(n / elapsed, 3)}


async def run(n: int, workers: int) -> dict[str, object]:
    promptly, plan = await _promptly(n, workers)
    floor = await _floor(n, workers, plan)
    return {
        "bench": "lifecycle",
        "n": n,
        "workers": workers,
        **promptly,
        **floor,
        "throughput_ratio": common.ratio(
            float(promptly["wf_per_s"]),  # type: ignore[arg-type]
            float(floor["floor_wf_per_s"]),  # type: ignore[arg-type]
        ),
    }
