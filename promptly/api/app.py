"""The HTTP API: back-office routes (API keys), staff tasks, client links, health.

It speaks only to Temporal (start, query, update, visibility) and PostgreSQL (staff tasks);
the workflows decide everything. `create_app(settings)` builds it; the Temporal client and
the connection pool are made in the lifespan and kept on `app.state` (tests and `make run`
pass their own). OpenAPI at `/docs` and `/openapi.json`.

A case kind (appointments, complaints) is a `CaseKindApi` with its action dict (URL action →
workflow update), plus its start, status and list routes; a new kind follows the same lines.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from psycopg_pool import AsyncConnectionPool
from pydantic import AwareDatetime, BaseModel, Field, StringConstraints
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client, WorkflowExecutionStatus

from promptly.api import calendar as api_calendar
from promptly.api import history as api_history
from promptly.api import inbound as api_inbound
from promptly.api import inquiries as api_inquiries
from promptly.api import links as api_links
from promptly.api import promises as api_promises
from promptly.api import tasks as api_tasks
from promptly.api import webhooks as api_webhooks
from promptly.api.auth import BOOK, READ, ApiKeys, Caller, require
from promptly.api.case_reads import read_case
from promptly.api.cases import (
    BUSINESS_ID_PATTERN,
    Action,
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
from promptly.api.codec import codec_router
from promptly.api.docs import add_docs_routes
from promptly.api.idempotency import IDEMPOTENCY_KEY, IdempotentPosts
from promptly.api.json_body import ApiJSONResponse
from promptly.api.security import RequestId, log_internal, request_id
from promptly.config import Settings
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
from promptly.services.appointments import book
from promptly.services.complaints import file_complaint
from promptly.services.errors import (
    AUTH_RESPONSES,
    CASE_RESPONSES,
    ErrorBody,
    ServiceError,
    invalid_input,
    validation_problems,
    with_json_hint,
)
from promptly.workflows.appointment import (
    APPOINTMENT_START,
    APPOINTMENT_STATUS,
    CLIENT_ID,
    PROVIDER_ID,
    AppointmentWorkflow,
)
from promptly.workflows.complaint import (
    COMPLAINT_STATUS,
    DEPARTMENT,
    ESCALATION_LEVEL,
    SLA_BREACHED,
    SLA_DEADLINE,
    ComplaintWorkflow,
)

log = logging.getLogger("promptly.api")

BusinessIdQuery = Annotated[str, StringConstraints(pattern=BUSINESS_ID_PATTERN)]

# --- appointments -------------------------------------------------------------------------------

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


# --- complaints --------------------------------------------------------------------------------

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


# --- health, errors, limits, the app --------------------------------------------------------


class Reachability(BaseModel):
    ok: bool
    detail: str


class Health(BaseModel):
    ok: bool
    temporal: Reachability
    postgres: Reachability


health = APIRouter(tags=["health"])


@health.get("/health", response_model=Health, responses={503: {"model": Health}})
async def get_health(request: Request, response: Response) -> Health:
    """Whether Temporal and PostgreSQL answer (no API key needed)."""
    client: Client = request.app.state.client
    pool: AsyncConnectionPool = request.app.state.pool
    try:
        await client.workflow_service.get_system_info(
            GetSystemInfoRequest(), timeout=timedelta(seconds=3)
        )
        temporal = Reachability(ok=True, detail="reachable")
    except Exception:
        log.warning("health: Temporal unreachable", exc_info=True)
        temporal = Reachability(ok=False, detail="unreachable")
    try:
        async with pool.connection(timeout=3) as conn:
            await conn.execute("SELECT 1")
        postgres = Reachability(ok=True, detail="reachable")
    except Exception:
        log.warning("health: PostgreSQL unreachable", exc_info=True)
        postgres = Reachability(ok=False, detail="unreachable")
    ok = temporal.ok and postgres.ok
    if not ok:
        response.status_code = 503
    return Health(ok=ok, temporal=temporal, postgres=postgres)


class BodyLimit:
    """Refuses request bodies over `limit` bytes with 413, declared or streamed."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._refuse(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = ErrorBody(reason=f"request body over {self.limit} bytes")
        await JSONResponse(body.model_dump(), status_code=413)(scope, receive, send)


