"""The complaint routes: file (idempotent by business id), the status, the list from
Temporal visibility, and one POST per update (`COMPLAINT_ACTIONS`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import AwareDatetime, BaseModel, Field
from temporalio.client import Client, WorkflowExecutionStatus

from promptly.api.auth import BOOK, READ, Caller, require
from promptly.api.case_reads import read_case
from promptly.api.cases import (
    Action,
    BusinessIdQuery,
    CaseKindApi,
    add_action_routes,
    at_or_after,
    before,
    case_id_path,
    equals,
    list_page,
    start_case,
    where,
)
from promptly.api.idempotency import IDEMPOTENCY_KEY
from promptly.domain.complaints.models import (
    AddNoteInput,
    AssignInput,
    CloseComplaintInput,
    ComplaintRequest,
    ComplaintStatus,
    ComplaintView,
    CustomerVerdictInput,
    HoldInput,
    ProposeResolutionInput,
    ResumeInput,
    complaint_workflow_id,
)
from promptly.services.complaints import file_complaint
from promptly.services.errors import (
    AUTH_RESPONSES,
    CASE_RESPONSES,
    ErrorBody,
)
from promptly.workflows.appointment import (
    CLIENT_ID,
)
from promptly.workflows.complaint import (
    COMPLAINT_STATUS,
    DEPARTMENT,
    ESCALATION_LEVEL,
    SLA_BREACHED,
    SLA_DEADLINE,
    ComplaintWorkflow,
)

COMPLAINT_ACTIONS: dict[str, Action] = {
    "assign": Action(ComplaintWorkflow.assign, AssignInput, "Give the case an owner"),
    "add_note": Action(ComplaintWorkflow.add_note, AddNoteInput, "Internal or customer note"),
    "hold": Action(ComplaintWorkflow.hold, HoldInput, "Waiting on the customer: clock stops"),
    "resume": Action(ComplaintWorkflow.resume, ResumeInput, "The customer answered"),
    "propose_resolution": Action(
        ComplaintWorkflow.propose_resolution, ProposeResolutionInput, "Propose a resolution"
    ),
    "customer_verdict": Action(
        ComplaintWorkflow.customer_verdict,
        CustomerVerdictInput,
        "Satisfied: closed; not satisfied: reopened",
    ),
    "close": Action(ComplaintWorkflow.close, CloseComplaintInput, "A supervisor closes it"),
}

COMPLAINTS = CaseKindApi(
    noun="complaint",
    plural="complaints",
    id_field="complaint_id",
    run=ComplaintWorkflow.run,
    status_query=ComplaintWorkflow.status,
    workflow_id=complaint_workflow_id,
    request_model=ComplaintRequest,
    view_model=ComplaintView,
    actions=COMPLAINT_ACTIONS,
)


class ComplaintCreated(BaseModel):
    complaint_id: str
    workflow_id: str
    status_url: str
    created: bool = Field(description="false: the same complaint was filed already")
    case: ComplaintView | None = Field(
        default=None, description="the existing case's status (when `created` is false)"
    )


class ComplaintSummary(BaseModel):
    complaint_id: str
    workflow_id: str
    status: str | None
    department: str | None
    client_id: str | None
    sla_deadline: datetime | None
    sla_breached: bool | None
    escalation_level: int | None
    running: bool
    filed_at: datetime | None
    status_url: str


class ComplaintPage(BaseModel):
    items: list[ComplaintSummary]
    next_page_token: str | None = Field(description="pass as page_token for the next page")


complaints = APIRouter(tags=["complaints"])


@complaints.post(
    "/complaints",
    status_code=201,
    response_model=ComplaintCreated,
    dependencies=[IDEMPOTENCY_KEY],
    responses={
        **AUTH_RESPONSES,
        200: {"model": ComplaintCreated, "description": "The same complaint existed already"},
        409: {"model": ErrorBody, "description": "The id is filed with different details"},
    },
)
async def file_complaint_route(
    request: Request,
    response: Response,
    body: ComplaintRequest,
    caller: Annotated[Caller, require(BOOK)],
) -> ComplaintCreated:
    """File: starts the complaint's workflow under its business id (acknowledged at once).

    Idempotent like booking: same body 200, different body under the same id 409.
    """
    client: Client = request.app.state.client
    started = await start_case(
        request,
        response,
        COMPLAINTS,
        body,
        lambda: file_complaint(client, body, request.app.state.settings),
    )
    return ComplaintCreated(
        complaint_id=body.complaint_id,
        workflow_id=body.workflow_id,
        status_url=started.status_url,
        created=started.created,
        case=started.case,
    )


@complaints.get(
    "/complaints/{complaint_id}",
    response_model=ComplaintView,
    responses=CASE_RESPONSES,
    name="get_complaint",
)
async def get_complaint(
    request: Request,
    response: Response,
    complaint_id: Annotated[str, case_id_path(COMPLAINTS)],
    caller: Annotated[Caller, require(READ)],
) -> ComplaintView:
    """Status, department, SLA deadline, escalation level and the timeline (read from
    PostgreSQL like `GET /appointments/{id}`)."""
    view: ComplaintView = await read_case(request, response, COMPLAINTS, complaint_id)
    return view


@complaints.get("/complaints", response_model=ComplaintPage, responses=CASE_RESPONSES)
async def list_complaints(
    request: Request,
    caller: Annotated[Caller, require(READ)],
    status: ComplaintStatus | None = None,
    department: Annotated[
        str | None, Query(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$", description="e.g. billing")
    ] = None,
    client_id: Annotated[BusinessIdQuery | None, Query()] = None,
    breached: Annotated[bool | None, Query(description="SLA breached")] = None,
    filed_from: Annotated[
        AwareDatetime | None, Query(alias="from", description="filed at or after")
    ] = None,
    filed_to: Annotated[AwareDatetime | None, Query(alias="to", description="filed before")] = None,
    page_size: Annotated[int, Query(ge=1, le=100)] = 50,
    page_token: Annotated[str | None, Query(max_length=4096)] = None,
) -> ComplaintPage:
    """Complaints from Temporal visibility (search attributes), newest first."""
    query = where(
        "WorkflowType = 'ComplaintWorkflow'",
        equals(COMPLAINT_STATUS.name, status.value if status else None),
        equals(DEPARTMENT.name, department),
        equals(CLIENT_ID.name, client_id),
        None if breached is None else f"{SLA_BREACHED.name} = {str(breached).lower()}",
        at_or_after("StartTime", filed_from),
        before("StartTime", filed_to),
    )
    executions, next_token = await list_page(request, query, page_size, page_token)
    items = []
    for execution in executions:
        attributes = execution.typed_search_attributes
        complaint_id = execution.id.removeprefix("complaint-")
        items.append(
            ComplaintSummary(
                complaint_id=complaint_id,
                workflow_id=execution.id,
                status=attributes.get(COMPLAINT_STATUS),
                department=attributes.get(DEPARTMENT),
                client_id=attributes.get(CLIENT_ID),
                sla_deadline=attributes.get(SLA_DEADLINE),
                sla_breached=attributes.get(SLA_BREACHED),
                escalation_level=attributes.get(ESCALATION_LEVEL),
                running=execution.status is WorkflowExecutionStatus.RUNNING,
                filed_at=execution.start_time,
                status_url=str(
                    request.app.url_path_for("get_complaint", complaint_id=complaint_id)
                ),
            )
        )
    return ComplaintPage(items=items, next_page_token=next_token)


add_action_routes(complaints, COMPLAINTS)
