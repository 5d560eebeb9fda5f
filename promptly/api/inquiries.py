"""HTTP routes for inquiries: record one, read it, answer or promote it, list them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from promptly.api.auth import BOOK, READ, Caller, require
from promptly.api.case_lists import equals, list_summaries, where
from promptly.api.case_reads import read_case
from promptly.api.case_updates import add_update_routes, case_id_path
from promptly.api.cases import start_case
from promptly.api.idempotency import IDEMPOTENCY_KEY
from promptly.domain.inquiries import InquiryRequest, InquiryStatus, InquiryView
from promptly.services.case_kinds import INQUIRY as INQUIRIES
from promptly.services.errors import AUTH_RESPONSES, CASE_RESPONSES, ErrorBody
from promptly.workflows.inquiry import CLIENT_ID, INQUIRY_STATUS, SLA_DEADLINE

# URL action → workflow update: the registry's (a new update is one line there).
INQUIRY_ACTIONS = INQUIRIES.updates


class InquiryCreated(BaseModel):
    inquiry_id: str
    workflow_id: str
    status_url: str
    created: bool = Field(description="false: the same inquiry was recorded already")
    case: InquiryView | None = None


class InquirySummary(BaseModel):
    inquiry_id: str
    workflow_id: str
    status: str | None
    client_id: str | None
    answer_deadline: datetime | None
    running: bool
    received_at: datetime | None
    status_url: str


class InquiryPage(BaseModel):
    items: list[InquirySummary]
    next_page_token: str | None


router = APIRouter(tags=["inquiries"])


@router.post(
    "/inquiries",
    status_code=201,
    response_model=InquiryCreated,
    dependencies=[IDEMPOTENCY_KEY],
    responses={
        **AUTH_RESPONSES,
        200: {"model": InquiryCreated, "description": "The same inquiry existed already"},
        409: {"model": ErrorBody, "description": "The id is recorded with different details"},
    },
)
async def record_inquiry_route(
    request: Request,
    response: Response,
    body: InquiryRequest,
    caller: Annotated[Caller, require(BOOK)],
) -> InquiryCreated:
    """Record: starts the inquiry's workflow (acknowledged at once, answer due in 24h)."""
    return InquiryCreated(**await start_case(request, response, INQUIRIES, body))


@router.get(
    "/inquiries/{inquiry_id}",
    response_model=InquiryView,
    responses=CASE_RESPONSES,
    name="get_inquiry",
)
async def get_inquiry(
    request: Request,
    response: Response,
    inquiry_id: Annotated[str, case_id_path(INQUIRIES)],
    caller: Annotated[Caller, require(READ)],
) -> InquiryView:
    """Status, answer deadline, alerts and the timeline (read from PostgreSQL like
    `GET /appointments/{id}`)."""
    view: InquiryView = await read_case(request, response, INQUIRIES, inquiry_id)
    return view


@router.get("/inquiries", response_model=InquiryPage, responses=CASE_RESPONSES)
async def list_inquiries(
    request: Request,
    caller: Annotated[Caller, require(READ)],
    status: InquiryStatus | None = None,
    client_id: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")] = None,
    page_size: Annotated[int, Query(ge=1, le=100)] = 50,
    page_token: Annotated[str | None, Query(max_length=4096)] = None,
) -> InquiryPage:
    """Inquiries from Temporal visibility, newest first."""
    query = where(
        "WorkflowType = 'InquiryWorkflow'",
        equals(INQUIRY_STATUS.name, status.value if status else None),
        equals(CLIENT_ID.name, client_id),
    )
    page = await list_summaries(
        request,
        INQUIRIES,
        query,
        page_size,
        page_token,
        started_as="received_at",
        status=INQUIRY_STATUS,
        client_id=CLIENT_ID,
        answer_deadline=SLA_DEADLINE,
    )
    return InquiryPage(**page)


add_update_routes(router, INQUIRIES)