def _error(status: int, body: ErrorBody, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def _install_error_handlers(app: FastAPI) -> None:
    def with_id(request: Request, body: ErrorBody) -> ErrorBody:
        return body.model_copy(update={"request_id": request_id(request)})

    async def api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ServiceError)
        if exc.internal is not None:
            log_internal(request, exc.reason, exc.internal)
        return _error(exc.status, with_id(request, exc.body()), exc.headers)

    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        problems = with_json_hint(
            validation_problems(exc.errors()), request.headers.get("content-type")
        )
        return _error(422, with_id(request, invalid_input(problems).body()))

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 400:  # FastAPI could not read the body (not UTF-8, not JSON)
            log_internal(request, "unreadable body", exc.detail)
            problem = invalid_input([("body", "unreadable: not UTF-8 JSON")])
            return _error(422, with_id(request, problem.body()))
        body = ErrorBody(reason=str(exc.detail))
        return _error(exc.status_code, with_id(request, body), exc.headers)

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error(
            "%s %s failed (request %s)",
            request.method,
            request.url.path,
            request_id(request),
            exc_info=exc,
        )
        body = ErrorBody(reason="internal error; it is logged under the request id")
        return _error(500, with_id(request, body))

    app.add_exception_handler(ServiceError, api_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)


def create_app(
    settings: Settings | None = None,
    *,
    client: Client | None = None,
    pool: AsyncConnectionPool | None = None,
    dev_tools: bool = False,
) -> FastAPI:
    """The API. Without `client`/`pool` the lifespan connects from the settings.

    `dev_tools` (the dev stack only) adds the `/dev/outbox` page."""
    settings = settings or Settings()
    settings.master_secret()  # MissingSecret: the API signs links and tokens, so none without

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            if client is None:
                from promptly.client import make_client

                app.state.client = await make_client(settings)
            else:
                app.state.client = client
            if pool is None:
                from promptly.client import open_pool

                app.state.pool = await stack.enter_async_context(open_pool(settings))
            else:
                app.state.pool = pool
            yield

    app = FastAPI(
        title="Promptly",
        version="1",
        summary="Appointments as durable Temporal workflows: book, steer, list and follow.",
        description="Back-office routes need an API key in the `X-API-Key` header (roles "
        "backoffice, staff, compliance, admin). Errors are JSON `{reason, errors}`; bad input "
        "is 422 naming each field. Every POST takes an `Idempotency-Key` header: a repeat "
        "with the same key changes nothing and returns the first answer. Client links "
        "(`/c/{token}`) are HTML pages for clients.",
        lifespan=lifespan,
        # operationId = the route's name: book_appointment, confirm_appointment, ...
        generate_unique_id_function=lambda route: route.name,
        default_response_class=ApiJSONResponse,  # times to the second (api_json.py)
        # Served by add_docs_routes from installed files, not FastAPI's CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.api_keys = ApiKeys(settings.api_keys)
    _install_error_handlers(app)
    app.include_router(appointments)
    app.include_router(complaints)
    app.include_router(api_inquiries.router)
    app.include_router(api_tasks.router)
    app.include_router(api_calendar.router)
    app.include_router(api_links.router)
    app.include_router(api_history.router)
    app.include_router(api_promises.router)
    app.include_router(health)
    app.include_router(api_webhooks.router)
    app.include_router(codec_router(settings))  # Temporal UI codec server (api_codec.py)
    # Added first, so it runs inside the body limit: oversized bodies are refused unread.
    app.add_middleware(IdempotentPosts)
    add_docs_routes(app, dev_tools=dev_tools)  # /, /docs, /redoc offline (api_docs.py)
    app.state.inbound_limiter = api_inbound.SenderLimiter(settings.inbound_per_minute)
    app.include_router(api_inbound.router)  # client replies and SMS receipts
    app.add_middleware(BodyLimit, limit=settings.api_max_body_bytes)
    app.add_middleware(RequestId)  # outermost: even a 413 carries an id
    return app
