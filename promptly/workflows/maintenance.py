"""Housekeeping run by Temporal Schedules (`promptly setup` creates them): the history archive
and the retention purge (DESIGN.md §5). Orchestration only; the activities do the work."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from promptly.activities.archive import ArchiveActivities
    from promptly.domain.models import (
        ArchiveRequest,
        ArchiveResult,
        PurgeInput,
        PurgeRequest,
        PurgeResult,
    )

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
