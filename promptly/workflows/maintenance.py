"""Housekeeping run by Temporal Schedules (`promptly setup` creates them): the history archive
and the retention purge (DESIGN.md §5), and the webhook dispatcher when webhooks are
configured. Orchestration only; the activities do the work."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from promptly.activities.archive import ArchiveActivities
    from promptly.activities.webhooks import WebhookActivities
    from promptly.domain.maintenance import (
        ArchiveRequest,
        ArchiveResult,
        PurgeInput,
        PurgeRequest,
        PurgeResult,
    )
    from promptly.domain.webhooks import WebhookDispatchRequest, WebhookDispatchResult

RETRY = RetryPolicy(maximum_interval=timedelta(minutes=5), maximum_attempts=10)


@workflow.defn
class ArchiveWorkflow:
    @workflow.run
    async def run(self, request: ArchiveRequest) -> ArchiveResult:
        workflow.set_current_details("copying closed case histories into PostgreSQL")
        return await workflow.execute_activity_method(
            ArchiveActivities.archive_closed_histories,
            request,
            start_to_close_timeout=timedelta(hours=1),
            heartbeat_timeout=timedelta(minutes=2),
            retry_policy=RETRY,
            summary="archive closed histories",
        )


@workflow.defn
class PurgeWorkflow:
    @workflow.run
    async def run(self, request: PurgeRequest) -> PurgeResult:
        now = request.now or workflow.now()
        workflow.set_current_details(f"deleting what closed longer than retention before {now}")
        return await workflow.execute_activity_method(
            ArchiveActivities.purge_expired,
            PurgeInput(now=now),
            start_to_close_timeout=timedelta(minutes=30),
            retry_policy=RETRY,
            summary="purge records older than the retention",
        )


# A dispatcher that fails is replaced by the next scheduled one within a minute: retry briefly.
WEBHOOK_RETRY = RetryPolicy(maximum_interval=timedelta(seconds=10), maximum_attempts=3)


@workflow.defn
class WebhookDispatchWorkflow:
    """One short-lived dispatcher a minute (promptly/activities/webhooks.py says why)."""

    @workflow.run
    async def run(self, request: WebhookDispatchRequest) -> WebhookDispatchResult:
        workflow.set_current_details("POSTing case status changes to the back-office webhooks")
        return await workflow.execute_activity_method(
            WebhookActivities.deliver_webhooks,
            request,
            # Polling for run_for, plus the last batch of POSTs.
            start_to_close_timeout=request.run_for + timedelta(minutes=2),
            # Heartbeats come every poll; a silent minute means the worker is gone.
            heartbeat_timeout=timedelta(minutes=1),
            retry_policy=WEBHOOK_RETRY,
            summary="deliver webhooks",
        )
