"""Recording inquiries and reading them; shared by the CLI, the API and the tests."""

from __future__ import annotations

from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from promptly.config import Settings
from promptly.domain.inquiries import (
    InquiryRequest,
    InquiryStatus,
    InquiryView,
    inquiry_workflow_id,
)
from promptly.workflows.inquiry import CLIENT_ID, INQUIRY_STATUS, InquiryWorkflow


class AlreadyReceived(Exception):
    """A workflow for this inquiry id exists; `workflow_id` points at it."""

    def __init__(self, workflow_id: str) -> None:
        super().__init__(f"inquiry already recorded: workflow {workflow_id} exists")
        self.workflow_id = workflow_id


async def record_inquiry(
    client: Client, request: InquiryRequest, settings: Settings
) -> WorkflowHandle[InquiryWorkflow, InquiryView]:
    """Start the inquiry's workflow under its business id; refuses a duplicate."""
    try:
        return await client.start_workflow(
            InquiryWorkflow.run,
            request,
            id=request.workflow_id,
            task_queue=settings.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(INQUIRY_STATUS, InquiryStatus.OPEN.value),
                    SearchAttributePair(CLIENT_ID, request.customer.id),
                ]
            ),
            static_summary=f"Inquiry {request.inquiry_id} · {request.subject[:60]} · "
            f"customer {request.customer.id}",
        )
    except WorkflowAlreadyStartedError as err:
        raise AlreadyReceived(request.workflow_id) from err


def inquiry_handle(client: Client, inquiry_id: str) -> WorkflowHandle[InquiryWorkflow, InquiryView]:
    return client.get_workflow_handle_for(InquiryWorkflow.run, inquiry_workflow_id(inquiry_id))
