"""`GET /tasks` and `POST /tasks/{id}/complete`: the staff task inbox (staff_tasks.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import AfterValidator, AwareDatetime, BaseModel, Field

from promptly.api.auth import TASKS, Caller, require
from promptly.api.case_updates import BusinessIdQuery
from promptly.api.idempotency import IDEMPOTENCY_KEY, update_id_for
from promptly.api.keyset import (
    KEYSET_PAGING,
    Key,
    KeysetPaging,
    NextPageToken,
    bound_to,
    keyset_page,
)
from promptly.api.row_ids import RowIdPath
from promptly.domain.appointments.models import AppointmentView
from promptly.domain.complaints.models import ComplaintView
from promptly.domain.surveys.models import SurveyView
from promptly.domain.tasks import TaskKind
from promptly.domain.text_patterns import STAFF_ROLE
from promptly.services.errors import (
    ACTION_RESPONSES,
    AUTH_RESPONSES,
    ErrorBody,
    ServiceError,
    invalid_input,
)
from promptly.services.staff_tasks import TaskCompletion, complete_task
from promptly.services.task_list import StaffTask, case_filter, find_tasks, load_task

router = APIRouter(tags=["tasks"])


class TaskList(BaseModel):
    items: list[StaffTask]
    next_page_token: NextPageToken = None


class TaskCompleted(BaseModel):
    task: StaffTask
    case: AppointmentView | SurveyView | ComplaintView | None = Field(
        description="the case after the update it drove: an appointment's, or a survey's or "
        "complaint's answered on the phone (score, satisfied)"
    )


@router.get("/tasks", response_model=TaskList, responses=AUTH_RESPONSES)
async def list_tasks(
    request: Request,
    caller: Annotated[Caller, require(TASKS)],
    assignee: Annotated[
        str | None, Query(pattern=STAFF_ROLE.regex, description="e.g. front_desk, provider")
    ] = None,
    kind: TaskKind | None = None,
    status: Literal["open", "done", "all"] = "open",
    case_id: Annotated[
        str | None,
        Query(description="a case's workflow id, e.g. appointment-A-1001"),
        AfterValidator(lambda value: value if value is None else case_filter(value)),
    ] = None,
    provider_id: Annotated[
        BusinessIdQuery | None,
        Query(
            description="a provider's id, e.g. P-3: the tasks that provider decides (a no-show "
            "excuse's provider_decision), not every provider's"
        ),
    ] = None,
    visit_before: Annotated[
        AwareDatetime | None,
        Query(
            description="only appointments' tasks whose visit starts before then (ISO 8601 "
            "with an offset), e.g. the visits of today"
        ),
    ] = None,
    paging: KeysetPaging = KEYSET_PAGING,
    offset: Annotated[
        int,
        Query(
            ge=0,
            le=1_000_000,
            deprecated=True,
            description="rows to skip, without page_token: tasks opened or closed meanwhile "
            "shift such pages; walk next_page_token instead",
        ),
    ] = 0,
) -> TaskList:
    """Staff tasks from PostgreSQL, soonest due first, then by id (default: the open ones), a
    call to a client due by the deadline of the promise it keeps; an appointment's task with
    its visit's start (`visit_start`). A page at a time (`page_size`, then `page_token` from
    `next_page_token`)."""
    if offset and paging.token:
        raise invalid_input([("offset", "not with page_token: the token says where to go on")])

    async def fetch(after: Key | None, count: int) -> list[StaffTask]:
        return await find_tasks(
            request.app.state.pool,
            assignee=assignee,
            kind=kind,
            status=status,
            case_id=case_id,
            provider_id=provider_id,
            limit=count,
            offset=offset,
            after=after,
            visit_before=visit_before,
        )

    items, next_token = await keyset_page(
        request,
        bound_to("tasks", assignee, kind, status, case_id, provider_id, visit_before),
        paging,
        (datetime.fromisoformat, int),
        fetch,
        lambda task: (task.due_at, task.id),
    )
    return TaskList(items=items, next_page_token=next_token)


@router.get(
    "/tasks/{task_id}",
    response_model=StaffTask,
    responses={**AUTH_RESPONSES, 404: {"model": ErrorBody, "description": "No such task"}},
)
async def show_task(
    request: Request,
    task_id: RowIdPath,
    caller: Annotated[Caller, require(TASKS)],
) -> StaffTask:
    """One task with its details and data: what to do, and what completing it did."""
    task = await load_task(request.app.state.pool, task_id)
    if task is None:
        raise ServiceError(404, f"no task {task_id}")
    return task


@router.post(
    "/tasks/{task_id}/complete",
    name="complete_task",  # the operationId back offices generate clients from
    response_model=TaskCompleted,
    dependencies=[IDEMPOTENCY_KEY],
    responses={
        **ACTION_RESPONSES,
        409: {"model": ErrorBody, "description": "Task already done, superseded, or refused"},
    },
)
async def complete_task_route(
    request: Request,
    task_id: RowIdPath,
    body: TaskCompletion,
    caller: Annotated[Caller, require(TASKS)],
) -> TaskCompleted:
    """Complete a task with its outcome; the outcome drives the case.

    `call_client`, a follow-up call attempt: outcome of `record_call_outcome`
    (reached_confirmed, reached_cancelled, reached_rescheduled, no_answer, wrong_number); the
    workflow closes the task. `call_client`, a message for a phone client (its `data` has a
    `message_id`): reached (read out), reached_confirmed (runs `confirm`), no_answer,
    wrong_number, recorded as the message's receipt (a client not reached gets it by email,
    a wrong number is the desk's to put right: docs/sms.md). What the client answered on the
    call goes with `reached`: `score` (0–10) for a survey or a complaint's follow-up (runs
    `answer` / `feedback`), `satisfied` for a complaint's resolution proposal (runs
    `customer_verdict` as the customer's verdict); the note is their comment, the key's actor
    the one who took it. 422 on the field when the message did not ask it, the outcome is not
    `reached`, or both are given; 409 when the case no longer asks it (the task stays open).
    `send_confirmation_manually`: `sent`, or `confirmed` (runs `confirm`).
    `provider_decision`: `waive_fee` (runs `waive_fee`, the note is the reason) or
    `fee_stands`.
    """
    task, case = await complete_task(
        request.app.state.client,
        request.app.state.pool,
        request.app.state.settings,
        task_id,
        body,
        caller.actor_for(body.actor),
        update_id=update_id_for(request),
    )
    return TaskCompleted(task=task, case=case)
