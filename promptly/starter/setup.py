"""Prepares a Temporal namespace for Promptly: the typed search attributes of DESIGN.md §5,
and the schedules of the history archive and the retention purge."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from promptly.config import Settings
from promptly.domain.models import ArchiveRequest, PurgeRequest
from promptly.starter.report import QA_REPORT_SCHEDULE_ID, qa_report_schedule
from promptly.workflows.maintenance import ArchiveWorkflow, PurgeWorkflow

SEARCH_ATTRIBUTES: dict[str, IndexedValueType.ValueType] = {
    "AppointmentStatus": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "ComplaintStatus": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "ClientId": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "ProviderId": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "Department": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "AppointmentStart": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
    "SlaDeadline": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
    "SlaBreached": IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
    "EscalationLevel": IndexedValueType.INDEXED_VALUE_TYPE_INT,
}


def dev_server_flags() -> list[str]:
    """`temporal server start-dev` flags that register the same attributes at start."""
    names = {
        IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD: "Keyword",
        IndexedValueType.INDEXED_VALUE_TYPE_DATETIME: "Datetime",
        IndexedValueType.INDEXED_VALUE_TYPE_BOOL: "Bool",
        IndexedValueType.INDEXED_VALUE_TYPE_INT: "Int",
    }
    flags: list[str] = []
    for name, kind in SEARCH_ATTRIBUTES.items():
        flags += ["--search-attribute", f"{name}={names[kind]}"]
    return flags


async def register_search_attributes(client: Client, namespace: str) -> list[str]:
    """Add the attributes the namespace lacks; returns the names added (idempotent)."""
    try:
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace)
        )
        existing = set(listed.custom_attributes)
    except RPCError as err:
        # Temporal's time-skipping test server can add attributes but not list them.
        if err.status is not RPCStatusCode.UNIMPLEMENTED:
            raise
        existing = set()
    missing = {name: kind for name, kind in SEARCH_ATTRIBUTES.items() if name not in existing}
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
    return sorted(missing)


ARCHIVE_SCHEDULE_ID = "promptly-archive"
PURGE_SCHEDULE_ID = "promptly-purge"
ARCHIVE_EVERY = timedelta(hours=1)
PURGE_EVERY = timedelta(days=1)


def schedules(settings: Settings) -> dict[str, Schedule]:
    """The archive every hour, the purge every day; a run still going skips the next."""
    return {
        ARCHIVE_SCHEDULE_ID: Schedule(
            action=ScheduleActionStartWorkflow(
                ArchiveWorkflow.run,
                ArchiveRequest(),
                id=ARCHIVE_SCHEDULE_ID,
                task_queue=settings.task_queue,
                static_summary="Copy closed case histories into PostgreSQL",
            ),
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=ARCHIVE_EVERY)]),
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
            state=ScheduleState(note="history archive (DESIGN.md §5); created by promptly setup"),
        ),
        PURGE_SCHEDULE_ID: Schedule(
            action=ScheduleActionStartWorkflow(
                PurgeWorkflow.run,
                PurgeRequest(),
                id=PURGE_SCHEDULE_ID,
                task_queue=settings.task_queue,
                static_summary="Delete records and archives older than the retention",
            ),
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=PURGE_EVERY)]),
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
            state=ScheduleState(note="retention purge (DESIGN.md §5); created by promptly setup"),
        ),
        QA_REPORT_SCHEDULE_ID: qa_report_schedule(settings),
    }


async def ensure_schedules(client: Client, settings: Settings) -> list[str]:
    """Create the missing schedules, bring existing ones to the current definition (keeping
    whether an operator paused them); returns the ids created (idempotent)."""
    created = []
    for schedule_id, schedule in schedules(settings).items():
        try:
            await client.create_schedule(schedule_id, schedule)
            created.append(schedule_id)
        except ScheduleAlreadyRunningError:

            def keep_state(
                current: ScheduleUpdateInput, wanted: Schedule = schedule
            ) -> ScheduleUpdate:
                state = current.description.schedule.state
                return ScheduleUpdate(schedule=dataclasses.replace(wanted, state=state))

            await client.get_schedule_handle(schedule_id).update(keep_state)
    return created
