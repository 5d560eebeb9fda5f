"""HTTP routes for inquiries: record one, read it, answer or promote it (made from the
registry), list them by status and client."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query, Request
from pydantic import BaseModel

from promptly.api.auth import READ, Caller, require
from promptly.api.case_lists import Listing, equals, where
from promptly.api.cases import StartRoute, case_router
from promptly.domain.inquiries import InquiryStatus
from promptly.services.case_kinds import INQUIRY as INQUIRIES
from promptly.services.errors import CASE_RESPONSES
from promptly.workflows.inquiry import CLIENT_ID, INQUIRY_STATUS, SLA_DEADLINE

# URL action → workflow update: the registry's (a new update is one line there).
INQUIRY_ACTIONS = INQUIRIES.updates


router = case_router(
    INQUIRIES,
    StartRoute(
        "record_inquiry_route",
        "Record: starts the inquiry's workflow (acknowledged at once, answer due in 24h).",
        same="The same inquiry existed already",
        different="The id is recorded with different details",
    ),
    "Status, answer deadline, alerts and the timeline (read from PostgreSQL like "
    "`GET /appointments/{id}`).",
)


LISTING = Listing(
    INQUIRIES,
    "received_at",
    status=INQUIRY_STATUS,
    client_id=CLIENT_ID,
    answer_deadline=SLA_DEADLINE,
)


@router.get("/inquiries", response_model=LISTING.page_model, responses=CASE_RESPONSES)
async def list_inquiries(
    request: Request,
    caller: Annotated[Caller, require(READ)],
    status: InquiryStatus | None = None,
    client_id: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")] = None,
    page_size: Annotated[int, Query(ge=1, le=100)] = 50,
    page_token: Annotated[str | None, Query(max_length=4096)] = None,
) -> BaseModel:
    """Inquiries from Temporal visibility, newest first."""
    query = where(
        "WorkflowType = 'InquiryWorkflow'",
        equals(INQUIRY_STATUS.name, status.value if status else None),
        equals(CLIENT_ID.name, client_id),
    )
    return await LISTING.page(request, query, page_size, page_token)
