"""Prepares a Temporal namespace for Promptly: checks the namespace (creating it on request),
registers the typed search attributes of DESIGN.md §5, and the schedules of the history
archive, the retention purge, the weekly QA report and, when webhook URLs are configured,
the webhook dispatcher."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from datetime import timedelta
from typing import Any

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.api.workflowservice.v1 import (
    CountWorkflowExecutionsRequest,
    DescribeNamespaceRequest,
    RegisterNamespaceRequest,
)
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from promptly.config import Settings
from promptly.domain.maintenance import ArchiveRequest, PurgeRequest, QaReportRequest
from promptly.domain.webhooks import WebhookDispatchRequest
from promptly.workflows.maintenance import ArchiveWorkflow, PurgeWorkflow, WebhookDispatchWorkflow
from promptly.workflows.report import QaReportWorkflow

log = logging.getLogger("promptly.setup")

SEARCH_ATTRIBUTES: dict[str, IndexedValueType.ValueType] = {
    "AppointmentStatus": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "ComplaintStatus": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "InquiryStatus": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "ClientId": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "ProviderId": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "Department": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "AppointmentStart": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
    "SlaDeadline": IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
    "SlaBreached": IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
    "EscalationLevel": IndexedValueType.INDEXED_VALUE_TYPE_INT,
    "NeedsAttention": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
}


class NamespaceProblem(Exception):
    """The namespace cannot host Promptly as it is; the message says what to do."""


@dataclasses.dataclass(frozen=True)
class NamespaceCheck:
    namespace: str
    created: bool
    retention: timedelta | None  # how long Temporal keeps closed histories; None: forever
    warnings: tuple[str, ...]


# The archive copies closed histories hourly; Temporal must keep them long enough for a
# failed archive run to be retried, or a case closes without its history in PostgreSQL.
MIN_NAMESPACE_RETENTION = timedelta(days=1)
NEW_NAMESPACE_WAIT = timedelta(seconds=60)


async def check_namespace(
    client: Client, namespace: str, *, create_with_retention: timedelta | None = None
) -> NamespaceCheck:
    """Describe `namespace`; register it first when it is missing and `create_with_retention`
    is given (self-hosted clusters; Temporal Cloud namespaces are made in its console)."""
    created = False
    try:
        described = await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=namespace)
        )
    except RPCError as err:
        if err.status is not RPCStatusCode.NOT_FOUND:
            raise
        if create_with_retention is None:
            raise NamespaceProblem(
                f"namespace {namespace!r} does not exist on this cluster: create it (promptly "
                "setup --create-namespace on a self-hosted cluster, the Cloud console on "
                "Temporal Cloud) or set PROMPTLY_TEMPORAL_NAMESPACE"
            ) from err
        request = RegisterNamespaceRequest(
            namespace=namespace, description="Promptly appointments and complaints"
        )
        request.workflow_execution_retention_period.FromTimedelta(create_with_retention)
        await client.workflow_service.register_namespace(request)
        await _until_served(client, namespace)
        described = await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace=namespace)
        )
        created = True
    config = described.config
    retention = (
        config.workflow_execution_retention_ttl.ToTimedelta()
        if config.HasField("workflow_execution_retention_ttl")
        else None
    )
    warnings = []
    if retention is not None and timedelta(0) < retention < MIN_NAMESPACE_RETENTION:
        warnings.append(
            f"namespace retention {retention} is under {MIN_NAMESPACE_RETENTION.days} day: "
            "a closed case may leave Temporal before the hourly archive copies it"
        )
    return NamespaceCheck(namespace, created, retention, tuple(warnings))


async def _until_served(
    client: Client, namespace: str, within: timedelta = NEW_NAMESPACE_WAIT
) -> None:
    """A new namespace reaches the frontends' namespace cache some seconds after it is
    registered; until then every other call on it answers NOT_FOUND."""
    deadline = asyncio.get_running_loop().time() + within.total_seconds()
    while True:
        try:
            await client.workflow_service.count_workflow_executions(
                CountWorkflowExecutionsRequest(namespace=namespace)
            )
            return
        except RPCError as err:
            if err.status is not RPCStatusCode.NOT_FOUND:
                raise
            if asyncio.get_running_loop().time() > deadline:
                raise NamespaceProblem(
                    f"namespace {namespace!r} was registered but is not served after {within}"
                ) from err
        await asyncio.sleep(0.5)


def dev_server_flags() -> list[str]:
    """`temporal server start-dev` flags that register the same attributes at start."""
    names = {
        IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD: "Keyword",
        IndexedValueType.INDEXED_VALUE_TYPE_DATETIME: "Datetime",
        IndexedValueType.INDEXED_VALUE_TYPE_BOOL: "Bool",
        IndexedValueType.INDEXED_VALUE_TYPE_INT: "Int",
        IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST: "KeywordList",
    }
    flags: list[str] = []
    for name, kind in SEARCH_ATTRIBUTES.items():
        flags += ["--search-attribute", f"{name}={names[kind]}"]
    return flags


async def missing_search_attributes(
    client: Client, namespace: str, *, timeout: timedelta | None = None
) -> list[str] | None:
    """The attributes of `SEARCH_ATTRIBUTES` the namespace lacks, by name; None when the
    server cannot list them (Temporal's time-skipping test server).

    Without one, every workflow task that upserts it fails (BadSearchAttributes) and its case
    stops, and a visibility query naming it is refused: `/health` and the lists say so."""
    try:
        listed = await client.operator_service.list_search_attributes(
            ListSearchAttributesRequest(namespace=namespace), timeout=timeout
        )
    except RPCError as err:
        if err.status is not RPCStatusCode.UNIMPLEMENTED:
            raise
        return None
    existing = set(listed.custom_attributes)
    return sorted(name for name in SEARCH_ATTRIBUTES if name not in existing)


def search_attributes_missing(namespace: str, missing: list[str]) -> str:
    """What an operator reads when `missing` are not registered: the names and the remedy."""
    return (
        f"search attributes not registered on namespace {namespace!r}: {', '.join(missing)} "
        "(run `promptly setup`)"
    )


async def refused_for_missing_attributes(client: Client) -> str | None:
    """Why Temporal refused a visibility query (INVALID_ARGUMENT) that names search
    attributes, when the namespace lacks some (a release deployed before `promptly setup`):
    not the query's filter. None: the namespace has them all, or will not list them."""
    try:
        missing = await missing_search_attributes(
            client, client.namespace, timeout=timedelta(seconds=3)
        )
    except RPCError:
        return None
    return search_attributes_missing(client.namespace, missing) if missing else None


class SearchAttributesMissing(NamespaceProblem):
    """The namespace lacks search attributes the workflows set: a worker would fail every
    workflow task that sets one, so it does not start."""


async def require_search_attributes(client: Client) -> None:
    """Raise SearchAttributesMissing, naming them and `promptly setup`, when the client's
    namespace lacks some; a server that does not list them (or refuses to) is not doubted."""
    try:
        missing = await missing_search_attributes(
            client, client.namespace, timeout=timedelta(seconds=10)
        )
    except RPCError as err:
        log.warning(
            "cannot list the search attributes of namespace %r (%s): not checked",
            client.namespace,
            err.message,
        )
        return
    if missing:
        raise SearchAttributesMissing(
            f"{search_attributes_missing(client.namespace, missing)}: every case that sets "
            "one would stop on a failing workflow task"
        )


async def register_search_attributes(client: Client, namespace: str) -> list[str]:
    """Add the attributes the namespace lacks; returns the names added (idempotent)."""
    listed = await missing_search_attributes(client, namespace)
    # Temporal's time-skipping test server can add attributes but not list them.
    names = list(SEARCH_ATTRIBUTES) if listed is None else listed
    missing = {name: SEARCH_ATTRIBUTES[name] for name in names}
    if missing:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
    return sorted(missing)


ARCHIVE_SCHEDULE_ID = "promptly-archive"
PURGE_SCHEDULE_ID = "promptly-purge"
ARCHIVE_EVERY = timedelta(hours=1)
PURGE_EVERY = timedelta(days=1)
WEBHOOK_SCHEDULE_ID = "promptly-webhooks"
# Each run polls for ~50s, so one dispatcher is nearly always alive (overlap SKIP: never two).
WEBHOOK_EVERY = timedelta(minutes=1)


def _every(
    every: timedelta,
    workflow: Any,
    argument: object,
    schedule_id: str,
    task_queue: str,
    *,
    summary: str,
    note: str,
) -> Schedule:
    """Start `workflow` every `every`; a run still going skips the next."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            workflow, argument, id=schedule_id, task_queue=task_queue, static_summary=summary
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
        state=ScheduleState(note=f"{note}; created by promptly setup"),
    )


def schedules(settings: Settings) -> dict[str, Schedule]:
    """The archive every hour, the purge every day, the QA report weekly and, with webhook URLs
    configured, the webhook dispatcher every minute."""
    queue = settings.task_queue
    found = {
        ARCHIVE_SCHEDULE_ID: _every(
            ARCHIVE_EVERY,
            ArchiveWorkflow.run,
            ArchiveRequest(),
            ARCHIVE_SCHEDULE_ID,
            queue,
            summary="Copy closed case histories into PostgreSQL",
            note="history archive (DESIGN.md §5)",
        ),
        PURGE_SCHEDULE_ID: _every(
            PURGE_EVERY,
            PurgeWorkflow.run,
            PurgeRequest(),
            PURGE_SCHEDULE_ID,
            queue,
            summary="Delete records and archives older than the retention",
            note="retention purge (DESIGN.md §5)",
        ),
        QA_REPORT_SCHEDULE_ID: qa_report_schedule(settings),
    }
    if settings.webhook_urls:
        found[WEBHOOK_SCHEDULE_ID] = _every(
            WEBHOOK_EVERY,
            WebhookDispatchWorkflow.run,
            WebhookDispatchRequest(),
            WEBHOOK_SCHEDULE_ID,
            queue,
            summary="POST case status changes to the back-office webhooks",
            note="webhook dispatcher (PROMPTLY_WEBHOOK_URLS)",
        )
    return found


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


QA_REPORT_SCHEDULE_ID = "promptly-qa-report"


def qa_report_schedule(settings: Settings) -> Schedule:
    """Every Monday 07:00 office time: last week's report mailed to the supervisors."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            QaReportWorkflow.run,
            QaReportRequest(),
            id=QA_REPORT_SCHEDULE_ID,
            task_queue=settings.task_queue,
            static_summary="Mail last week's QA report to the supervisors",
        ),
        spec=ScheduleSpec(
            calendars=[
                ScheduleCalendarSpec(
                    day_of_week=[ScheduleRange(1)],  # 0 is Sunday
                    hour=[ScheduleRange(7)],
                    comment="Mondays 07:00",
                )
            ],
            time_zone_name=settings.office_timezone,
        ),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
        state=ScheduleState(note="weekly QA report (SOP review); created by promptly setup"),
    )
