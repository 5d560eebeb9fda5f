"""The appointment routes: book (idempotent by business id), the status, the list from
Temporal visibility, and one POST per update (`APPOINTMENT_ACTIONS`)."""

from __future__ import annotations

from datetime import UTC, datetime
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
from promptly.domain.appointments.models import (
    AcknowledgeInput,
    AppointmentRequest,
    AppointmentStatus,
    AppointmentView,
    CancelInput,
    CheckInInput,
    CompleteInput,
    ConfirmInput,
    ExcuseNoShowInput,
    RecordCallOutcomeInput,
    ReportDelayInput,
    RescheduleInput,
    WaiveFeeInput,
    appointment_workflow_id,
)
from promptly.domain.appointments.rules import BookingRejected
from promptly.services.appointments import book
from promptly.services.errors import (
    AUTH_RESPONSES,
    CASE_RESPONSES,
    ErrorBody,
)
from promptly.workflows.appointment import (
    APPOINTMENT_START,
    APPOINTMENT_STATUS,
    CLIENT_ID,
    PROVIDER_ID,
    AppointmentWorkflow,
)

# URL action → workflow update. Adding an update to the API is one line here.
APPOINTMENT_ACTIONS: dict[str, Action] = {
    "confirm": Action(AppointmentWorkflow.confirm, ConfirmInput, "The client confirmed"),
    "acknowledge": Action(
        AppointmentWorkflow.acknowledge, AcknowledgeInput, "The provider acknowledged"
    ),
    "record_call_outcome": Action(
        AppointmentWorkflow.record_call_outcome,
        RecordCallOutcomeInput,
        "Outcome of the current follow-up call",
    ),
    "check_in": Action(AppointmentWorkflow.check_in, CheckInInput, "The client arrived"),
    "complete": Action(AppointmentWorkflow.complete, CompleteInput, "The visit is over"),
    "cancel": Action(
        AppointmentWorkflow.cancel,
        CancelInput,
        "Cancel (under 24h: late, counts as held; by the provider: free)",
    ),
    "reschedule": Action(
        AppointmentWorkflow.reschedule, RescheduleInput, "Move to a new time; timers follow"
    ),
    "report_delay": Action(
        AppointmentWorkflow.report_delay, ReportDelayInput, "The provider or the client runs late"
    ),
    "excuse_no_show": Action(
        AppointmentWorkflow.excuse_no_show, ExcuseNoShowInput, "The client's no-show excuse"
    ),
    "waive_fee": Action(AppointmentWorkflow.waive_fee, WaiveFeeInput, "Force majeure: no fee"),
}

APPOINTMENTS = CaseKindApi(
    noun="appointment",
    plural="appointments",
    id_field="appointment_id",
    run=AppointmentWorkflow.run,
    status_query=AppointmentWorkflow.status,
    workflow_id=appointment_workflow_id,
    request_model=AppointmentRequest,
    view_model=AppointmentView,
    actions=APPOINTMENT_ACTIONS,
)


class AppointmentCreated(BaseModel):
    appointment_id: str
    workflow_id: str
    status_url: str
    created: bool = Field(description="false: the same booking existed already")
    case: AppointmentView | None = Field(
        default=None, description="the existing case's status (when `created` is false)"
    )


class AppointmentSummary(BaseModel):
    appointment_id: str
    workflow_id: str
    status: str | None
    client_id: str | None
    provider_id: str | None
    start: datetime | None
    running: bool
    started_at: datetime | None
    status_url: str


class AppointmentPage(BaseModel):
    items: list[AppointmentSummary]
    next_page_token: str | None = Field(description="pass as page_token for the next page")


appointments = APIRouter(tags=["appointments"])


