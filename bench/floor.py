"""The floors: bare Temporal workflows that do what an appointment does at its cheapest, so a
Promptly number is always read against what Temporal allows on the same server in the same run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import activity, workflow

ACTIVITY_TIMEOUT = timedelta(seconds=30)


@activity.defn
async def noop(payload: str, result_bytes: int) -> str:
    """Takes and returns payloads of the given sizes (the lifecycle floor's payload sizes)."""
    return "x" * result_bytes


@activity.defn
async def wall_clock() -> float:
    """When the activity ran: the floor's counterpart of a reminder's recorded send time."""
    return time.time()


@workflow.defn
class SleepFloor:
    """`burst`/`steady` floor: sleep to an instant, run one no-op activity."""

    @workflow.run
    async def run(self, due_epoch: float) -> float:
        due = datetime.fromtimestamp(due_epoch, UTC)
        await workflow.sleep(max(due - workflow.now(), timedelta(0)))
        return await workflow.execute_activity(wall_clock, start_to_close_timeout=ACTIVITY_TIMEOUT)

    @workflow.query
    def status(self) -> str:
        return "waiting"


@workflow.defn
class UpdateFloor:
    """`updates` floor: an open case whose update runs one no-op activity."""

    def __init__(self) -> None:
        self._done = False

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: self._done)
        await workflow.wait_condition(workflow.all_handlers_finished)

    @workflow.update
    async def change(self, payload: str) -> str:
        return await workflow.execute_activity(
            noop, args=[payload, len(payload)], start_to_close_timeout=ACTIVITY_TIMEOUT
        )

    @workflow.signal
    def finish(self) -> None:
        self._done = True


@workflow.defn
class LifecycleFloor:
    """`lifecycle` floor: an appointment's count of activities, timers and updates, with its
    payload sizes (measured from a real history), doing nothing."""

    def __init__(self) -> None:
        self._updates = 0

    @workflow.run
    async def run(self, plan: dict[str, float]) -> str:
        activities = int(plan["activities"])
        timers = int(plan["timers"])
        payload = "x" * int(plan["payload_bytes"])
        pause = timedelta(seconds=plan["span_seconds"] / max(timers, 1))
        for index in range(max(activities, timers)):
            if index < activities:
                await workflow.execute_activity(
                    noop,
                    args=[payload, int(plan["result_bytes"])],
                    start_to_close_timeout=ACTIVITY_TIMEOUT,
                )
            if index < timers:
                await workflow.sleep(pause)
        await workflow.wait_condition(lambda: self._updates >= int(plan["updates"]))
        await workflow.wait_condition(workflow.all_handlers_finished)
        return payload

    @workflow.update
    async def change(self, payload: str) -> str:
        self._updates += 1
        return payload


@workflow.defn
class TimerFloor:
    """`memory` floor: a trivial workflow holding one long timer."""

    @workflow.run
    async def run(self, seconds: float) -> None:
        await workflow.sleep(seconds)


FLOOR_WORKFLOWS = [SleepFloor, UpdateFloor, LifecycleFloor, TimerFloor]
FLOOR_ACTIVITIES: list[Callable[..., Any]] = [noop, wall_clock]
