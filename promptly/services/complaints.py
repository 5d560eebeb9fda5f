"""Filing and steering complaint workflows; shared by the CLI, the API and the tests."""

from __future__ import annotations

from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from promptly.config import Settings
from promptly.domain.complaints.models import (
    ComplaintRequest,
    ComplaintStatus,
    ComplaintView,
    complaint_workflow_id,
)
from promptly.workflows.complaint import CLIENT_ID, COMPLAINT_STATUS, ComplaintWorkflow


class AlreadyFiled(Exception):
    """A workflow for this complaint id exists; `workflow_id` points at it."""

    def __init__(self, workflow_id: str) -> None:
        super().__init__(f"complaint already filed: workflow {workflow_id} exists")
        self.workflow_id = workflow_id


async def file_complaint(
    client: Client, request: ComplaintRequest, settings: Settings
) -> WorkflowHandle[ComplaintWorkflow, ComplaintView]:
    """Start the complaint's workflow under its business id; refuses a duplicate.

    The request is a validated model, so bad input (unknown severity, empty description)
    never gets this far.
    """
    try:
        return await client.start_workflow(
            ComplaintWorkflow.run,
            request,
            id=request.workflow_id,
            task_queue=settings.task_queue,
            # The id is the business key for as long as the history is retained.
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(COMPLAINT_STATUS, ComplaintStatus.OPEN.value),
                    SearchAttributePair(CLIENT_ID, request.customer.id),
                ]
            ),
            static_summary=f"Complaint {request.complaint_id} · {request.category} · "
            f"{request.severity.value} · customer {request.customer.id}",
            static_details=f"Complaint **{request.complaint_id}**\n\n"
            f"- category: {request.category}\n- severity: {request.severity.value}\n"
            f"- received via: {request.received_via.value}\n"
            f"- customer: {request.customer.id} via {request.customer.preferred_channel.value}"
            + (f"\n- appointment: {request.appointment_id}" if request.appointment_id else ""),
        )
    except WorkflowAlreadyStartedError as err:
        raise AlreadyFiled(request.workflow_id) from err


def complaint_handle(
    client: Client, complaint_id: str
) -> WorkflowHandle[ComplaintWorkflow, ComplaintView]:
    return client.get_workflow_handle_for(
        ComplaintWorkflow.run, complaint_workflow_id(complaint_id)
    )
