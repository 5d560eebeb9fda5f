"""Recording inquiries and reading them; shared by the CLI, the API and the tests."""

from __future__ import annotations

from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair

from promptly.config import Settings
from promptly.domain.inquiries import (
    InquiryRequest,
    InquiryStatus,
    InquiryView,
    inquiry_workflow_id,
)
from promptly.services.cases import start_case
from promptly.workflows.inquiry import CLIENT_ID, INQUIRY_STATUS, InquiryWorkflow


async def record_inquiry(
    client: Client, request: InquiryRequest, settings: Settings
) -> WorkflowHandle[InquiryWorkflow, InquiryView]:
    """Start the inquiry's workflow under its business id; refuses a duplicate."""
    return await start_case(
        client,
        InquiryWorkflow.run,
        request,
        settings,
        workflow_id=request.workflow_id,
        exists="inquiry already recorded",
        search_attributes=[
            SearchAttributePair(INQUIRY_STATUS, InquiryStatus.OPEN.value),
            SearchAttributePair(CLIENT_ID, request.customer.id),
        ],
        summary=f"Inquiry {request.inquiry_id} · {request.subject[:60]} · "
        f"customer {request.customer.id}",
    )


def inquiry_handle(client: Client, inquiry_id: str) -> WorkflowHandle[InquiryWorkflow, InquiryView]:
    return client.get_workflow_handle_for(InquiryWorkflow.run, inquiry_workflow_id(inquiry_id))
