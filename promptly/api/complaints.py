"""The complaint routes: file (idempotent by business id), the status, the list from
Temporal visibility, and one POST per update of the registry (services/case_kinds.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import AwareDatetime, BaseModel, Field

from promptly.api.auth import READ, Caller, require
from promptly.api.case_lists import (
    BusinessIdQuery,
    at_or_after,
    before,
    equals,
    list_summaries,
    where,
)
from promptly.api.case_updates import add_update_routes
from promptly.api.cases import StartRoute, add_case_routes
from promptly.domain.complaints.models import ComplaintStatus
from promptly.services.case_kinds import COMPLAINT as COMPLAINTS
from promptly.services.errors import CASE_RESPONSES
from promptly.workflows.appointment import CLIENT_ID
from promptly.workflows.complaint import (
    COMPLAINT_STATUS,
    DEPARTMENT,
    ESCALATION_LEVEL,
    SLA_BREACHED,
    SLA_DEADLINE,
)

# URL action → workflow update: the registry's (a new update is one line there).
COMPLAINT_ACTIONS = COMPLAINTS.updates


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


ComplaintCreated = add_case_routes(
    complaints,
    COMPLAINTS,
    StartRoute(
        "file_complaint_route",
        "File: starts the complaint's workflow under its business id (acknowledged at once)."
        "\n\nIdempotent like booking: same body 200, different body under the same id 409.",
        same="The same complaint existed already",
        different="The id is filed with different details",
    ),
    "Status, department, SLA deadline, escalation level and the timeline (read from "
    "PostgreSQL like `GET /appointments/{id}`).",
)


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
    page = await list_summaries(
        request,
        COMPLAINTS,
        query,
        page_size,
        page_token,
        started_as="filed_at",
        status=COMPLAINT_STATUS,
        department=DEPARTMENT,
        client_id=CLIENT_ID,
        sla_deadline=SLA_DEADLINE,
        sla_breached=SLA_BREACHED,
        escalation_level=ESCALATION_LEVEL,
    )
    return ComplaintPage(**page)


add_update_routes(complaints, COMPLAINTS)
