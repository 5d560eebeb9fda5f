"""Recording an inquiry: its workflow started under its business id (the case-kind registry
in promptly/services/case_kinds.py reads it)."""

from __future__ import annotations

from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair

from promptly.config import Settings
from promptly.domain.inquiries import InquiryRequest, InquiryStatus, InquiryView
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
