"""Filing and steering complaint workflows; shared by the CLI, the API and the tests."""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair
from temporalio.service import RPCError, RPCStatusCode

from promptly.config import Settings
from promptly.domain.appointments.models import appointment_workflow_id
from promptly.domain.common import SYSTEM, Actor
from promptly.domain.complaints.models import (
    ComplaintRequest,
    ComplaintStatus,
    ComplaintView,
    complaint_workflow_id,
)
from promptly.services.case_views import one_connection
from promptly.services.cases import CaseExists, case_details, reached, start_case
from promptly.workflows.complaint import ComplaintWorkflow
from promptly.workflows.search_attributes import CLIENT_ID, COMPLAINT_STATUS


class ComplaintRejected(ValueError):
    """A complaint that must not start; the message names the field and the reason."""


async def _visit_client(client: Client, pool: AsyncConnectionPool, workflow_id: str) -> str | None:
    """Whose visit `workflow_id` is, from the records; None when there is no such visit.

    PostgreSQL first: its case row outlives the workflow (Temporal's retention deletes a closed
    history within days; the row stays the retention period, ≥ 6 months, or while held). Then
    Temporal, for a booking whose first save has not run yet: its `ClientId` attribute."""
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT client_id FROM cases WHERE case_id = %s AND kind = 'appointment'",
            (workflow_id,),
        )
        row = await cursor.fetchone()
    if row is not None:
        return str(row[0])
    try:
        described = await client.get_workflow_handle(workflow_id).describe()
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            return None
        raise
    return described.typed_search_attributes.get(CLIENT_ID)


async def _filed(client: Client, workflow_id: str) -> bool:
    """Whether Temporal holds a complaint under `workflow_id` (open or closed, retained)."""
    try:
        await client.get_workflow_handle(workflow_id).describe()
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def appointment_problem(
    client: Client, pool: AsyncConnectionPool, request: ComplaintRequest
) -> str | None:
    """Why the complaint's `appointment_id` cannot be this customer's visit, or None (none
    named, or the customer's own, however long ago, as long as its record is kept)."""
    appointment_id = request.appointment_id
    if appointment_id is None:
        return None
    owner = await _visit_client(client, pool, appointment_workflow_id(appointment_id))
    if owner is None:
        return (
            f"no appointment {appointment_id} is on record (a visit past the retention period "
            "is no longer kept: file the complaint without appointment_id and describe the visit)"
        )
    if owner != request.customer.id:
        return f"appointment {appointment_id} is not customer {request.customer.id}'s visit"
    return None


async def file_complaint(
    client: Client,
    request: ComplaintRequest,
    settings: Settings,
    *,
    opened_by: Actor = SYSTEM,
    pool: AsyncConnectionPool | None = None,
) -> WorkflowHandle[ComplaintWorkflow, ComplaintView]:
    """Start the complaint's workflow under its business id; refuses a duplicate
    (`CaseExists`) and an `appointment_id` that is unknown or another client's visit
    (`ComplaintRejected`), read through `pool` (else one connection of its own).

    The request is a validated model, so bad input (unknown severity, empty description)
    never gets this far. A complaint already filed is `CaseExists` before its visit is looked
    up: a repeat after the visit's record was purged is still "already filed", not bad input.
    """
    if request.appointment_id is not None:
        if await _filed(client, request.workflow_id):
            raise CaseExists("complaint already filed", request.workflow_id)
        if pool is None:
            async with one_connection(settings.database_url) as own:
                problem = await appointment_problem(client, own, request)
        else:
            problem = await appointment_problem(client, pool, request)
        if problem is not None:
            raise ComplaintRejected(f"appointment_id: {problem}")
    return await start_case(
        client,
        ComplaintWorkflow.run,
        request,
        settings,
        opened_by=opened_by,
        exists="complaint already filed",
        status=SearchAttributePair(COMPLAINT_STATUS, ComplaintStatus.OPEN.value),
        client_id=request.customer.id,
        summary=f"Complaint {request.complaint_id} · {request.category} · "
        f"{request.severity.value} · customer {request.customer.id}",
        details=case_details(
            "Complaint",
            request.complaint_id,
            {
                "category": request.category,
                "severity": request.severity.value,
                "received via": request.received_via.value,
                "customer": reached(request.customer),
                "appointment": request.appointment_id,
            },
        ),
    )


def complaint_handle(
    client: Client, complaint_id: str
) -> WorkflowHandle[ComplaintWorkflow, ComplaintView]:
    return client.get_workflow_handle_for(
        ComplaintWorkflow.run, complaint_workflow_id(complaint_id)
    )
