"""Filing and steering complaint workflows; shared by the CLI, the API and the tests."""

from __future__ import annotations

from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair

from promptly.config import Settings
from promptly.domain.common import SYSTEM, Actor
from promptly.domain.complaints.models import (
    ComplaintRequest,
    ComplaintStatus,
    ComplaintView,
    complaint_workflow_id,
)
from promptly.services.cases import case_details, reached, start_case
from promptly.workflows.complaint import ComplaintWorkflow
from promptly.workflows.search_attributes import COMPLAINT_STATUS


async def file_complaint(
    client: Client, request: ComplaintRequest, settings: Settings, *, opened_by: Actor = SYSTEM
) -> WorkflowHandle[ComplaintWorkflow, ComplaintView]:
    """Start the complaint's workflow under its business id; refuses a duplicate.

    The request is a validated model, so bad input (unknown severity, empty description)
    never gets this far.
    """
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