@appointments.post(
    "/appointments",
    status_code=201,
    response_model=AppointmentCreated,
    dependencies=[IDEMPOTENCY_KEY],
    responses={
        **AUTH_RESPONSES,
        200: {"model": AppointmentCreated, "description": "The same booking existed already"},
        409: {"model": ErrorBody, "description": "The id is booked with different details"},
    },
)
async def book_appointment(
    request: Request,
    response: Response,
    body: AppointmentRequest,
    caller: Annotated[Caller, require(BOOK)],
) -> AppointmentCreated:
    """Book: starts the appointment's workflow under its business id.

    Idempotent: the same body again answers 200 with the existing case, a different body
    under the same id 409. `start` must be in the future and timezone-aware.
    """
    client: Client = request.app.state.client
    started = await start_case(
        request,
        response,
        APPOINTMENTS,
        body,
        lambda: book(client, body, request.app.state.settings, datetime.now(UTC)),
        rejected=(BookingRejected,),
    )
    return AppointmentCreated(
        appointment_id=body.appointment_id,
        workflow_id=body.workflow_id,
        status_url=started.status_url,
        created=started.created,
        case=started.case,
    )


@appointments.get(
    "/appointments/{appointment_id}",
    response_model=AppointmentView,
    responses=CASE_RESPONSES,
    name="get_appointment",
)
async def get_appointment(
    request: Request,
    response: Response,
    appointment_id: Annotated[str, case_id_path(APPOINTMENTS)],
    caller: Annotated[Caller, require(READ)],
) -> AppointmentView:
    """Status, deadlines and the timeline: the workflow's `status` view, read from PostgreSQL
    (`X-Promptly-View-Source: record`, written at `X-Promptly-View-As-Of`) or, when the case
    has no stored view yet, from the workflow (`workflow`). Never older than the answer of an
    update that returned before the GET began."""
    view: AppointmentView = await read_case(request, response, APPOINTMENTS, appointment_id)
    return view


@appointments.get("/appointments", response_model=AppointmentPage, responses=CASE_RESPONSES)
async def list_appointments(
    request: Request,
    caller: Annotated[Caller, require(READ)],
    status: AppointmentStatus | None = None,
    provider_id: Annotated[BusinessIdQuery | None, Query()] = None,
    client_id: Annotated[BusinessIdQuery | None, Query()] = None,
    start_from: Annotated[
        AwareDatetime | None, Query(alias="from", description="visits starting at or after")
    ] = None,
    start_to: Annotated[
        AwareDatetime | None, Query(alias="to", description="visits starting before")
    ] = None,
    page_size: Annotated[int, Query(ge=1, le=100)] = 50,
    page_token: Annotated[str | None, Query(max_length=4096)] = None,
) -> AppointmentPage:
    """Appointments from Temporal visibility (search attributes), newest booking first."""
    query = where(
        "WorkflowType = 'AppointmentWorkflow'",
        "ExecutionStatus != 'ContinuedAsNew'",
        equals(APPOINTMENT_STATUS.name, status.value if status else None),
        equals(PROVIDER_ID.name, provider_id),
        equals(CLIENT_ID.name, client_id),
        at_or_after(APPOINTMENT_START.name, start_from),
        before(APPOINTMENT_START.name, start_to),
    )
    executions, next_token = await list_page(request, query, page_size, page_token)
    items = []
    for execution in executions:
        attributes = execution.typed_search_attributes
        appointment_id = execution.id.removeprefix("appointment-")
        items.append(
            AppointmentSummary(
                appointment_id=appointment_id,
                workflow_id=execution.id,
                status=attributes.get(APPOINTMENT_STATUS),
                client_id=attributes.get(CLIENT_ID),
                provider_id=attributes.get(PROVIDER_ID),
                start=attributes.get(APPOINTMENT_START),
                running=execution.status is WorkflowExecutionStatus.RUNNING,
                started_at=execution.start_time,
                status_url=str(
                    request.app.url_path_for("get_appointment", appointment_id=appointment_id)
                ),
            )
        )
    return AppointmentPage(items=items, next_page_token=next_token)


add_action_routes(appointments, APPOINTMENTS)
