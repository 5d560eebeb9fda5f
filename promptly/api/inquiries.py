"""HTTP routes for inquiries: record one, read it, answer or promote it, list them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field
from temporalio.client import Client, WorkflowExecutionStatus

from promptly.api.auth import BOOK, READ, Caller, require
from promptly.api.case_reads import read_case
from promptly.api.cases import (
    Action,
    CaseKindApi,
    add_action_routes,
    case_id_path,
    equals,
    list_page,
    start_case,
    where,
)
from promptly.api.idempotency import IDEMPOTENCY_KEY
from promptly.domain.inquiries import (
    AnswerInquiryInput,
    InquiryRequest,
    InquiryStatus,
    InquiryView,
    PromoteInquiryInput,
    inquiry_workflow_id,
)
from promptly.services.errors import AUTH_RESPONSES, CASE_RESPONSES, ErrorBody
from promptly.services.inquiries import record_inquiry
from promptly.workflows.inquiry import CLIENT_ID, INQUIRY_STATUS, SLA_DEADLINE, InquiryWorkflow

INQUIRY_ACTIONS: dict[str, Action] = {
    "answer": Action(InquiryWorkflow.answer, AnswerInquiryInput, "Send the answer to the customer"),
    "promote": Action(InquiryWorkflow.promote, PromoteInquiryInput, "It is a complaint: file one"),
}

INQUIRIES = CaseKindApi(
    noun="inquiry",
    plural="inquiries",
    id_field="inquiry_id",
    run=InquiryWorkflow.run,
    status_query=InquiryWorkflow.status,
    workflow_id=inquiry_workflow_id,
    request_model=InquiryRequest,
    view_model=InquiryView,
    actions=INQUIRY_ACTIONS,
)


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
    client: Client = request.app.state.client
    started = await start_case(
        request,
        response,
        INQUIRIES,
        body,
        lambda: record_inquiry(client, body, request.app.state.settings),
    )
    return InquiryCreated(
        inquiry_id=body.inquiry_id,
        workflow_id=body.workflow_id,
        status_url=started.status_url,
        created=started.created,
        case=started.case,
    )


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
    executions, next_token = await list_page(request, query, page_size, page_token)
    items = []
    for execution in executions:
        attributes = execution.typed_search_attributes
        inquiry_id = execution.id.removeprefix("inquiry-")
        items.append(
            InquirySummary(
                inquiry_id=inquiry_id,
                workflow_id=execution.id,
                status=attributes.get(INQUIRY_STATUS),
                client_id=attributes.get(CLIENT_ID),
                answer_deadline=attributes.get(SLA_DEADLINE),
                running=execution.status is WorkflowExecutionStatus.RUNNING,
                received_at=execution.start_time,
                status_url=str(request.app.url_path_for("get_inquiry", inquiry_id=inquiry_id)),
            )
        )
    return InquiryPage(items=items, next_page_token=next_token)


add_action_routes(router, INQUIRIES)
