"""Recording an inquiry: its workflow started under its business id (the case-kind registry
in promptly/services/case_kinds.py reads it)."""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool
from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair

from promptly.config import Settings
from promptly.domain.common import SYSTEM, Actor
from promptly.domain.inquiries.models import InquiryRequest, InquiryStatus, InquiryView
from promptly.services.cases import case_details, reached, start_case
from promptly.workflows.inquiry import InquiryWorkflow
from promptly.workflows.search_attributes import INQUIRY_STATUS


async def record_inquiry(
    client: Client,
    request: InquiryRequest,
    settings: Settings,
    *,
    opened_by: Actor = SYSTEM,
    pool: AsyncConnectionPool | None = None,  # nothing to check in the records
) -> WorkflowHandle[InquiryWorkflow, InquiryView]:
    """Start the inquiry's workflow under its business id; refuses a duplicate."""
    return await start_case(
        client,
        InquiryWorkflow.run,
        request,
        settings,
        opened_by=opened_by,
        exists="inquiry already recorded",
        status=SearchAttributePair(INQUIRY_STATUS, InquiryStatus.OPEN.value),
        client_id=request.customer.id,
        summary=f"Inquiry {request.inquiry_id} · {request.subject[:60]} · "
        f"customer {request.customer.id}",
        details=case_details(
            "Inquiry",
            request.inquiry_id,
            {
                "subject": request.subject,
                "received via": request.received_via.value,
                "customer": reached(request.customer),
            },
        ),
    )
