"""The floor of bench/lifecycle.py: a workflow with a given count of no-op activities and
timers, so the appointment's own cost can be told apart from Temporal's."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity, workflow

from promptly.domain.models import Model


class FloorInput(Model):
    activities: int
    timers: int
    span_seconds: float


@activity.defn
async def noop() -> None:
    return None


@workflow.defn
class FloorWorkflow:
    """The same count of activities and timers as an appointment, doing nothing."""

    @workflow.run
    async def run(self, plan: FloorInput) -> None:
        pause = timedelta(seconds=plan.span_seconds / max(plan.timers, 1))
        for index in range(max(plan.activities, plan.timers)):
            if index < plan.activities:
                await workflow.execute_activity(noop, start_to_close_timeout=timedelta(seconds=30))
            if index < plan.timers:
                await workflow.sleep(pause)
